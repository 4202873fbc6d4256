"""``/export``'s spreadsheet: one row per call of a period, as people read it (local time, numbers as they are
written, names from the customer book, what became of each missed call).

Streamed row by row from the archive's cursor into the sheet (``xlsx``): a month of a busy company (a third of a
million calls) goes through a few megabytes of memory, each cell typed (a date, a duration or text).

The bot writes it in a process of its own (``write_in_process``): a month is seconds of Python, and in a thread of
the bot's its bytecode and its garbage collections would hold the GIL, so the event loop, for tens of milliseconds
at a time. It says how far it is through a ``Progress`` the loop reads.
"""

from __future__ import annotations

import contextlib
import functools
import html
import multiprocessing
import os
import sqlite3
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from bot.formatting import format_for_people
from bot.reports import xlsx
from bot.texts import Texts
from storage import reports

# The header's columns (``export_columns``) in order: what each holds, and how many characters wide it is.
LAYOUT: tuple[tuple[xlsx.Kind, int], ...] = (
    ("moment", 20),  # time
    ("text", 12),  # direction
    ("text", 19),  # customer
    ("text", 26),  # customer's name
    ("text", 19),  # company number
    ("text", 12),  # status
    ("duration", 10),  # ring
    ("duration", 10),  # talk
    ("text", 24),  # member
    ("text", 30),  # outcome
)
PROGRESS_ROWS = 1_000  # rows between two updates of ``Progress.done``
# A new interpreter per export, not a fork: forking a process that runs threads and an event loop can copy a lock
# some thread holds, and the child would wait for it forever.
_PROCESSES = multiprocessing.get_context("spawn")


class Progress:
    """How far an export is: written by the process that writes it, read by the loop, in memory the two share. No
    lock: a read between two updates sees an older figure, nothing worse."""

    __slots__ = ("_counts",)

    def __init__(self) -> None:
        self._counts = _PROCESSES.RawArray("q", 2)  # rows the period has, rows written so far

    @property
    def total(self) -> int:
        return int(self._counts[0])

    @total.setter
    def total(self, rows: int) -> None:
        self._counts[0] = rows

    @property
    def done(self) -> int:
        return int(self._counts[1])

    @done.setter
    def done(self, rows: int) -> None:
        self._counts[1] = rows

    @property
    def percent(self) -> int:
        """Rows written in whole percent, 99 at most until ``write`` returns: the file is then still being packed."""
        return min(99, self.done * 100 // self.total) if self.total else 0


def write_in_process(
    database: Path,
    start: int,
    end: int,
    zone: ZoneInfo,
    texts: Texts,
    target: Path,
    *,
    open_after: int | None = None,
    max_bytes: int | None = None,
    progress: Progress | None = None,
) -> int:
    """``write`` in a new process, on a read connection of its own to ``database``: the loop of the process that
    calls it is never held by the work, only told how far it is through ``progress``. Blocks until the file is at
    ``target``: call it in a worker thread (``Services.export_worker``)."""
    progress = progress if progress is not None else Progress()
    # The shared counts go to the process as it starts (the only way they can); the work itself, as a task.
    with ProcessPoolExecutor(1, mp_context=_PROCESSES, initializer=_started, initargs=(progress,)) as process:
        work = process.submit(
            _write_file, database, start, end, zone, texts, target, open_after=open_after, max_bytes=max_bytes
        )
        return work.result()


_progress: Progress | None = None  # in an export's own process: the ``Progress`` the bot reads (``_started``)
NICENESS = 10  # the export's process yields the CPU to the bot's (and to anything more urgent) on a busy machine


def _started(progress: Progress) -> None:
    """An export's process, as it starts: told where to say how far it is, and made a background job."""
    global _progress
    _progress = progress
    with contextlib.suppress(OSError):  # a system that refuses it runs the export at the bot's priority
        os.nice(NICENESS)


def _write_file(database: Path, *args: Any, **options: Any) -> int:
    with reports.reading(database) as conn:
        return write(conn, *args, **options, progress=_progress)


def write(
    conn: sqlite3.Connection,
    start: int,
    end: int,
    zone: ZoneInfo,
    texts: Texts,
    target: str | Path | IO[bytes],
    numbers: tuple[str, ...] = (),
    *,
    open_after: int | None = None,
    max_bytes: int | None = None,
    progress: Progress | None = None,
) -> int:
    """The calls of [start, end) into an .xlsx at ``target``; returns how many there were. ``open_after``: misses
    that ended after it are still within their deadline (``storage.reports``). ``xlsx.TooBig`` past ``max_bytes``
    (as soon as it is seen)."""
    progress = progress if progress is not None else Progress()
    progress.total = reports.export_count(conn, start, end, numbers)
    titles = texts.plain("export_columns").split("|")
    columns = [xlsx.Column(title, kind, width) for title, (kind, width) in zip(titles, LAYOUT, strict=True)]
    rows = _rows(conn, start, end, zone, texts, numbers, open_after, progress)
    count = xlsx.write(target, texts.plain("export_sheet"), columns, rows, max_bytes=max_bytes)
    progress.done = count
    return count


def _rows(
    conn: sqlite3.Connection,
    start: int,
    end: int,
    zone: ZoneInfo,
    texts: Texts,
    numbers: tuple[str, ...],
    open_after: int | None,
    progress: Progress,
) -> Iterator[tuple[Any, ...]]:
    """The period's rows as ``xlsx.write`` takes them (``LAYOUT``), counted into ``progress`` as they go."""
    found = reports.episodes(conn, start, end, numbers, open_after=open_after)
    episodes = {miss: episode for episode in found for miss in episode.misses}
    words = {key: texts.plain(key) for key in _WORDS}
    company = functools.lru_cache(maxsize=64)(format_for_people)  # a company has a few numbers; customers, many
    for count, row in enumerate(reports.export_rows(conn, start, end, numbers), start=1):
        yield (
            _local(row.started_at, zone),  # Excel has no time zones: the local time
            words["export_in" if row.direction == "in" else "export_out"],
            format_for_people(row.customer),
            row.customer_name,
            company(row.company_number),
            words[_status(row)],
            row.ring_seconds,
            row.talk_seconds,
            row.member_name or "—",
            outcome(row, episodes.get(row.call_id), texts),
        )
        if count % PROGRESS_ROWS == 0:
            progress.done = count


def _local(moment: int, zone: ZoneInfo) -> int:
    """Unix seconds as the same count on the local clock."""
    offset = datetime.fromtimestamp(moment, zone).utcoffset()
    return moment + int(offset.total_seconds()) if offset else moment


_WORDS = ("export_in", "export_out", "export_answered", "export_missed", "export_no_answer", "export_active")
# What an episode's outcome is called (one called back says by whom: ``_called_back``).
_EPISODE_WORDS: dict[reports.Outcome, str] = {
    "answered_later": "export_answered_later",
    "open": "export_open",
    "lost": "export_lost",
    "unresolved": "export_unresolved",
}


def _status(row: reports.ExportRow) -> str:
    if row.status == "answered":
        return "export_answered"
    if row.active:
        return "export_active"
    return "export_missed" if row.direction == "in" else "export_no_answer"


def outcome(row: reports.ExportRow, episode: reports.Episode | None, texts: Texts) -> str | None:
    """What became of a missed call: its alert's outcome once it closed, else its episode's (storage.reports: an
    alert still open is open, lost or not reached by the deadline, as ``/lost`` and the reports count it)."""
    if row.alert == "called_back":
        return _called_back(row.alert_name, texts)
    if row.alert == "answered_later":
        return texts.plain("export_answered_later")
    if row.alert == "done":
        return _closed(row.alert_name, texts)
    if episode is None:
        return None
    if episode.outcome == "called_back":
        return _called_back(episode.member_name, texts)
    if episode.outcome == "done":
        return _closed(episode.member_name, texts)
    return texts.plain(_EPISODE_WORDS[episode.outcome])


def _closed(name: str | None, texts: Texts) -> str:
    return _plain(texts, "export_closed_by", name=name) if name else texts.plain("export_closed")


def _called_back(name: str | None, texts: Texts) -> str:
    return _plain(texts, "export_called_back", name=name) if name else texts.plain("export_called_back_anyone")


def _plain(texts: Texts, key: str, **values: object) -> str:
    """A text with values, as plain text: a spreadsheet shows no HTML."""
    return html.unescape(texts(key, **values))
