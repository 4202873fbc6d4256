"""Deadlines: a new alert is due to be called back within its chat's SLA (``/sla``, else ALERT_SLA_MINUTES), counted
in the chat's business hours (``/hours``). Past the deadline the group is reminded once, in a reply to the alert (its
owner by name, else the chat); past twice the deadline each admin, privately, once.

The steps are stored (``storage.reminders``: one row per alert, step and person), so a restart loses none that is due,
and each is marked sent before it goes out (``bot.alerts.once``), so none is ever sent twice: a crash between the mark
and the send, or a send Telegram may have taken unseen, costs that one reminder instead. Reminders due in one chat (or
for one admin) at once go out as one message."""

from __future__ import annotations

import html
import logging
import math
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from telegram import Bot, ReplyParameters

from bot import jobs
from bot.alerts.hours import Hours
from bot.alerts.once import Unsent, send_once
from bot.config import Settings
from bot.formatting import format_for_people, moment
from bot.services import Services
from bot.texts import Html, Texts
from storage import Alert, Chat, MissedCall
from storage.reminders import CHAT, Reminder

if TYPE_CHECKING:
    from bot.context import App, Context

log = logging.getLogger(__name__)

JOB_NAME = "deadlines"
INTERVAL = 15.0  # seconds between looks: a reminder comes at most this late
FIRST_CHECK = 5.0  # seconds after the start: what fell due while the bot was down comes soon
BATCH = 100  # alerts armed and reminders sent per look at most; the rest on the next


def sla_seconds(chat: Chat, settings: Settings) -> float | None:
    """The chat's deadline in seconds of business time; None when it has none (``/sla off``)."""
    minutes = settings.alert_sla_minutes if chat.sla_minutes is None else chat.sla_minutes
    return minutes * 60 if minutes > 0 else None


def stamp(chat: Chat, settings: Settings, now: int) -> Callable[[MissedCall], tuple[int | None, bool]]:
    """What a new alert of ``chat`` is stamped with when recorded at ``now``: (its deadline, whether it is held).
    Held: the miss ended outside the hours, or it is outside them now (caught up at night): it waits for the
    morning summary. The deadline is the miss's end plus the SLA in business time."""
    sla, hours, zone = sla_seconds(chat, settings), Hours.of(chat), settings.zone

    def schedule(call: MissedCall) -> tuple[int | None, bool]:
        held = hours is not None and not (hours.is_open(call.ended_at, zone) and hours.is_open(now, zone))
        if sla is None:
            return None, held
        due = hours.add(call.ended_at, sla, zone) if hours is not None else call.ended_at + sla
        return math.ceil(due), held

    return schedule


def escalation_due(alert: Alert, chat: Chat, settings: Settings) -> int | None:
    """Twice the deadline: one more SLA of business time after it (the chat's SLA as it is now)."""
    sla = sla_seconds(chat, settings)
    if sla is None or alert.deadline_at is None:
        return None
    hours = Hours.of(chat)
    due = hours.add(alert.deadline_at, sla, settings.zone) if hours is not None else alert.deadline_at + sla
    return math.ceil(due)


class DeadlineWatch:
    def __init__(self, svc: Services) -> None:
        self._svc = svc

    async def job(self, context: Context) -> None:
        """The JobQueue callback; a failure is logged and the next look tries again (what is due stays due)."""
        await jobs.logged("Checking deadlines", self.check(context.bot, int(time.time())))

    async def check(self, bot: Bot, now: int) -> int:
        """Store the steps of the alerts that passed their deadline, then send what is due; returns how many
        reminders went out."""
        self.arm(now)
        return await self.send_due(bot, now)

    def arm(self, now: int) -> int:
        """Each alert newly past its deadline: its reminder in the group, due now, and each admin's, due at twice
        the deadline. The escalations first: the deadline's row is what says the alert was armed."""
        storage = self._svc.storage
        admins = [user.telegram_id for user in storage.users.list(active_only=True) if user.is_admin]
        chats: dict[int, Chat | None] = {}
        armed = 0
        for alert in storage.alerts.past_deadline(now, BATCH):
            assert alert.deadline_at is not None
            if alert.chat_id not in chats:
                chats[alert.chat_id] = storage.chats.get(alert.chat_id)
            chat = chats[alert.chat_id]
            second = escalation_due(alert, chat, self._svc.settings) if chat is not None else None
            if second is not None:
                for admin in admins:
                    storage.reminders.arm(alert.id, "escalation", admin, second, now)
            armed += storage.reminders.arm(alert.id, "deadline", CHAT, alert.deadline_at, now)
        return armed

    async def send_due(self, bot: Bot, now: int) -> int:
        """Send what is due, one message per chat and per admin; returns how many reminders went out. Each message is
        marked, sent and recorded on its own: one that fails costs only its own reminders."""
        storage = self._svc.storage
        reminders = storage.reminders
        admins = {user.telegram_id: user for user in storage.users.list(active_only=True) if user.is_admin}
        to_chats: defaultdict[int, list[tuple[Reminder, Alert]]] = defaultdict(list)
        to_admins: defaultdict[int, list[tuple[Reminder, Alert]]] = defaultdict(list)
        subscribed: dict[int, bool] = {}
        for reminder in reminders.due(now, BATCH, kinds=("deadline", "escalation")):
            alert = storage.alerts.get(reminder.alert_id)
            if alert is None or alert.state == "closed":
                reminders.cancel_for_alert(reminder.alert_id, now)
                continue
            if alert.state == "calling":
                continue  # someone is calling the customer right now: the outcome decides
            if alert.chat_id not in subscribed:
                chat = storage.chats.get(alert.chat_id)
                subscribed[alert.chat_id] = chat is not None and chat.subscribed
            stale = alert.deadline_at is None or (reminder.kind == "escalation" and reminder.user_id not in admins)
            if stale or not subscribed[alert.chat_id]:  # /sla off since, the admin is one no more, or the chat left
                reminders.cancel(reminder.alert_id, reminder.kind, reminder.user_id, now)
                continue
            (to_chats[alert.chat_id] if reminder.kind == "deadline" else to_admins[reminder.user_id]).append(
                (reminder, alert)
            )
        sent = 0
        for chat_id, items in to_chats.items():
            texts = self._svc.chat_texts(chat_id)
            text = deadline_text([alert for _, alert in items], texts, self._svc.settings, now)
            reply_to = items[0][1].message_id if len(items) == 1 else None
            sent += await self._send(bot, chat_id, text, items, now, reply_to)
        for admin_id, items in to_admins.items():
            texts = Texts(admins[admin_id].language or self._svc.settings.bot_language)
            titles = {alert.chat_id: self._chat_title(alert.chat_id) for _, alert in items}
            text = escalation_text([alert for _, alert in items], titles, texts, self._svc.settings, now)
            sent += await self._send(bot, admin_id, text, items, now)
        return sent

    def _chat_title(self, chat_id: int) -> str:
        chat = self._svc.storage.chats.get(chat_id)
        return (chat.title if chat is not None else None) or str(chat_id)

    async def _send(
        self,
        bot: Bot,
        chat_id: int,
        text: str,
        items: Sequence[tuple[Reminder, Alert]],
        now: int,
        reply_to: int | None = None,
    ) -> int:
        """One message for ``items``: those this look marks sent go out (``once``: due again only when Telegram
        surely did not take it). Returns how many went out."""
        reminders = self._svc.storage.reminders
        keys = [reminder.key for reminder, _ in items]
        try:
            taken = reminders.mark_sent_many(keys, now)  # all of them or, the database failing, none
        except sqlite3.Error as error:
            log.warning("Deadline reminders for %s wait for the database (%s)", chat_id, error)
            return 0
        if len(taken) < len(keys):  # another look took some (one look runs at a time: never, in practice)
            reminders.retry_many(taken, now)
            return 0
        reply = None if reply_to is None else ReplyParameters(reply_to, allow_sending_without_reply=True)
        message = await send_once(self._svc, bot, chat_id, text, "Deadline reminders", reply_parameters=reply)
        if message is Unsent.AGAIN:
            try:
                reminders.retry_many(taken, now)
            except sqlite3.Error as error:  # they stay sent: lost, never doubled
                log.warning("Deadline reminders for %s could not be put back for the next look (%s)", chat_id, error)
            return 0
        if isinstance(message, Unsent):
            return 0
        try:
            reminders.set_message_many(taken, message.message_id, now)
        except sqlite3.Error as error:  # they went out, and stay sent
            log.warning("Deadline reminders for %s went out unrecorded (%s)", chat_id, error)
        return len(taken)


def _owner(alert: Alert) -> Html | None:
    """The owner as a mention (Telegram notifies them), or None when nobody took the alert."""
    if alert.owner_name is None:
        return None
    if alert.owner_id is None:
        return Html(html.escape(alert.owner_name))
    return Html(f'<a href="tg://user?id={alert.owner_id}">{html.escape(alert.owner_name)}</a>')


def _when(alert: Alert, texts: Texts, settings: Settings, now: int) -> str:
    return moment(
        datetime.fromtimestamp(alert.first_at, UTC), settings.zone, texts.lang, datetime.fromtimestamp(now, UTC)
    )


def deadline_text(alerts: Sequence[Alert], texts: Texts, settings: Settings, now: int) -> Html:
    """The group's reminder: about one alert (a reply to it), or a list when several fell due at once."""
    if len(alerts) == 1:
        (alert,) = alerts
        owner = _owner(alert)
        values = {"customer": format_for_people(alert.clid), "when": _when(alert, texts, settings, now)}
        if owner is None:
            return texts("deadline_reminder", **values)
        return texts("deadline_reminder_owner", owner=owner, **values)
    lines = [texts("deadline_reminder_many", count=len(alerts))]
    for alert in alerts:
        owner = _owner(alert)
        values = {"customer": format_for_people(alert.clid), "when": _when(alert, texts, settings, now)}
        lines.append(
            texts("deadline_line", **values) if owner is None else texts("deadline_line_owner", owner=owner, **values)
        )
    return Html("\n".join(lines))


def escalation_text(
    alerts: Sequence[Alert], titles: dict[int, str], texts: Texts, settings: Settings, now: int
) -> Html:
    """An admin's private message: the alerts still not called back at twice their deadline."""

    def values(alert: Alert) -> dict[str, object]:
        found: dict[str, object] = {
            "customer": format_for_people(alert.clid),
            "when": _when(alert, texts, settings, now),
            "chat": titles.get(alert.chat_id, str(alert.chat_id)),
        }
        if alert.owner_name is not None:
            found["owner"] = alert.owner_name
        return found

    if len(alerts) == 1:
        found = values(alerts[0])
        return texts("escalation_owner" if "owner" in found else "escalation", **found)
    lines = [texts("escalation_many", count=len(alerts))]
    for alert in alerts:
        found = values(alert)
        lines.append(texts("escalation_line_owner" if "owner" in found else "escalation_line", **found))
    return Html("\n".join(lines))


def start(application: App) -> DeadlineWatch:
    """Schedule the look; one at a time, and looks missed while one ran slow are not run back to back."""
    svc = application.bot_data.need_services()
    watch = DeadlineWatch(svc)
    jobs.every(application, watch.job, INTERVAL, first=FIRST_CHECK, name=JOB_NAME)
    return watch
