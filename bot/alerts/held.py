"""The morning summary: misses outside a chat's business hours are held (not posted one by one at night) and, when
the hours begin, told in one message listing each customer once (how many times and when they called, who they are)
with each one's buttons under the list, by number. That message is then the held alerts' own: a press on it is
checked against it, and "calling back…", the owner and "done" are edited into its lines.

Past SUMMARY_CUSTOMERS customers the summary comes in several messages, each a summary of its own (Telegram takes 100
buttons and 4096 characters).

Telegram has no idempotency key, so a kill or a lost answer may leave a message the bot never learns the id of. A
summary is therefore written down in the ledger before it is sent, and sent as its title alone: no customer, no button.
Only once its message is recorded are its alerts released into it, and delivery writes their lines and buttons in (and
edits it from then on). So what a crash leaves behind is at most that title; its alerts, still held, are told in the
next summary. Nobody is shown twice, and no button is left on a message the bot does not know. The holds are in the
alerts table, so a restart loses none.

Telegram slow to answer (PTB raises TimedOut, yet the message lands) would leave a title a round. So the ledger counts
the titles each alert went out in unseen: after the second the chat waits longer for each (1 min, then 2), and after
MAX_TITLES its alerts go one per message, as alerts that were never held: a few titles at most, and nobody lost."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from telegram import Bot

from bot import jobs
from bot.alerts.delivery import Delivery
from bot.alerts.hours import Hours
from bot.alerts.once import Unsent, send_once
from bot.services import Services
from storage import Alert
from storage.ledger import Unseen

if TYPE_CHECKING:
    from bot.context import App, Context

log = logging.getLogger(__name__)

JOB_NAME = "business-hours"
INTERVAL = 30.0  # seconds: the summary comes at most this long after the hours begin
FIRST_CHECK = 3.0
SUMMARY_CUSTOMERS = 8  # per message: two rows of buttons each, and their lines, stay well inside Telegram's limits
MAX_TITLES = 3  # summaries an alert may go out in unseen before it goes on its own


class HeldAlerts:
    def __init__(self, svc: Services, delivery: Delivery) -> None:
        self._svc = svc
        self._delivery = delivery
        # Summaries Telegram took that storage could not record yet: chat id -> (ledger entry, message id).
        self._unrecorded: dict[int, tuple[int, int]] = {}

    async def job(self, context: Context) -> None:
        """The JobQueue callback; a failure is logged and the next run tries again (the holds stay stored)."""
        await jobs.logged("Releasing held alerts", self.release_due(context.bot, int(time.time())))

    async def release_due(self, bot: Bot, now: int) -> int:
        """In each chat whose hours have begun (or that has none any more): its held alerts told in summaries, every
        chat at once, so one that Telegram holds back (a 429 waited out, up to a request's budget) delays no other's.
        Returns how many alerts were released (into a summary or, failing that, one by one)."""
        chats = sorted({*self._svc.storage.alerts.held_chats(), *self._unrecorded})
        outcomes = await asyncio.gather(
            *(self._release(bot, chat_id, now) for chat_id in chats), return_exceptions=True
        )
        released = 0
        for chat_id, outcome in zip(chats, outcomes, strict=True):
            if isinstance(outcome, Exception):
                jobs.failed(f"Releasing the held alerts of chat {chat_id}", outcome)
            elif isinstance(outcome, BaseException):
                if (task := asyncio.current_task()) is not None and task.cancelling():
                    raise outcome  # the job itself is stopping
                log.warning("Releasing the held alerts of chat %s was cancelled; the next round tries again", chat_id)
            else:
                released += outcome
        if released:
            self._delivery.kick(bot)  # those that go one by one: right away, not at the next poll
        return released

    async def _release(self, bot: Bot, chat_id: int, now: int) -> int:
        """The chat's held alerts told in summaries, when its hours have begun; how many were released."""
        storage = self._svc.storage
        if not self._record(bot, chat_id):
            return 0  # a summary Telegram has and storage does not know: never sent twice
        chat = storage.chats.get(chat_id)
        if chat is None or not chat.subscribed:
            return 0  # kept until the chat subscribes again
        hours = Hours.of(chat)
        if hours is not None and not hours.is_open(now, self._svc.settings.zone):
            return 0
        unseen = storage.ledger.unseen_summaries(chat_id)
        if _waits(unseen, now):
            return 0
        released = 0
        alone = {alert_id for alert_id, told in unseen.items() if told.titles >= MAX_TITLES}
        if alone:
            log.warning("%d alert(s) of chat %s go one by one: their summary was never seen", len(alone), chat_id)
            released += storage.alerts.unhold(alone)
        held = storage.alerts.held_for(chat_id)
        for first in range(0, len(held), SUMMARY_CUSTOMERS):
            summarized = await self._summarize(bot, chat_id, held[first : first + SUMMARY_CUSTOMERS], now)
            if summarized is None:
                break  # not taken, or not recorded yet: the rest stays held, the next run goes on
            released += summarized
        return released

    async def _summarize(self, bot: Bot, chat_id: int, part: Sequence[Alert], now: int) -> int | None:
        """One summary of ``part``; how many alerts it released, None when Telegram surely did not take it, may have
        taken it unseen, or storage could not record it yet (no next part goes out before it is)."""
        ledger, ids = self._svc.storage.ledger, [alert.id for alert in part]
        entry = ledger.intend(chat_id, "summary", now, ids)  # written down before it is sent
        title = self._svc.chat_texts(chat_id)("held_summary_title", count=len(part))
        sent = await send_once(self._svc, bot, chat_id, title, "Summary of held alerts")
        if sent is Unsent.AGAIN:
            ledger.forget(entry)
            return None
        if sent is Unsent.MAYBE:  # at most its title is in the chat: the alerts, still held, go in the next summary
            return None
        if isinstance(sent, Unsent):  # refused, or the bot may not write there: each alert on its own
            ledger.forget(entry)
            return self._svc.storage.alerts.unhold(ids)  # (delivery handles a chat that is gone)
        self._unrecorded[chat_id] = (entry, sent.message_id)
        return len(part) if self._record(bot, chat_id) else None

    def _record(self, bot: Bot, chat_id: int) -> bool:
        """Record the chat's summary Telegram took, if storage does not know it yet, and write its alerts in; False
        while storage cannot."""
        if chat_id not in self._unrecorded:
            return True
        entry, message_id = self._unrecorded[chat_id]
        try:
            self._svc.storage.ledger.landed(entry, message_id, int(time.time()))
        except sqlite3.OperationalError as error:
            log.warning(
                "The database cannot record the summary in %s (%s); sending it nothing until it can", chat_id, error
            )
            return False
        del self._unrecorded[chat_id]
        # Its lines and buttons, right away in the chat's lane (failing, they stay pending for a later kick).
        self._delivery.kick(bot, chat_id)
        return True


def _waits(unseen: Mapping[int, Unseen], now: int) -> bool:
    """Whether the chat's next summary waits: one after a title that may have landed unseen goes at the next round (a
    kill leaves one such), from the second on after twice as long each time; MAX_TITLES bounds it."""
    if not unseen:
        return False
    titles, last_at = max(told.titles for told in unseen.values()), max(told.last_at for told in unseen.values())
    return titles > 1 and now < last_at + INTERVAL * 2 ** (titles - 1)


def start(application: App) -> HeldAlerts:
    """Schedule the release beside the poll (whose delivery it uses); one run at a time."""
    svc = application.bot_data.need_services()
    held = HeldAlerts(svc, application.bot_data.need_poller().delivery)
    jobs.every(application, held.job, INTERVAL, first=FIRST_CHECK, name=JOB_NAME)
    return held
