"""The morning summary: misses outside a chat's business hours are held (not posted one by one at night) and, when
the hours begin, told in one message listing each customer once (how many times and when they called, who they are)
with each one's buttons under the list, by number. That message is then the held alerts' own: a press on it is
checked against it, and "calling back…", the owner and "done" are edited into its lines.

Past SUMMARY_CUSTOMERS customers the summary comes in several messages, each a summary of its own (Telegram takes 100
buttons and 4096 characters). Each is marked told in storage before it is sent and its alerts are recorded as shown in
it right after Telegram's answer, so a restart never repeats one: a summary whose message is unknown after a crash, or
that Telegram refused, gives way to each of its alerts in a message of its own. The holds are in the alerts table, so
a restart loses none."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from telegram import Bot

from bot import jobs
from bot.alerts.delivery import Delivery, stories
from bot.alerts.hours import Hours
from bot.alerts.once import Unsent, send_once
from bot.alerts.render import render_summary
from bot.services import Services
from storage import Alert

if TYPE_CHECKING:
    from bot.context import App, Context

log = logging.getLogger(__name__)

JOB_NAME = "business-hours"
INTERVAL = 30.0  # seconds: the summary comes at most this long after the hours begin
FIRST_CHECK = 3.0
SUMMARY_CUSTOMERS = 8  # per message: two rows of buttons each, and their lines, stay well inside Telegram's limits
_TOLD = "alerts.held_summary."  # + chat id: the held alerts of the summary being sent (marked before it is sent)


class HeldAlerts:
    def __init__(self, svc: Services, delivery: Delivery) -> None:
        self._svc = svc
        self._delivery = delivery
        # Summaries Telegram took that storage could not record yet: chat id -> (message id, alert id -> version).
        self._unrecorded: dict[int, tuple[int, dict[int, int]]] = {}

    async def job(self, context: Context) -> None:
        """The JobQueue callback; a failure is logged and the next run tries again (the holds stay stored)."""
        await jobs.logged("Releasing held alerts", self.release_due(context.bot, int(time.time())))

    async def release_due(self, bot: Bot, now: int) -> int:
        """In each chat whose hours have begun (or that has none any more): its held alerts told in summaries.
        Returns how many alerts were released (into a summary or, failing that, one by one)."""
        storage = self._svc.storage
        released = 0
        for chat_id in sorted({*storage.alerts.held_chats(), *self._unrecorded}):
            if not self._record(chat_id):
                continue  # a summary Telegram has and storage does not know: never sent twice
            chat = storage.chats.get(chat_id)
            if chat is None or not chat.subscribed:
                continue  # kept until the chat subscribes again
            hours = Hours.of(chat)
            if hours is not None and not hours.is_open(now, self._svc.settings.zone):
                continue
            held = storage.alerts.held_for(chat_id)
            marked = storage.kv.get(_TOLD + str(chat_id))
            if isinstance(marked, list):  # a summary sent before a crash, its message unknown: its alerts go one by one
                storage.kv.delete(_TOLD + str(chat_id))
                released += storage.alerts.unhold(marked)
                held = [alert for alert in held if alert.id not in marked]
            for first in range(0, len(held), SUMMARY_CUSTOMERS):
                summarized = await self._summarize(bot, chat_id, held[first : first + SUMMARY_CUSTOMERS], now)
                if summarized is None:
                    break  # not taken, or not recorded yet: the rest stays held, the next run goes on
                released += summarized
        if released:
            await self._delivery.deliver_pending(bot)  # those that go one by one: right away, not at the next poll
        return released

    async def _summarize(self, bot: Bot, chat_id: int, part: Sequence[Alert], now: int) -> int | None:
        """One summary of ``part``; how many alerts it released, None when Telegram surely did not take it or
        storage could not record it yet (no next part goes out before it is)."""
        alerts, kv, key = self._svc.storage.alerts, self._svc.storage.kv, _TOLD + str(chat_id)
        ids = [alert.id for alert in part]
        kv.set(key, ids, now=now)  # told before it is sent: never twice
        texts = self._svc.chat_texts(chat_id)
        at = datetime.fromtimestamp(now, UTC)
        text, keyboard = render_summary(part, texts, self._svc.settings.zone, at, stories(self._svc, part, texts))
        sent = await send_once(self._svc, bot, chat_id, text, "Summary of held alerts", reply_markup=keyboard)
        if sent is Unsent.AGAIN:
            kv.delete(key)
            return None
        if isinstance(sent, Unsent):  # it may have landed with buttons the bot cannot tie to it, or never will
            kv.delete(key)
            return alerts.unhold(ids)  # each alert goes on its own (delivery handles a chat that is gone)
        self._unrecorded[chat_id] = (sent.message_id, {alert.id: alert.version for alert in part})
        return len(part) if self._record(chat_id) else None

    def _record(self, chat_id: int) -> bool:
        """Record the chat's summary Telegram took, if storage does not know it yet; False while storage cannot."""
        if chat_id not in self._unrecorded:
            return True
        message_id, versions = self._unrecorded[chat_id]
        try:
            self._svc.storage.alerts.summarized(message_id, versions)
            self._svc.storage.kv.delete(_TOLD + str(chat_id))
        except sqlite3.OperationalError as error:
            log.warning(
                "The database cannot record the summary in %s (%s); sending it nothing until it can", chat_id, error
            )
            return False
        del self._unrecorded[chat_id]
        return True


def start(application: App) -> HeldAlerts:
    """Schedule the release beside the poll (whose delivery it uses); one run at a time."""
    svc = application.bot_data.need_services()
    held = HeldAlerts(svc, application.bot_data.need_poller().delivery)
    jobs.every(application, held.job, INTERVAL, first=FIRST_CHECK, name=JOB_NAME)
    return held
