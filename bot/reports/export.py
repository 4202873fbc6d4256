"""``/export``'s spreadsheet: one row per call of a period, as people read it (local time, numbers as they are
written, names from the customer book, what became of each missed call).

Written with xlsxwriter's constant_memory mode, row by row from the archive's cursor: each row goes to a temporary
file as the next begins, so a month of a busy company (a third of a million calls) streams through a few megabytes
of memory. Each cell is written typed (a number with a date or duration format, or text), with no cell object of
ours. Runs in a worker thread, saying how far it is through a ``Progress`` the loop reads.
"""

from __future__ import annotations

import functools
import html
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from bot.formatting import format_for_people
from bot.texts import Texts
from storage import reports

# Characters wide, per column of the header (``export_columns``): time, direction, customer, name, company number,
# status, ring, talk, member, outcome. How many columns there are is the header's to say (``write`` checks these).
WIDTHS = (20, 12, 19, 26, 19, 12, 10, 10, 24, 30)
PROGRESS_ROWS = 1_000  # rows between two updates of ``Progress.done``
_DAY = 86_400
_UNIX_EPOCH = 25_569  # 1970-01-01 as an Excel serial day (the 1900 date system)


@dataclass(slots=True)
class Progress:
    """How far an export is: written by its worker thread, read by the loop. Plain ints: a read between two updates
    sees an older figure, nothing worse."""

    total: int = 0  # rows the period has
    done: int = 0  # rows written so far

    @property
    def percent(self) -> int:
        """Rows written in whole percent, 99 at most until ``write`` returns: the file is then still being packed."""
        return min(99, self.done * 100 // self.total) if self.total else 0


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
    progress: Progress | None = None,
) -> int:
    """The calls of [start, end) into an .xlsx at ``target``; returns how many there were. ``open_after``: misses
    that ended after it are still within their deadline (``storage.reports``)."""
    import xlsxwriter  # on the first export: the bot does not load it until then

    progress = progress if progress is not None else Progress()
    progress.total = reports.export_count(conn, start, end, numbers)
    # Only typed writes below (write_string never makes a formula, a link or a number of a text); the guesses the
    # untyped ``write`` would make are off all the same.
    guesses = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}
    book = xlsxwriter.Workbook(target, {"constant_memory": True, **guesses})
    sheet = book.add_worksheet(texts.plain("export_sheet"))
    names = texts.plain("export_columns").split("|")
    for column, (_, width) in enumerate(zip(names, WIDTHS, strict=True)):
        sheet.set_column(column, column, width)
    sheet.freeze_panes(1, 0)
    bold = book.add_format({"bold": True})
    for column, name in enumerate(names):
        sheet.write_string(0, column, name, bold)
    # The formats openpyxl gave these types, which the exports had so far.
    moment = book.add_format({"num_format": "yyyy-mm-dd h:mm:ss"})
    duration = book.add_format({"num_format": "[hh]:mm:ss"})

    found = reports.episodes(conn, start, end, numbers, open_after=open_after)
    episodes = {miss: episode for episode in found for miss in episode.misses}
    words = {key: texts.plain(key) for key in _WORDS}
    text = text_writer(book, sheet)  # every text from outside: names, numbers as New-Tel gave them
    number, word = sheet.write_number, sheet.write_string
    company = functools.lru_cache(maxsize=64)(format_for_people)  # a company has a few numbers; customers, many
    count = 0
    for count, row in enumerate(reports.export_rows(conn, start, end, numbers), start=1):
        number(count, 0, _excel_time(row.started_at, zone), moment)  # Excel has no time zones: the local time
        word(count, 1, words["export_in" if row.direction == "in" else "export_out"])
        text(count, 2, format_for_people(row.customer))
        text(count, 3, row.customer_name)
        text(count, 4, company(row.company_number))
        word(count, 5, words[_status(row)])
        number(count, 6, row.ring_seconds / _DAY, duration)
        number(count, 7, row.talk_seconds / _DAY, duration)
        text(count, 8, row.member_name or "—")
        text(count, 9, outcome(row, episodes.get(row.call_id), texts))
        if count % PROGRESS_ROWS == 0:
            progress.done = count
    progress.done = count
    sheet.autofilter(0, 0, count, len(names) - 1)
    book.close()
    return count


def _excel_time(moment: int, zone: ZoneInfo) -> float:
    """Unix seconds as the local time's Excel serial day (what a date cell holds)."""
    offset = datetime.fromtimestamp(moment, zone).utcoffset()
    return (moment + (offset.total_seconds() if offset else 0)) / _DAY + _UNIX_EPOCH


# How a formula (or, with #, an error value such as #N/A) starts, in the spreadsheets people open exports in.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "#")
_DIGITS_AND_SIGNS = "0123456789 ()+-"  # a number as people write it: +7 916 123-45-67
# What no spreadsheet cell can hold: XML 1.0's forbidden characters (C0 controls but tab, LF and CR; lone surrogates;
# U+FFFE and U+FFFF). xlsxwriter would write _xHHHH_ escapes for some, fail the whole file on the others.
_UNHOLDABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def starts_like_formula(text: str) -> bool:
    """Whether a spreadsheet could read ``text`` as a formula or an error rather than as text. Any writer must then
    write it as an explicit text cell (openpyxl and xlsxwriter both guess a formula from a leading =). Digits and
    signs alone (every phone number in the export) call nothing and read nothing: they are not."""
    return text.startswith(FORMULA_STARTS) and text.lstrip(_DIGITS_AND_SIGNS) != ""


def text_writer(book: Any, sheet: Any) -> Callable[[int, int, str | None], None]:
    """Writes ``text`` from outside (a customer's or a member's name, a number as New-Tel gave it) into ``sheet``'s
    cell (row, column) as text whatever it starts with: a string cell, quote-prefixed when it starts like a formula
    so that editing it in Excel does not make it one either. Characters a spreadsheet cannot hold are dropped: one
    such name must not fail the whole export. None leaves the cell empty."""
    quoted = book.add_format({"quote_prefix": True})
    write_string = sheet.write_string

    def write(row: int, column: int, text: str | None) -> None:
        if text is None:
            return
        if not text.isprintable():  # rare: a fast check first, then the slower clean-up
            text = _UNHOLDABLE.sub("", text)
        write_string(row, column, text, quoted if starts_like_formula(text) else None)

    return write


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
