"""The alert's buttons. "Call back": one tap by an allowed user places one call (the claim is atomic in
storage, so a second press by anyone places nothing). "Done": closes the alert by hand. A press counts only
on the alert's own message: not forced onto another message, nor on a stale copy of the alert."""

from __future__ import annotations

import logging
import sqlite3
import time

from telegram import CallbackQuery, Update
from telegram.error import TelegramError

from bot import callback_data as cd
from bot.access.checks import Caller, requires
from bot.calls import calling
from bot.context import Context
from bot.texts import Html, Texts
from storage import Alert

log = logging.getLogger(__name__)


def _name(caller: Caller) -> str:
    user = caller.user
    return user.member_name or user.display_name or str(user.telegram_id)


@requires("manager")
async def call_back(update: Update, context: Context, caller: Caller) -> None:
    if (found := cd.pressed(update, cd.CallBack)) is None:
        return
    press, payload = found
    svc, texts, now = caller.services, caller.texts, int(time.time())
    alerts = svc.storage.alerts
    alert = alerts.get(payload.alert_id)
    if alert is None:
        await press.answer(texts.plain("alert_gone"), show_alert=True)
        return
    if not await _on_the_alert(press, alert, context, caller):
        return
    plan = await calling.prepare(svc, caller.user, alert.clid, dialled=alert.dnid)
    if isinstance(plan, calling.CannotCall):
        # In the group's popup, the phone is to be set in the private chat.
        why = texts("callback_no_phone") if plan.key == "no_own_phone" else calling.why_not(plan, texts)
        await press.answer(Texts.strip(why), show_alert=True)
        return
    claimed = alerts.claim_callback(alert.id, caller.user.telegram_id, _name(caller), now)
    if claimed is None:
        await press.answer(Texts.strip(_why_not(alerts.get(alert.id), texts)), show_alert=True)
        return
    try:
        # Answered before anything rings: a press queued while the bot was down has expired by now, and
        # Telegram refuses its answer; nobody is waiting for that call any more. When in doubt, no call.
        await press.answer(texts.plain("callback_started"))
    except TelegramError as error:
        log.info("Call back press on alert %s not confirmed to its presser (%s): no call placed", alert.id, error)
        alerts.callback_failed(alert.id, now, claim=claimed)
        return
    delivery = context.delivery
    await delivery.deliver(context.bot, alert.id)  # "Ivan is calling back…" before the phone even rings
    outcome = await calling.place(svc, caller.user, plan, origin=f"alert:{alert.id}")
    if isinstance(outcome, calling.Started):
        alerts.set_callback_call(alert.id, outcome.call_id, claim=claimed)
    elif isinstance(outcome, calling.MayHaveStarted):
        # It may ring anyway: the poll looks for the call and reopens the alert if it never shows up.
        log.warning("Callback for alert %s unconfirmed", alert.id)
        await _tell(context, alert, texts("callback_uncertain"))
    else:
        await _tell(context, alert, calling.why_not(outcome, texts))
        try:
            alerts.callback_failed(alert.id, int(time.time()), claim=claimed)
        except sqlite3.Error as error:  # e.g. the database that refused the audit: the poll reopens it later
            log.warning("Alert %s stays claimed until the poll gives up on it: %s", alert.id, error)
            return
        await delivery.deliver(context.bot, alert.id)


async def _on_the_alert(press: CallbackQuery, alert: Alert, context: Context, caller: Caller) -> bool:
    """Whether the press came from the message that shows ``alert``; otherwise it is answered here."""
    texts = caller.texts
    message = press.message
    chat_id, message_id = (message.chat.id, message.message_id) if message is not None else (None, None)
    if chat_id == alert.chat_id and message_id == context.delivery.message_id(alert):
        return True
    if chat_id != alert.chat_id or message_id is None or caller.services.storage.alerts.by_message(chat_id, message_id):
        # Another chat's alert, or this alert's payload on another alert's message: forged.
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


def _why_not(current: Alert | None, texts: Texts) -> Html:
    if current is not None and current.state == "calling":
        return texts("callback_taken", name=current.callback_name or "—")
    if current is not None and current.state == "open":
        return texts("callback_busy")  # the customer is being called back from another chat's alert
    return texts("callback_closed")


async def _tell(context: Context, alert: Alert, text: str) -> None:
    """A callback's trouble, said in the alert's chat (the button's popup has been answered already)."""
    try:
        await context.bot.send_message(alert.chat_id, text, reply_to_message_id=alert.message_id)
    except TelegramError as error:
        log.warning("Could not report a callback problem in chat %s: %s", alert.chat_id, error)


@requires("manager")
async def done(update: Update, context: Context, caller: Caller) -> None:
    if (found := cd.pressed(update, cd.Done)) is None:
        return
    press, payload = found
    svc, texts = caller.services, caller.texts
    alert = svc.storage.alerts.get(payload.alert_id)
    if alert is None:
        await press.answer(texts.plain("alert_gone"), show_alert=True)
        return
    if not await _on_the_alert(press, alert, context, caller):
        return
    if not svc.storage.alerts.close(alert.id, "done", caller.user.telegram_id, _name(caller), int(time.time())):
        await press.answer(texts.plain("callback_closed"))
        return
    await context.delivery.deliver(context.bot, payload.alert_id)
    await press.answer(texts.plain("done_ok"))
