"""The callback reminder: "Remind me", pressed after a call back nobody answered, brings the alert to its presser
privately ALERT_REMIND_MINUTES later, with Call back and Done (the alert's own flow: ``buttons.place_callback``,
``buttons.close_by_hand``).

Stored (``storage.reminders``, kind 'callback', one per alert and presser) and marked sent before it goes out, so a
restart neither loses one that is due nor sends one twice; a crash between the mark and the send costs that one
reminder, never a second copy. An alert closed meanwhile, or a presser removed since, is never reminded of."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from telegram import Bot, CallbackQuery, ReplyParameters, Update
from telegram.error import Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut

from bot import callback_data as cd
from bot import jobs, keyboards
from bot.access.checks import Caller, allowed, requires
from bot.alerts import buttons
from bot.alerts.render import attempt_line, owner_line
from bot.calllog.story import story
from bot.formatting import format_for_people
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
        if not reminders.mark_sent(reminder.alert_id, reminder.kind, reminder.user_id, now):
            continue  # another look took it
        sent += await _send(svc, bot, reminder, alert, user, now)
    return sent


async def _send(svc: Services, bot: Bot, reminder: Reminder, alert: Alert, user: User, now: int) -> int:
    """One reminder, marked sent already. When Telegram surely did not take it, it is due again for the next look;
    when it may have (a timeout) or never will, it stays sent: never twice."""
    reminders, zone = svc.storage.reminders, svc.settings.zone
    texts = Texts(user.language or svc.settings.bot_language)
    told = story(svc.storage, alert.clid, before=alert.first_at).line(texts, zone)
    text = reminder_text(alert, texts, zone, datetime.now(UTC), told)
    try:
        message = await bot.send_message(user.telegram_id, text, reply_markup=keyboards.reminder(alert.id, texts))
    except RetryAfter as error:
        log.warning("Reminder of alert %s for %s waits for the next look (%s)", alert.id, user.telegram_id, error)
        reminders.retry(reminder.alert_id, reminder.kind, reminder.user_id, now)
        return 0
    except NetworkError as error:
        if isinstance(error, TimedOut):  # it may have landed: not sent again
            log.warning("Reminder of alert %s for %s may not have arrived (%s)", alert.id, user.telegram_id, error)
            return 0
        log.warning("Reminder of alert %s for %s waits for the next look (%s)", alert.id, user.telegram_id, error)
        reminders.retry(reminder.alert_id, reminder.kind, reminder.user_id, now)
        return 0
    except Forbidden as error:  # never started the bot in private, or blocked it: said in the alert's chat
        log.info("Reminder of alert %s cannot reach %s: %s", alert.id, user.telegram_id, error)
        await _unreachable(svc, bot, alert, user)
        return 0
    except TelegramError as error:  # refused: never repeated
        log.warning("Telegram refused the reminder of alert %s for %s: %s", alert.id, user.telegram_id, error)
        return 0
    reminders.set_message(reminder.alert_id, reminder.kind, reminder.user_id, message.message_id, now)
    return 1


async def _unreachable(svc: Services, bot: Bot, alert: Alert, user: User) -> None:
    name = user.member_name or user.display_name or str(user.telegram_id)
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
