"""The alert's buttons: Call back, Done, "I'll take it", Release and "Remind me", each the desk's action
(``bot.alerts.desk``: its rules, the one call at most, the questions asked first) for the presser, answered in its
popup. A press counts only on the alert's own message: not forced onto another message, nor on a stale copy of the
alert. Call back's popup is answered before anything rings: a press queued while the bot was down has expired by
then, Telegram refuses its answer, and no call is placed. The private reminder's Call back and Done
(``bot.alerts.reminders``) go through ``place_callback`` and ``close_by_hand`` here."""

from __future__ import annotations

import logging

from telegram import CallbackQuery, Update
from telegram.error import TelegramError

from bot import callback_data as cd
from bot.access.checks import Caller, requires
from bot.alerts import desk
from bot.context import Context
from bot.texts import Texts
from storage import Alert

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
    """A press of Call back, on the alert or on its reminder (the caller checked it came from that message).
    ``told_in``: the chat (and the message to reply to) where what became of the call is said once the popup is
    answered."""
    texts, answered = caller.texts, False

    async def go_ahead() -> bool:
        nonlocal answered
        try:
            # Answered before anything rings: a press queued while the bot was down has expired by now, and
            # Telegram refuses its answer; nobody is waiting for that call any more. When in doubt, no call.
            await press.answer(Texts.strip(desk.CALLING.said(texts)))
        except TelegramError as error:
            log.info("Call back press on alert %s not confirmed to its presser (%s): no call placed", alert.id, error)
            return False
        answered = True
        return True

    outcome = await desk.call_back(caller.services, caller.user, alert, shows(context), go_ahead=go_ahead)
    if not answered:
        await _answer(press, outcome, texts)
    elif not isinstance(outcome, desk.Ask | desk.Withdrawn) and outcome != desk.CALLING:
        await _tell(context, told_in, outcome.said(texts))  # uncertain, or New-Tel refused it


def shows(context: Context) -> desk.Show:
    return desk.shown_by(context.delivery, context.bot)


async def _answer(press: CallbackQuery, outcome: desk.Outcome, texts: Texts, *, refusal_alert: bool = True) -> None:
    """The press's popup: what was done in a short note; a question or a refusal in a window to be read."""
    if isinstance(outcome, desk.Withdrawn):
        return
    text = outcome.said(texts, popup=True) if isinstance(outcome, desk.Ask) else outcome.said(texts)
    loud = isinstance(outcome, desk.Ask) or (isinstance(outcome, desk.Refused) and refusal_alert)
    try:
        await press.answer(Texts.strip(text), show_alert=loud)
    except TelegramError as error:  # what changed is stored: the alert shows it either way
        log.info("A press was not answered: %s", error)


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


async def _tell(context: Context, told_in: tuple[int, int | None], text: str) -> None:
    """What went wrong with a call back, said in the alert's chat or the reminder's (the popup has been answered)."""
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
    """A press of Done, on the alert or on its reminder (the caller checked it came from that message). A second
    press (a double tap) hears "already closed" in a short note."""
    outcome = desk.done(caller.services, caller.user, alert, shows(context))
    await _answer(press, outcome, caller.texts, refusal_alert=False)


@requires("manager")
async def take(update: Update, context: Context, caller: Caller) -> None:
    """I'll take it: the presser owns the alert, unless someone pressed first."""
    if (found := await _pressed_on_alert(update, context, caller, cd.Take)) is None:
        return
    press, alert = found
    await _answer(press, desk.take(caller.services, caller.user, alert, shows(context)), caller.texts)


@requires("manager")
async def release(update: Update, context: Context, caller: Caller) -> None:
    """Release: only the owner's press lets the alert go; anyone else hears whose it is."""
    if (found := await _pressed_on_alert(update, context, caller, cd.Release)) is None:
        return
    press, alert = found
    await _answer(press, desk.release(caller.services, caller.user, alert, shows(context)), caller.texts)


@requires("manager")
async def remind_me(update: Update, context: Context, caller: Caller) -> None:
    """Remind me: the alert comes to the presser privately ALERT_REMIND_MINUTES from now, unless it closes first."""
    if (found := await _pressed_on_alert(update, context, caller, cd.RemindMe)) is None:
        return
    press, alert = found
    await _answer(press, desk.remind(caller.services, caller.user, alert), caller.texts)


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
