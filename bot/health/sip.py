"""Desk phones that go offline: a member's internal number that was registered (SIP) and has not been for
``SIP_OFFLINE_ALERT`` seconds is told once to the admins and to the chats subscribed with ``/subscribe … sip``, and
once more when it is back. A look every ``SIP_CHECK_INTERVAL`` seconds (``vpbx/get-registered-numbers-list``); what
was seen and told is in the ``phones`` table, so neither the next look nor a restart repeats a report.

A phone never seen registered since the watch began is not news (a desk phone that is always off), and one back
before the delay is not either. ``SIP_OFFLINE_ALERT=0`` turns the watch off altogether: no job, no requests."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from telegram import Bot
from telegram.constants import MessageLimit
from telegram.error import Forbidden, TelegramError

from bot import jobs
from bot.formatting import format_for_people, moment
from bot.services import Services
from bot.texts import Html, Texts
from storage import Phone

if TYPE_CHECKING:
    from bot.context import App, Context

log = logging.getLogger(__name__)

JOB_NAME = "sip-check"
# Seconds after the start to the first look: soon, but after the start-up's own requests (the first poll, the menu)
# and the first commands, so that a bot stopped right after starting rarely has to cancel a look mid-way.
FIRST_CHECK = 10.0

Render = Callable[[Texts], list[Html]]
Mark = Callable[[Iterable[str], int], int]


class PhoneWatch:
    def __init__(self, svc: Services) -> None:
        self._svc = svc
        # Told but not recorded yet (the database could not be written): memory keeps it until it can, otherwise
        # the next look would find the same phones due and tell them again.
        self._unrecorded: list[tuple[Mark, list[str], int]] = []

    async def job(self, context: Context) -> None:
        """The JobQueue callback: one look. A failure is logged and changes nothing; the next look retries."""
        await jobs.logged("Phone check", self.check(context.bot))  # no answer is no news: never "all offline"

    def recipients(self) -> list[tuple[int, str | None]]:
        """(chat id, language) of every admin and every chat subscribed with ``sip``."""
        storage = self._svc.storage
        people: list[tuple[int, str | None]] = [
            (u.telegram_id, u.language) for u in storage.users.list(active_only=True) if u.is_admin
        ]
        return people + [(c.chat_id, c.language) for c in storage.chats.sip_chats()]

    async def check(self, bot: Bot, now: float | None = None) -> None:
        """One look at the members' phones; tells what became due (``now``: the clock, for tests)."""
        if not self._flush():
            return  # what was told last time is still unrecorded: telling more would repeat it
        svc = self._svc
        registered = set(await svc.background.vpbx.get_registered_numbers_list())
        names = {m.internal_number: m.name for m in await svc.directory.members() if m.internal_number}
        at = int(time.time() if now is None else now)
        phones = svc.storage.phones
        observed = phones.observe(registered, names, at, svc.settings.sip_offline_alert)
        rank = {internal: i for i, internal in enumerate(names)}  # listed in the members' order
        offline = sorted(observed.offline, key=lambda p: rank[p.internal])
        back = sorted(observed.back, key=lambda p: rank[p.internal])
        if offline and await self._tell(bot, lambda texts: self.describe_offline(offline, names, texts, at)):
            self._record(phones.mark_reported, [p.internal for p in offline], at)
        if back and await self._tell(bot, lambda texts: self.describe_back(back, names, texts, at)):
            self._record(phones.mark_back, [p.internal for p in back], at)

    async def _tell(self, bot: Bot, render: Render) -> bool:
        """Send to every recipient in their language; True when it counts as told.

        It counts once anyone got it (or every recipient refused the bot for good): one record for all, not one per
        chat, so a group that keeps failing neither holds the report back from the others nor has it repeated to
        them; that group misses this one report (logged). When nobody got it (Telegram down, or nobody to tell yet)
        it stays due and the next look tries again: an outage delays a report, never loses it."""
        delivered = refused = failed = 0
        for chat_id, language in self.recipients():
            texts = Texts(language or self._svc.settings.bot_language)
            try:
                for text in render(texts):
                    await bot.send_message(chat_id, text)
            except Forbidden as error:  # blocked the bot or removed it: asking every look would not help
                log.info("Phone report to %s refused for good (%s)", chat_id, error)
                refused += 1
            except TelegramError as error:
                log.warning("Phone report to %s not delivered (%s)", chat_id, error)
                failed += 1
            else:
                delivered += 1
        return delivered > 0 or (refused > 0 and failed == 0)

    def _record(self, mark: Mark, internals: list[str], now: int) -> None:
        self._unrecorded.append((mark, internals, now))
        self._flush()

    def _flush(self) -> bool:
        """Write what was told; False while the database cannot take it (memory keeps it for the next look)."""
        try:
            while self._unrecorded:
                mark, internals, now = self._unrecorded[0]
                mark(internals, now)
                del self._unrecorded[0]
        except sqlite3.OperationalError as error:
            log.warning("Phone reports told but not recorded yet (%s); kept in memory", error)
            return False
        return True

    def describe_offline(self, phones: Sequence[Phone], names: Mapping[str, str], texts: Texts, now: int) -> list[Html]:
        zone = self._svc.settings.zone
        today = datetime.fromtimestamp(now, zone)

        def values(phone: Phone) -> dict[str, object]:
            since = moment(datetime.fromtimestamp(phone.since, zone), zone, texts.lang, today)
            return {"member": names[phone.internal], "internal": format_for_people(phone.internal), "since": since}

        return _messages(texts, phones, "sip_offline", values)

    def describe_back(self, phones: Sequence[Phone], names: Mapping[str, str], texts: Texts, now: int) -> list[Html]:
        def values(phone: Phone) -> dict[str, object]:
            gone = away(now - phone.since, texts)
            return {"member": names[phone.internal], "internal": format_for_people(phone.internal), "gone": gone}

        return _messages(texts, phones, "sip_back", values)


def _messages(
    texts: Texts, phones: Sequence[Phone], key: str, values: Callable[[Phone], dict[str, object]]
) -> list[Html]:
    """One phone in a sentence (``key``); several in one list under a heading (``key_many``, ``key_line``), cut
    into as few messages as Telegram's limit allows (the whole office's phones go at once when its network does)."""
    if len(phones) == 1:
        return [texts(key, **values(phones[0]))]
    heading = texts(f"{key}_many")
    messages, lines, length = [], [heading], len(heading)
    for phone in phones:
        line = texts(f"{key}_line", **values(phone))
        if len(lines) > 1 and length + 1 + len(line) > MessageLimit.MAX_TEXT_LENGTH:
            messages.append(Html("\n".join(lines)))
            lines, length = [heading], len(heading)
        lines.append(line)
        length += 1 + len(line)
    messages.append(Html("\n".join(lines)))
    return messages


def away(seconds: int, texts: Texts) -> Html:
    """How long a phone was offline: 45 с, 12 мин, 2 ч 5 мин."""
    if seconds < 60:
        return texts("sip_seconds", seconds=max(0, seconds))
    hours, minutes = divmod((seconds + 30) // 60, 60)
    return texts("sip_hours", hours=hours, minutes=minutes) if hours else texts("sip_minutes", minutes=minutes)


def start(application: App) -> PhoneWatch | None:
    """Schedule the look (first soon after the start); None when ``SIP_OFFLINE_ALERT=0`` turns the watch off. One
    look at a time, and looks missed while one ran slow are not run back to back."""
    svc = application.bot_data.need_services()
    if not svc.settings.sip_offline_alert:
        return None
    watch = PhoneWatch(svc)
    jobs.every(application, watch.job, svc.settings.sip_check_interval, first=FIRST_CHECK, name=JOB_NAME)
    return watch
