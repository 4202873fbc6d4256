"""/report [period] (a chart with the period's figures) and /export [period] (the calls as a spreadsheet).

Both add up the archive on a read connection of their own to the bot's database (a month of a busy company takes
longer than the loop may be held): a report in a worker thread (``Services.report_workers``), an export in a process
of its own, which a thread (``export_worker``) waits for. The loop only checks, shows "sending…" (and how far a long
export is) and sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import html
import logging
import math
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from telegram import Bot, InputFile, Message, Update
from telegram.constants import ChatAction
from telegram.error import TelegramError

from bot.access.checks import Caller, requires
from bot.alerts.deadlines import sla_seconds
from bot.alerts.hours import Hours
from bot.calllog.recordings import MAX_UPLOAD
from bot.calls import periods
from bot.config import Settings
from bot.context import Context
from bot.reports import chart, export, xlsx
from bot.reports.caption import caption, period_label
from bot.reports.figures import Figures, gather
from bot.services import Services
from bot.texts import Html, Texts, echo
from storage import Chat, reports

log = logging.getLogger(__name__)
T = TypeVar("T")

ACTION_EVERY = 4.0  # seconds; Telegram shows a chat action for about five
PROGRESS_AFTER = 3.0  # seconds an export runs before it says how far it is
PROGRESS_EVERY = 5.0  # seconds between two edits of that message at least (Telegram limits edits, in groups most)
LOST_GRACE = 3600  # seconds a miss stays open where there is no deadline (/sla off); past it, it may be lost
LOOK_BACK = 400 * 86_400  # seconds: a deadline in business hours is looked for at most this far back


async def off_the_loop(workers: Executor, work: Callable[..., T], *args: Any) -> T:
    """``work(*args)`` in one of ``workers``' threads (``Services.report_workers`` or ``export_worker``)."""
    return await asyncio.get_running_loop().run_in_executor(workers, functools.partial(work, *args))


@dataclass(frozen=True, slots=True)
class Report:
    caption: Html
    png: bytes | None  # None: a period without calls, said in words (an empty chart says nothing), or not asked for
    figures: Figures | None = None


@dataclass(frozen=True, slots=True)
class Standards:
    """What a report measures against: the callback deadline and the short ring, both in seconds, 0: none, and the
    business hours the deadline is counted in (None: on the clock). In a chat subscribed to alerts they are its own
    (``/sla``, ``/hours``, ``/subscribe … min``), the figures its alerts live by; elsewhere the company's
    (``ALERT_SLA_MINUTES``, ``SHORT_RING_SECONDS``, no hours)."""

    deadline_seconds: int = 0
    short_under: int = 0
    hours: Hours | None = None

    @classmethod
    def of(cls, settings: Settings, chat: Chat | None = None) -> Standards:
        if chat is None or not chat.subscribed:
            return cls(round(settings.alert_sla_minutes * 60), settings.short_ring_seconds)
        return cls(
            round(sla_seconds(chat, settings) or 0), chat.min_ring or settings.short_ring_seconds, Hours.of(chat)
        )

    @property
    def lost_after(self) -> int:
        """Seconds (of business time, with hours) after its end a miss nobody returned counts as lost."""
        return self.deadline_seconds or LOST_GRACE

    def open_after(self, now: int, zone: ZoneInfo) -> int:
        """The latest end of a miss whose deadline has passed at ``now``: those that ended later are still open
        (``storage.reports``). The deadline is an alert's own (``deadlines.stamp``): the end plus ``lost_after``,
        counted in the hours if any, whole seconds up."""
        hours, wait = self.hours, self.lost_after
        if hours is None:
            return now - wait

        def passed(ended: int) -> bool:
            return math.ceil(hours.add(ended, wait, zone)) <= now

        # Business time never runs faster than the clock: the answer is at least ``wait`` back. Step back until
        # a deadline has passed, then halve the gap between one that has and one that has not.
        gap = wait
        while not passed(now - gap) and gap < LOOK_BACK:
            gap *= 2
        low, high = now - gap, now
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if passed(middle) else (low, middle)
        return low


def build(
    database: Path,
    start: int,
    end: int,
    zone: ZoneInfo,
    texts: Texts,
    title_key: str,
    numbers: tuple[str, ...] = (),
    standards: Standards = Standards(),
    with_lost: bool = False,
    with_chart: bool = True,
) -> Report:
    """The caption and chart of [start, end); ``with_lost``: the lost customers named too; ``with_chart``: False
    leaves the chart out (the Mini App fetches it by a link of its own). Blocking: call it in a worker thread
    (``make``)."""
    open_after = standards.open_after(int(time.time()), zone)
    with reports.reading(database) as conn:
        figures = gather(
            conn,
            start,
            end,
            zone,
            numbers,
            deadline_seconds=standards.deadline_seconds,
            hours=standards.hours,
            short_under=standards.short_under,
            with_lost=with_lost,
            open_after=open_after,
        )
    label = period_label(figures.start, figures.end)
    title = texts(title_key, period=label)
    if not figures.inbound and not figures.outbound:
        return Report(Html(title + "\n" + texts("report_no_calls")), None, figures)
    png = chart.render(figures, texts, html.unescape(texts("chart_title", period=label))) if with_chart else None
    return Report(caption(figures, texts, title), png, figures)


async def make(
    svc: Services,
    start: int,
    end: int,
    texts: Texts,
    title_key: str,
    numbers: tuple[str, ...] = (),
    *,
    chat: Chat | None = None,
    with_lost: bool = False,
    with_chart: bool = True,
) -> Report:
    """``build`` in a report thread; ``chat``: the chat it is for (its standards, ``Standards.of``)."""
    settings = svc.settings
    return await off_the_loop(
        svc.report_workers,
        build,
        settings.database_path,
        start,
        end,
        settings.zone,
        texts,
        title_key,
        numbers,
        Standards.of(settings, chat),
        with_lost,
        with_chart,
    )


@contextlib.asynccontextmanager
async def showing(bot: Bot, chat_id: int, action: str) -> AsyncIterator[None]:
    """The chat action ("sending a photo…") for as long as the work inside takes; a failure to show it costs
    nothing else."""

    async def repeat() -> None:
        while True:
            try:
                await bot.send_chat_action(chat_id, action)
            except TelegramError as error:
                log.debug("chat action failed: %s", error)
            await asyncio.sleep(ACTION_EVERY)

    task = asyncio.create_task(repeat())
    try:
        yield
    finally:
        task.cancel()


@contextlib.asynccontextmanager
async def telling(bot: Bot, chat_id: int, texts: Texts, progress: export.Progress) -> AsyncIterator[None]:
    """How far the export inside is, once it has run ``PROGRESS_AFTER``: «⏳ Готовлю файл… 40 %», edited in place at
    most every ``PROGRESS_EVERY`` while the figure moves, and deleted when the work inside (its answer sent) is over.
    The export's process only writes ``progress``; the loop reads it here. A failure to show it costs nothing else."""
    over = asyncio.Event()

    async def tell() -> None:
        message: Message | None = None
        shown = ""
        wait = PROGRESS_AFTER
        while not await _set_within(over, wait):
            wait = PROGRESS_EVERY
            text = texts("export_progress", percent=progress.percent)
            if text == shown:
                continue
            try:
                if message is None:
                    message = await bot.send_message(chat_id, text)
                else:
                    await message.edit_text(text)
                shown = text
            except TelegramError as error:
                log.debug("export progress not shown: %s", error)
        if message is not None:
            try:
                await message.delete()
            except TelegramError as error:
                log.debug("export progress not deleted: %s", error)

    # Ended by the event, never cancelled: a message in flight is known and deleted, not left saying "40 %".
    task = asyncio.create_task(tell())
    try:
        yield
    finally:
        over.set()
        await task


async def _set_within(event: asyncio.Event, seconds: float) -> bool:
    """Whether ``event`` is set within ``seconds``."""
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except TimeoutError:
        return False
    return True


async def asked_period(caller: Caller, args: Sequence[str] | None, default: str) -> tuple[str, int, int] | None:
    """The period typed after the command (``default`` when none) as (its canonical spelling, start, end); None
    once the caller was told it is not one."""
    typed = " ".join(args or []) or default
    period = periods.canonical(typed)
    if period is None:
        await caller.reply(caller.texts("calls_bad_period", period=echo(typed)))
        return None
    days = periods.read(period, caller.services.settings.zone, datetime.now(UTC))
    if isinstance(days, periods.Refused):
        await caller.reply(periods.refusal(days, typed, caller.texts))
        return None
    return period, days.start, days.end


@requires("manager")
async def report(update: Update, context: Context, caller: Caller) -> None:
    chat = update.effective_chat
    message = update.effective_message
    assert chat is not None and message is not None
    if (asked := await asked_period(caller, context.args, "today")) is None:
        return
    _, start, end = asked
    async with showing(context.bot, chat.id, ChatAction.UPLOAD_PHOTO):
        # In a subscribed chat: its numbers, measured by its standards, as its digest is.
        found = caller.services.storage.chats.get(chat.id)
        ours = found if found is not None and found.subscribed else None
        numbers = ours.numbers if ours is not None else ()
        made = await make(caller.services, start, end, caller.texts, "report_title", numbers, chat=ours)
    if made.png is None:
        await message.reply_text(made.caption)
        return
    await message.reply_photo(InputFile(made.png, filename="report.png"), caption=made.caption)


@requires("admin", private_only=True)
async def export_calls(update: Update, context: Context, caller: Caller) -> None:
    chat = update.effective_chat
    assert chat is not None
    if (asked := await asked_period(caller, context.args, "7d")) is None:
        return
    await send_export(caller.services, context.bot, chat.id, caller.texts, caller.user.telegram_id, *asked)


async def send_export(
    svc: Services,
    bot: Bot,
    chat_id: int,
    texts: Texts,
    actor_id: int,
    period: str,
    start: int,
    end: int,
    *,
    origin: str = "command",
) -> None:
    """The calls of [start, end) as a spreadsheet, sent to ``chat_id`` (an admin's private chat), with how far it is
    while it takes long, audited as ``actor_id``'s: ``/export`` and the Mini App's Export (``origin`` "app")."""
    zone = svc.settings.zone
    first, last = datetime.fromtimestamp(start, zone), datetime.fromtimestamp(end, zone) - timedelta(seconds=1)
    label = period_label(first, datetime.fromtimestamp(end, zone))
    details: dict[str, Any] = {"start": start, "end": end} | ({"origin": origin} if origin != "command" else {})
    entry = svc.storage.audit.log("export", actor_id=actor_id, target=period, details=details, now=int(time.time()))
    progress = export.Progress()
    async with showing(bot, chat_id, ChatAction.UPLOAD_DOCUMENT), telling(bot, chat_id, texts, progress):
        with tempfile.TemporaryDirectory(prefix="export-") as folder:
            path = Path(folder) / f"calls_{first:%Y-%m-%d}_{last:%Y-%m-%d}.xlsx"
            try:
                count = await off_the_loop(
                    svc.export_worker, _write, svc.settings.database_path, start, end, zone, texts, path,
                    Standards.of(svc.settings), progress,
                )  # fmt: skip
            except xlsx.TooBig:  # given up as soon as it was: the rest would take minutes for nothing
                svc.storage.audit.amend(entry, {"rows": progress.total})
                await bot.send_message(chat_id, texts("export_too_big", period=label))
                return
            svc.storage.audit.amend(entry, {"rows": count})
            if count == 0:
                await bot.send_message(chat_id, texts("export_empty", period=label))
                return
            with path.open("rb") as data:
                await bot.send_document(
                    chat_id,
                    InputFile(data, filename=path.name),
                    caption=texts("export_caption", period=label, count=count),
                )


def _write(
    database: Path,
    start: int,
    end: int,
    zone: ZoneInfo,
    texts: Texts,
    path: Path,
    standards: Standards,
    progress: export.Progress,
) -> int:
    open_after = standards.open_after(int(time.time()), zone)
    return export.write_in_process(
        database, start, end, zone, texts, path, open_after=open_after, max_bytes=MAX_UPLOAD, progress=progress
    )
