"""The alert's buttons. "Call back": one tap by an allowed user places one call (the claim is atomic in
storage, so a second press by anyone places nothing); on an alert someone else took, it asks first, and a second tap
calls (``calling.confirmed``: within CONFIRM_WITHIN seconds, and not a double tap; the claim itself is refused if
someone took the alert while the press was on its way); a customer abroad is asked about the same way. "Done": closes
the alert by hand. "I'll take it" makes the presser its owner (atomic too: two presses, one owner) and the owner's
Release lets it go. "Remind me" stores a private reminder (``bot.alerts.reminders`` sends it and handles its buttons
through ``place_callback`` and ``close_by_hand``). A press counts only on the alert's own message: not forced onto
another message, nor on a stale copy of the alert."""

from __future__ import annotations

import logging
import sqlite3
import time
from datetime import datetime

from telegram import CallbackQuery, Update
from telegram.error import TelegramError

from bot import callback_data as cd
from bot.access.checks import Caller, requires
from bot.calls import calling
from bot.context import Context
from bot.texts import Html, Texts
from storage import Alert
from storage.kv import KV

log = logging.getLogger(__name__)


@requires("manager")
async def call_back(update: Update, context: Context, caller: Caller) -> None:
    if (found := await _pressed_on_alert(update, context, caller, cd.CallBack)) is None:
        return
    press, alert = found
    await place_callback(press, alert, context, caller, told_in=(alert.chat_id, alert.message_id))


async def place_callback(
    press: CallbackQuery, alert: Alert, context: Context, caller: Caller, *, told_in: tuple[int, int | None]
) -> None:
    """A press of Call back, on the alert or on its reminder (the caller checked it came from that message): asks
    first when someone else took the alert, else claims it and places one call. ``told_in``: the chat (and the
    message to reply to) where a problem is said once the popup is answered."""
    svc, texts, now = caller.services, caller.texts, int(time.time())
    alerts = svc.storage.alerts
    if not _may_call(svc.storage.kv, alert, caller.user.telegram_id):
        asked = texts("owner_call_anyway", name=alert.owner_name or "—", seconds=calling.CONFIRM_WITHIN)
        await press.answer(Texts.strip(asked), show_alert=True)
        return
    plan = await calling.prepare(svc, caller.user, alert.clid, dialled=alert.dnid)
    if isinstance(plan, calling.Confirm):
        await press.answer(Texts.strip(calling.question(plan, texts, popup=True)), show_alert=True)
        return
    if isinstance(plan, calling.CannotCall):
        # In the group's popup, the phone is to be set in the private chat.
        why = texts("callback_no_phone") if plan.key == "no_own_phone" else calling.why_not(plan, texts)
        await press.answer(Texts.strip(why), show_alert=True)
        return
    claimed = alerts.claim_callback(alert.id, caller.user.telegram_id, caller.user.name, now, owner_seen=alert.owner_id)
    if claimed is None:
        await press.answer(Texts.strip(_why_not(alerts.get(alert.id), alert, texts)), show_alert=True)
        return
    try:
        # Answered before anything rings: a press queued while the bot was down has expired by now, and
        # Telegram refuses its answer; nobody is waiting for that call any more. When in doubt, no call.
        await press.answer(texts.plain("callback_started"))
    except TelegramError as error:
        log.info("Call back press on alert %s not confirmed to its presser (%s): no call placed", alert.id, error)
        alerts.callback_failed(alert.id, now, claim=claimed)
        return
    outcome = await calling.place(svc, caller.user, plan, origin=f"alert:{alert.id}")
    try:
        if isinstance(outcome, calling.Started):
            alerts.set_callback_call(alert.id, outcome.call_id, claim=claimed)
        elif isinstance(outcome, calling.MayHaveStarted):
            # It may ring anyway: the poll looks for the call and reopens the alert if it never shows up.
            log.warning("Callback for alert %s unconfirmed", alert.id)
            await _tell(context, told_in, texts("callback_uncertain"))
        else:
            await _tell(context, told_in, calling.why_not(outcome, texts))
            try:
                alerts.callback_failed(alert.id, int(time.time()), claim=claimed)
            except sqlite3.Error as error:  # e.g. the database that refused the audit: the poll reopens it later
                log.warning("Alert %s stays claimed until the poll gives up on it: %s", alert.id, error)
    finally:
        # Only once the phone rings, the alert shows it ("Ivan is calling back…", or its button back): that edit goes
        # at the group's Telegram pace, which must not hold up the call. The claim already keeps anyone from a second.
        context.delivery.kick(context.bot, alert.chat_id)


def _may_call(kv: KV, alert: Alert, user_id: int) -> bool:
    """Whether this press of Call back may call: nobody else took the alert, or the presser was asked about the same
    owner a moment ago (``calling.confirmed``)."""
    if alert.owner_id is None or alert.owner_id == user_id:
        return True
    # Kept for its window: for a customer abroad, the press that answers it is asked that question next.
    return calling.confirmed(kv, f"call-anyway:{alert.id}:{user_id}", about=alert.owner_id, once=False)


async def _on_the_alert(press: CallbackQuery, alert: Alert, context: Context, caller: Caller) -> bool:
    """Whether the press came from the message that shows ``alert``; otherwise it is answered here."""
    texts = caller.texts
    message = press.message
    chat_id, message_id = (message.chat.id, message.message_id) if message is not None else (None, None)
    if chat_id == alert.chat_id and message_id == context.delivery.message_id(alert):
        return True
    if alert.held:  # on its summary, which went out a moment ago and is being recorded: nothing to retire
        await press.answer(texts.plain("alert_summary_pending"), show_alert=True)
        return False
    known = message_id is not None and caller.services.storage.alerts.by_message(chat_id or 0, message_id) is not None
    if chat_id != alert.chat_id or message_id is None or known or not cd.offered_by_its_message(press):
        # Another chat's alert, this alert's payload on another alert's message, or on a message that never showed
        # it (the board, a reply): forged, and nothing is edited.
        log.warning("Refused a press by %s on alert %s from another message", caller.user.telegram_id, alert.id)
        await press.answer(texts.plain("button_foreign"), show_alert=True)
        return False
    # A copy of the alert the bot does not know: posted again after a crash between Telegram's answer and the
    # database's commit. Its buttons go, so it says where the alert is instead of acting on it.
    await press.answer(texts.plain("alert_outdated"), show_alert=True)
    in_chat = caller.services.chat_texts(chat_id)
    try:
        await context.bot.edit_message_text(in_chat("alert_outdated"), chat_id=chat_id, message_id=message_id)
    except TelegramError as error:
        log.info("Could not retire an outdated copy of alert %s: %s", alert.id, error)
    return False


def _why_not(current: Alert | None, seen: Alert, texts: Texts) -> Html:
    """Why the claim of ``seen`` (the alert as the press found it) failed, as it stands now."""
    if current is not None and current.state == "calling":
        return texts("callback_taken", name=current.callback_name or "—")
    if current is not None and current.state == "open" and current.owner_id not in (None, seen.owner_id):
        # Taken by someone else while this press was on its way: asked first, as on any alert someone took.
        return texts("owner_call_anyway", name=current.owner_name or "—", seconds=calling.CONFIRM_WITHIN)
    if current is not None and current.state == "open":
        return texts("callback_busy")  # the customer is being called back from another chat's alert
    return texts("callback_closed")


async def _tell(context: Context, told_in: tuple[int, int | None], text: str) -> None:
    """A callback's trouble, said in the alert's chat or the reminder's (the button's popup has been answered)."""
    chat_id, reply_to = told_in
    try:
        await context.bot.send_message(chat_id, text, reply_to_message_id=reply_to)
    except TelegramError as error:
        log.warning("Could not report a callback problem in chat %s: %s", chat_id, error)


@requires("manager")
async def done(update: Update, context: Context, caller: Caller) -> None:
    if (found := await _pressed_on_alert(update, context, caller, cd.Done)) is None:
        return
    press, alert = found
    await close_by_hand(press, alert, context, caller)


async def close_by_hand(press: CallbackQuery, alert: Alert, context: Context, caller: Caller) -> None:
    """A press of Done, on the alert or on its reminder (the caller checked it came from that message)."""
    svc, texts = caller.services, caller.texts
    if not svc.storage.alerts.close(alert.id, "done", caller.user.telegram_id, caller.user.name, int(time.time())):
        await press.answer(texts.plain("callback_closed"))
        return
    context.delivery.kick(context.bot, alert.chat_id)
    await press.answer(texts.plain("done_ok"))


# --- the owner ----------------------------------------------------------------------------------------------


@requires("manager")
async def take(update: Update, context: Context, caller: Caller) -> None:
    """I'll take it: the presser owns the alert, unless someone pressed first."""
    if (found := await _pressed_on_alert(update, context, caller, cd.Take)) is None:
        return
    press, alert = found
    svc, texts, me = caller.services, caller.texts, caller.user.telegram_id
    taken = svc.storage.alerts.take(alert.id, me, caller.user.name, int(time.time()))
    if taken is None:
        current = svc.storage.alerts.get(alert.id)
        if current is None or current.state == "closed":
            why = texts("callback_closed")
        elif current.owner_id == me:
            why = texts("owner_already_yours")
        else:
            why = texts("owner_taken_by", name=current.owner_name or "—")
        await press.answer(Texts.strip(why), show_alert=True)
        return
    await _answer_then_show(press, texts.plain("owner_taken"), context, alert)


@requires("manager")
async def release(update: Update, context: Context, caller: Caller) -> None:
    """Release: only the owner's press lets the alert go; anyone else hears whose it is."""
    if (found := await _pressed_on_alert(update, context, caller, cd.Release)) is None:
        return
    press, alert = found
    svc, texts = caller.services, caller.texts
    released = svc.storage.alerts.release_owner(alert.id, caller.user.telegram_id, int(time.time()))
    if released is None:
        current = svc.storage.alerts.get(alert.id)
        if current is None or current.state == "closed":
            why = texts("callback_closed")
        elif current.owner_id is None:
            why = texts("owner_nobody")
        else:
            why = texts("owner_not_yours", name=current.owner_name or "—")
        await press.answer(Texts.strip(why), show_alert=True)
        return
    await _answer_then_show(press, texts.plain("owner_released"), context, alert)


@requires("manager")
async def remind_me(update: Update, context: Context, caller: Caller) -> None:
    """Remind me: the alert comes to the presser privately ALERT_REMIND_MINUTES from now, unless it closes first."""
    if (found := await _pressed_on_alert(update, context, caller, cd.RemindMe)) is None:
        return
    press, alert = found
    svc, texts, now = caller.services, caller.texts, int(time.time())
    if alert.state == "closed":
        await press.answer(texts.plain("callback_closed"), show_alert=True)
        return
    minutes = svc.settings.alert_remind_minutes
    due = svc.storage.reminders.rearm(alert.id, "callback", caller.user.telegram_id, int(now + minutes * 60), now)
    at = datetime.fromtimestamp(due.due_at, svc.settings.zone).strftime("%H:%M")
    await press.answer(Texts.strip(texts("remind_set", minutes=f"{minutes:g}", time=at)))


async def _pressed_on_alert(
    update: Update,
    context: Context,
    caller: Caller,
    kind: type[cd.CallBack | cd.Done | cd.Take | cd.Release | cd.RemindMe],
) -> tuple[CallbackQuery, Alert] | None:
    """The press of ``kind`` and its alert, when it came from the alert's own message; otherwise answered here."""
    if (found := cd.pressed(update, kind)) is None:
        return None
    press, payload = found
    alert = caller.services.storage.alerts.get(payload.alert_id)
    if alert is None:
        await press.answer(caller.texts.plain("alert_gone"), show_alert=True)
        return None
    if not await _on_the_alert(press, alert, context, caller):
        return None
    return press, alert


async def _answer_then_show(press: CallbackQuery, text: str, context: Context, alert: Alert) -> None:
    """The popup first (Telegram waits for it), then the alert in its chat's lane (the group's edit may queue behind
    its limit)."""
    try:
        await press.answer(text)
    except TelegramError as error:  # the change is stored: the alert shows it either way
        log.info("Press on alert %s not confirmed to its presser: %s", alert.id, error)
    context.delivery.kick(context.bot, alert.chat_id)
