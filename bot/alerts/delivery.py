"""Sending and editing alert messages. An alert stays pending until Telegram has the version that is
current, so a failure of Telegram loses nothing and a burst of changes becomes one edit. What Telegram
took but the database could not record is kept in memory and never sent again, so a database that cannot
be written (locked, disk full) delays alerts but never repeats one. Each chat's alerts go out in its own lane
(``bot.alerts.lanes``), oldest first, at that chat's Telegram pace: whoever changes an alert kicks the lane and
waits for no group."""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

from telegram import Bot, InlineKeyboardMarkup
from telegram.error import BadRequest, ChatMigrated, Forbidden, TelegramError

from bot import keyboards
from bot.alerts.lanes import Lanes, Urgency
from bot.alerts.render import render_alert, render_summary
from bot.calllog.story import story
from bot.services import Services
from bot.texts import Html, Texts
from storage import Alert

log = logging.getLogger(__name__)

_Shows = int | tuple[int, int]  # what a message shows: an alert (its id), or a summary (chat id, message id)

PER_LOOK = 20  # a chat's pending alerts read at a time


class Delivery:
    def __init__(self, svc: Services, lanes: Lanes) -> None:
        self._svc = svc
        self._lanes = lanes
        # One send/edit per message at a time: an alert's id, or a summary's (chat id, message id).
        self._locks: defaultdict[_Shows, asyncio.Lock] = defaultdict(asyncio.Lock)
        # The one cache of what Telegram shows of each live alert or summary (storage decides what to deliver): an
        # edit that would change nothing visible (say, the callback's call id) is skipped.
        self._shown: dict[_Shows, tuple[str, str | None]] = {}
        # Sent or edited in Telegram, not yet recorded in storage: alert id -> (message id, version).
        self.unrecorded: dict[int, tuple[int, int]] = {}

    def message_id(self, alert: Alert) -> int | None:
        """The message that shows ``alert``: the recorded one, or one Telegram took that is not recorded yet."""
        unrecorded = self.unrecorded.get(alert.id)
        return unrecorded[0] if unrecorded else alert.message_id

    def record_unrecorded(self) -> bool:
        """Record what Telegram has and storage does not; False while storage cannot (nothing is sent then)."""
        if not self.unrecorded:
            return True
        recorded = list(self.unrecorded.items())
        try:
            self._svc.storage.alerts.mark_delivered_many((alert_id, *shown) for alert_id, shown in recorded)
        except sqlite3.OperationalError as error:
            log.warning(
                "The database cannot record %d alert(s) Telegram has (%s); sending nothing until it can",
                len(self.unrecorded),
                error,
            )
            return False
        for alert_id, shown in recorded:
            if self.unrecorded.get(alert_id) == shown:
                del self.unrecorded[alert_id]
        return True

    def kick(self, bot: Bot, chat_id: int | None = None) -> None:
        """Deliver what the chat (None: every chat) has pending, in its lane; returns at once."""
        if chat_id is not None:
            chats = [chat_id]
        elif self.record_unrecorded():  # else no lane could send anything: said once, here
            chats = self._svc.storage.alerts.pending_chats()
        else:
            return
        for chat in chats:
            self._lanes.kick(chat, Urgency.ALERTS, functools.partial(self._deliver_chat, bot, chat))

    async def _deliver_chat(self, bot: Bot, chat_id: int) -> bool:
        """The chat's pending alerts, oldest first, until none is left; False when Telegram or the database failed
        (the rest waits for the next kick, in order)."""
        last: list[tuple[int, int]] = []
        while pending := self._svc.storage.alerts.pending_delivery(PER_LOOK, chat_id=chat_id):
            versions = [(alert.id, alert.version) for alert in pending]
            if versions == last:
                return False  # delivered, yet pending as they were: not spun on (the next kick looks again)
            last = versions
            for alert in pending:
                if self._lanes.stopping or not await self.deliver(bot, alert.id):
                    return False
        return True

    async def deliver(self, bot: Bot, alert_id: int) -> bool:
        """Bring the alert's message (its own, or the summary that shows it) up to date; False when Telegram failed
        and it stays pending."""
        for _ in range(3):
            shows = self._shows(alert_id)
            async with self._locks[shows]:
                if self._shows(alert_id) != shows:
                    continue  # its summary was posted anew while this waited: follow it there
                if isinstance(shows, tuple):
                    delivered, closed = await self._deliver_summary(bot, *shows)
                else:
                    delivered, closed = await self._deliver(bot, alert_id)
            if closed:  # a closed alert (every alert of a summary) never changes again: forget it
                self._locks.pop(shows, None)
                self._shown.pop(shows, None)
            return delivered
        return False  # moving faster than it can be followed: the next round delivers it

    def _shows(self, alert_id: int) -> _Shows:
        """What shows the alert: its own message (keyed by its id), or the summary (chat id, message id)."""
        alert = self._svc.storage.alerts.get(alert_id)
        message_id = None if alert is None or not alert.summary else self.message_id(alert)
        return alert_id if alert is None or message_id is None else (alert.chat_id, message_id)

    async def _deliver_summary(self, bot: Bot, chat_id: int, message_id: int) -> tuple[bool, bool]:
        """Edit a business-hours summary (``bot.alerts.held``) to show its alerts as they are now; re-posted if
        someone deleted it. Returns (delivered, every alert of it closed)."""
        if not self.record_unrecorded():
            return False, False
        shown = self._svc.storage.alerts.in_summary(chat_id, message_id)
        closed = all(alert.state == "closed" for alert in shown)
        if not any(alert.dirty for alert in shown):
            return True, closed
        texts, zone = self._svc.chat_texts(chat_id), self._svc.settings.zone
        text, keyboard = render_summary(shown, texts, zone, datetime.now(UTC), stories(self._svc, shown, texts))
        seen = (text, keyboard.to_json() if keyboard else None)
        if self._shown.get((chat_id, message_id)) != seen:
            landed = await self._put(bot, chat_id, message_id, text, keyboard, f"Summary {message_id}")
            if landed is None:
                return False, False
            if landed != message_id:  # posted anew: its alerts move to it below
                self._shown.pop((chat_id, message_id), None)
                message_id = landed
            self._shown[(chat_id, message_id)] = seen
        for alert in shown:
            self.unrecorded[alert.id] = (message_id, alert.version)
        return self.record_unrecorded(), closed

    async def _deliver(self, bot: Bot, alert_id: int) -> tuple[bool, bool]:
        if not self.record_unrecorded():
            return False, False  # a message Telegram has and storage does not know: never sent twice
        alert = self._svc.storage.alerts.get(alert_id)  # re-read under the lock: the latest version
        if alert is None or not alert.dirty:
            return True, alert is None or alert.state == "closed"
        texts = self._svc.chat_texts(alert.chat_id)
        zone = self._svc.settings.zone
        told = stories(self._svc, [alert], texts)[alert.id]
        short_name = self._svc.settings.miniapp_short_name  # set: the alert links to the Mini App on its miss
        app = keyboards.miniapp_address(short_name, bot.username) if short_name else None
        text, keyboard = render_alert(alert, texts, zone, datetime.now(UTC), told, app)
        shown = (text, keyboard.to_json() if keyboard else None)
        if alert.message_id is not None and self._shown.get(alert.id) == shown:
            # A change nobody can see (e.g. the callback's call id): no edit Telegram would refuse anyway.
            return self._landed(alert, alert.message_id), alert.state == "closed"
        message_id = await self._put(bot, alert.chat_id, alert.message_id, text, keyboard, f"Alert {alert.id}")
        if message_id is None:
            return False, False
        if alert.message_id is None and message_id:  # posted (0: a chat that will never take it)
            self._svc.monitor.alert_posted(call_ended_at=alert.last_at + (alert.ring_seconds or 0))
        self._shown[alert.id] = shown
        return self._landed(alert, message_id), alert.state == "closed"

    async def _put(
        self,
        bot: Bot,
        chat_id: int,
        message_id: int | None,
        text: str,
        keyboard: InlineKeyboardMarkup | None,
        what: str,
    ) -> int | None:
        """Post the message (``message_id`` None) or edit it; one somebody deleted is posted again rather than lost.
        Returns the message that shows it now (0: one Telegram will never take, not retried forever), or None when
        Telegram failed and it stays pending. ``what`` names it in the log."""
        try:
            if message_id is None:
                return (await bot.send_message(chat_id, text, reply_markup=keyboard)).message_id
            await bot.edit_message_text(text, chat_id=chat_id, message_id=message_id, reply_markup=keyboard)
            return message_id
        except BadRequest as error:
            reason = error.message.lower()
            if "not modified" in reason:
                return message_id or 0
            if message_id is not None and "not found" in reason:
                try:
                    return (await bot.send_message(chat_id, text, reply_markup=keyboard)).message_id
                except TelegramError as again:
                    log.warning("%s in chat %s not re-posted yet (%s); will retry", what, chat_id, again)
                    return None
            log.error("Telegram refused %s in chat %s: %s", what, chat_id, error.message)
        except (ChatMigrated, Forbidden) as error:
            if not self._chat_lost(chat_id, error):
                return None
        except TelegramError as error:
            log.warning(
                "%s in chat %s not delivered yet (%s: %s); will retry", what, chat_id, type(error).__name__, error
            )
            return None
        return message_id or 0

    def _chat_lost(self, chat_id: int, error: ChatMigrated | Forbidden) -> bool:
        """The group became a supergroup: its alerts (and settings) follow it and go out there next round (False).
        The bot may no longer write to it: unsubscribed, nothing to retry (True)."""
        now = int(datetime.now(UTC).timestamp())
        if isinstance(error, ChatMigrated):
            log.info("Chat %s moved to %s", chat_id, error.new_chat_id)
            self._svc.storage.chats.move(chat_id, error.new_chat_id, now=now)
            return False
        log.warning("The bot can no longer write to chat %s (%s); unsubscribing it", chat_id, error)
        self._svc.storage.chats.unsubscribe(chat_id, now=now)
        return True

    def _landed(self, alert: Alert, message_id: int) -> bool:
        """Telegram shows ``alert``'s version in ``message_id``: record it, first thing after Telegram's answer
        (the only window in which a crash posts an alert twice). False while storage cannot take it."""
        self.unrecorded[alert.id] = (message_id, alert.version)
        return self.record_unrecorded()


def stories(svc: Services, alerts: Sequence[Alert], texts: Texts) -> dict[int, Html]:
    """Each alert's caller's story as it stood at their first missed call: alert id -> its line."""
    zone = svc.settings.zone
    return {alert.id: story(svc, alert.clid, before=alert.first_at).line(texts, zone) for alert in alerts}
