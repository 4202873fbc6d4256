"""The callback reminder: "Remind me", pressed after a call back nobody answered, brings the alert to its presser
privately ALERT_REMIND_MINUTES later, with Call back and Done (the alert's own flow: ``buttons.place_callback``,
``buttons.close_by_hand``).

Stored (``storage.reminders``, kind 'callback', one per alert and presser), so a restart loses none that is due, and
marked sent before it goes out (``bot.alerts.once``), so none is sent twice: a crash between the mark and the send, or
a send Telegram may have taken unseen, costs that one reminder instead. An alert closed meanwhile, or a presser
removed since, is never reminded of."""

from __future__ import annotations

import logging
import sqlite3
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from telegram import Bot, CallbackQuery, InlineKeyboardMarkup, ReplyParameters, Update
from telegram.error import TelegramError

from bot import callback_data as cd
from bot import jobs, keyboards
from bot.access.checks import Caller, allowed, requires
from bot.alerts import buttons
from bot.alerts.once import Unsent, send_once
from bot.alerts.render import attempt_line, owner_line, status_line
from bot.calllog.story import story
from bot.formatting import format_for_people
from bot.ratelimit import not_taken
from bot.services import Services
from bot.texts import Html, Texts
from storage import Alert, User
from storage.reminders import Reminder, ReminderKind

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from bot.context import App, Context

log = logging.getLogger(__name__)

JOB_NAME = "reminders"
INTERVAL = 15.0  # seconds between looks: a reminder comes at most this late
FIRST_CHECK = 5.0  # seconds after the start: what fell due while the bot was down comes soon
BATCH = 50  # reminders sent per look at most; the rest on the next
KIND: ReminderKind = "callback"


def reminder_text(alert: Alert, texts: Texts, zone: ZoneInfo, now: datetime, told: Html | None = None) -> Html:
    """The private reminder: the customer, their story (``told``), the attempt that reached nobody, the owner."""
    lines: list[str] = [
        texts("remind_title"),
        texts("alert_from", customer=format_for_people(alert.clid)),
        texts("alert_dialled", number=format_for_people(alert.dnid)),
    ]
    lines += [
        line for line in (told, attempt_line(alert, texts, zone, now), owner_line(alert, texts, zone, now)) if line
    ]
    return Html("\n".join(lines))


async def job(context: Context) -> None:
    """The JobQueue callback; a failure is logged and the next look tries again (what is due stays due)."""
    await jobs.logged("Sending callback reminders", send_due(context.services, context.bot, int(time.time())))
    await jobs.logged("Retiring callback reminders", retire_closed(context.services, context.bot, int(time.time())))


async def send_due(svc: Services, bot: Bot, now: int) -> int:
    """Send the callback reminders due by ``now``; returns how many went out."""
    storage = svc.storage
    reminders = storage.reminders
    sent = 0
    for reminder in reminders.due(now, BATCH, kinds=(KIND,)):
        alert = storage.alerts.get(reminder.alert_id)
        user = storage.users.get(reminder.user_id)
        if alert is None or alert.state == "closed" or user is None or not allowed(user, "manager"):
            reminders.cancel(reminder.alert_id, reminder.kind, reminder.user_id, now)
            continue
        if alert.state == "calling":
            continue  # someone is calling the customer right now: answered closes it, else the reminder comes after
        texts = Texts(user.language or svc.settings.bot_language)
        told = story(svc, alert.clid, before=alert.first_at).line(texts, svc.settings.zone)
        text = reminder_text(alert, texts, svc.settings.zone, datetime.now(UTC), told)  # all of it before the mark
        if not reminders.mark_sent(reminder.alert_id, reminder.kind, reminder.user_id, now):
            continue  # another look took it
        sent += await _send(svc, bot, reminder, alert, user, text, keyboards.reminder(alert.id, texts), now)
    return sent


async def _send(
    svc: Services,
    bot: Bot,
    reminder: Reminder,
    alert: Alert,
    user: User,
    text: str,
    keyboard: InlineKeyboardMarkup,
    now: int,
) -> int:
    """One reminder, marked sent already (``once``: due again only when Telegram surely did not take it)."""
    reminders = svc.storage.reminders
    what = f"Reminder of alert {alert.id}"
    message = await send_once(svc, bot, user.telegram_id, text, what, reply_markup=keyboard)
    if message is Unsent.AGAIN:
        reminders.retry(reminder.alert_id, reminder.kind, reminder.user_id, now)
    elif message is Unsent.FORBIDDEN:  # never started the bot in private, or blocked it: said in the alert's chat
        await _unreachable(svc, bot, alert, user)
    if isinstance(message, Unsent):
        return 0
    try:
        reminders.set_message(reminder.alert_id, reminder.kind, reminder.user_id, message.message_id, now)
    except sqlite3.Error as error:  # it went out: its buttons answer "not your reminder" until the next one
        log.warning("The reminder of alert %s went out unrecorded: %s", alert.id, error)
    return 1


async def retire_closed(svc: Services, bot: Bot, now: int) -> int:
    """The reminders on screen whose alert has closed since: how it closed is written in and their buttons go (a
    press would only hear "closed"). Returns how many were retired."""
    reminders, zone = svc.storage.reminders, svc.settings.zone
    retired = 0
    for reminder in reminders.shown_of_closed(KIND, BATCH):
        alert, user = svc.storage.alerts.get(reminder.alert_id), svc.storage.users.get(reminder.user_id)
        assert reminder.message_id is not None
        if alert is not None and user is not None:
            texts = Texts(user.language or svc.settings.bot_language)
            at = datetime.now(UTC)
            told = story(svc, alert.clid, before=alert.first_at).line(texts, zone)
            lines = [reminder_text(alert, texts, zone, at, told), "", status_line(alert, texts, zone, at) or ""]
            try:
                await bot.edit_message_text(
                    "\n".join(lines).rstrip(), chat_id=user.telegram_id, message_id=reminder.message_id
                )
            except TelegramError as error:
                if not_taken(error):
                    log.info("Reminder of alert %s not retired yet (%s)", alert.id, error)
                    continue
                log.info("Reminder of alert %s could not be retired (%s)", alert.id, error)  # deleted, too old
        reminders.forget_message(reminder.alert_id, reminder.kind, reminder.user_id, now)
        retired += 1
    return retired


async def _unreachable(svc: Services, bot: Bot, alert: Alert, user: User) -> None:
    name = user.name
    reply = None if alert.message_id is None else ReplyParameters(alert.message_id, allow_sending_without_reply=True)
    try:
        await bot.send_message(
            alert.chat_id, svc.chat_texts(alert.chat_id)("remind_unreachable", name=name), reply_parameters=reply
        )
    except TelegramError as error:
        log.warning("Could not say in chat %s that a reminder did not reach %s: %s", alert.chat_id, name, error)


# --- the reminder's buttons ------------------------------------------------------------------------------------


@requires("manager")
async def remind_call(update: Update, context: Context, caller: Caller) -> None:
    """Call back from the reminder: the alert's own flow (asks first if someone else took it, one call)."""
    if (found := cd.pressed(update, cd.RemindCall)) is None:
        return
    press, payload = found
    alert = await _reminded(press, payload.alert_id, caller)
    if alert is not None and press.message is not None:
        await buttons.place_callback(
            press, alert, context, caller, told_in=(caller.user.telegram_id, press.message.message_id)
        )


@requires("manager")
async def remind_done(update: Update, context: Context, caller: Caller) -> None:
    """Done from the reminder: closes the alert, as its own Done does."""
    if (found := cd.pressed(update, cd.RemindDone)) is None:
        return
    press, payload = found
    alert = await _reminded(press, payload.alert_id, caller)
    if alert is not None:
        await buttons.close_by_hand(press, alert, context, caller)


async def _reminded(press: CallbackQuery, alert_id: int, caller: Caller) -> Alert | None:
    """The alert of the presser's own reminder, when the press came from that reminder's message (in their private
    chat); otherwise the press is answered here."""
    storage, texts, me = caller.services.storage, caller.texts, caller.user.telegram_id
    reminder = storage.reminders.get(alert_id, KIND, me)
    message = press.message
    if reminder is None or message is None or message.chat.id != me or reminder.message_id != message.message_id:
        log.warning("Refused a reminder press by %s on alert %s: not their reminder's message", me, alert_id)
        await press.answer(texts.plain("button_foreign"), show_alert=True)
        return None
    alert = storage.alerts.get(alert_id)
    if alert is None:
        await press.answer(texts.plain("alert_gone"), show_alert=True)
    return alert


def start(application: App) -> None:
    """Schedule the look; one at a time, and looks missed while one ran slow are not run back to back."""
    jobs.every(application, job, INTERVAL, first=FIRST_CHECK, name=JOB_NAME)
