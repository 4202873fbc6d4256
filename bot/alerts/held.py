"""The morning summary: misses outside a chat's business hours are held (not posted one by one at night) and, when
the hours begin, told in one message listing each customer once (how many times and when they called). Then each
held alert is released and gets its own message with its buttons, like any alert.

Why the buttons stay on the alerts' own messages rather than on the summary: a press is checked against the message
that shows its alert (a forged or stale one changes nothing), and "calling back…" and "done" are edited into that
message; a summary with a button per customer would need a second copy of all of it, and Telegram's 100 buttons and
4096 characters would split it. The summary is marked told in storage before it goes out, so a restart never repeats
it; the holds are in the alerts table, so a restart loses none."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from telegram import Bot
from telegram.error import ChatMigrated, NetworkError, RetryAfter, TelegramError, TimedOut

from bot import jobs
from bot.alerts.deadlines import chat_hours
from bot.alerts.delivery import Delivery
from bot.formatting import format_for_people, moment
from bot.services import Services
from bot.texts import Html, Texts
from storage import Alert

if TYPE_CHECKING:
    from bot.context import App, Context

log = logging.getLogger(__name__)

JOB_NAME = "business-hours"
INTERVAL = 30.0  # seconds: the summary comes at most this long after the hours begin
FIRST_CHECK = 3.0
SUMMARY_BUDGET = 3500  # characters of customer lines; Telegram takes 4096 in all
_TOLD = "alerts.held_summary."  # + chat id: the held alerts whose summary went out (marked before it is sent)


class HeldAlerts:
    def __init__(self, svc: Services, delivery: Delivery) -> None:
        self._svc = svc
        self._delivery = delivery

    async def job(self, context: Context) -> None:
        """The JobQueue callback; a failure is logged and the next run tries again (the holds stay stored)."""
        await jobs.logged("Releasing held alerts", self.release_due(context.bot, int(time.time())))

    async def release_due(self, bot: Bot, now: int) -> int:
        """In each chat whose hours have begun (or that has none any more): the summary, then its held alerts are
        released and delivered. Returns how many were released."""
        storage, zone = self._svc.storage, self._svc.settings.zone
        released = 0
        for chat_id in storage.alerts.held_chats():
            chat = storage.chats.get(chat_id)
            if chat is None or not chat.subscribed:
                continue  # kept until the chat subscribes again
            hours = chat_hours(chat)
            if hours is not None and not hours.is_open(now, zone):
                continue
            held = storage.alerts.held_for(chat_id)
            ids = [alert.id for alert in held]
            if storage.kv.get(_TOLD + str(chat_id)) != ids:
                storage.kv.set(_TOLD + str(chat_id), ids, now=now)  # told before it is sent: never twice
                if not await self._tell(bot, chat_id, held, now):
                    storage.kv.delete(_TOLD + str(chat_id))
                    continue  # Telegram did not take it: the alerts stay held, the next run tries again
            released += storage.alerts.release(ids)
        if released:
            await self._delivery.deliver_pending(bot)  # right after the summary, not at the next poll
        return released

    async def _tell(self, bot: Bot, chat_id: int, held: Sequence[Alert], now: int) -> bool:
        """Post the summary; False only when Telegram surely did not take it (worth another try)."""
        text = summary_text(held, self._svc.chat_texts(chat_id), self._svc, now)
        try:
            await bot.send_message(chat_id, text)
        except (RetryAfter, ChatMigrated) as error:
            log.warning("Summary of held alerts in %s waits for the next run (%s)", chat_id, error)
            return False
        except NetworkError as error:
            if isinstance(error, TimedOut):  # it may have landed: the alerts follow, the summary is not repeated
                log.warning("Summary of held alerts in %s may not have arrived (%s)", chat_id, error)
                return True
            log.warning("Summary of held alerts in %s waits for the next run (%s)", chat_id, error)
            return False
        except TelegramError as error:  # refused for good: the alerts still go out (delivery handles the chat)
            log.warning("Telegram refused the summary of held alerts in %s: %s", chat_id, error)
        return True


def summary_text(held: Sequence[Alert], texts: Texts, svc: Services, now: int) -> Html:
    """Each customer once: their number as people write it, how many times and when; as many as fit."""
    zone, at = svc.settings.zone, datetime.fromtimestamp(now, UTC)

    def when(seconds: int) -> str:
        return moment(datetime.fromtimestamp(seconds, UTC), zone, texts.lang, at)

    lines: list[str] = []
    used = 0
    for shown, alert in enumerate(held):
        customer = format_for_people(alert.clid)
        if alert.missed_count == 1:
            line = texts("held_summary_line", customer=customer, when=when(alert.last_at))
        else:
            line = texts(
                "held_summary_line_many",
                customer=customer,
                count=alert.missed_count,
                first=when(alert.first_at),
                last=when(alert.last_at),
            )
        if used + len(line) > SUMMARY_BUDGET:
            lines.append(texts("held_summary_more", count=len(held) - shown))
            break
        lines.append(line)
        used += len(line) + 1
    return Html("\n".join([texts("held_summary_title", count=len(held)), *lines, "", texts("held_summary_footer")]))


def start(application: App) -> HeldAlerts:
    """Schedule the release beside the poll (whose delivery it uses); one run at a time."""
    svc = application.bot_data.need_services()
    held = HeldAlerts(svc, application.bot_data.need_poller().delivery)
    jobs.every(application, held.job, INTERVAL, first=FIRST_CHECK, name=JOB_NAME)
    return held
