"""``/export``'s spreadsheet: one row per call of a period, as people read it (local time, numbers as they are
written, names from the customer book, what became of each missed call).

Written with openpyxl's write-only mode, row by row from the archive's cursor: a month of a busy company (a
third of a million calls) streams through a few megabytes of memory. Runs in a worker thread.
"""

from __future__ import annotations

import functools
import html
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from bot.formatting import format_for_people
from bot.texts import Texts
from storage import reports

# Characters wide, per column of the header (``export_columns``): time, direction, customer, name, company number,
# status, ring, talk, member, outcome. How many columns there are is the header's to say (``write`` checks these).
WIDTHS = (20, 12, 19, 26, 19, 12, 10, 10, 24, 30)


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
) -> int:
    """The calls of [start, end) into an .xlsx at ``target``; returns how many there were. ``open_after``: misses
    that ended after it are still within their deadline (``storage.reports``)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    sheet = book.create_sheet(texts.plain("export_sheet"))
    names = texts.plain("export_columns").split("|")
    # Write-only sheets take their columns and panes before the first row, the filter at the end.
    for index, (_, width) in enumerate(zip(names, WIDTHS, strict=True), start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for name in names:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = bold
        header.append(cell)
    sheet.append(header)

    found = reports.episodes(conn, start, end, numbers, open_after=open_after)
    episodes = {miss: episode for episode in found for miss in episode.misses}
    words = {key: texts.plain(key) for key in _WORDS}
    # Numbers as people write them, the busy customers' remembered: parsing one (phonenumbers) costs as much as
    # writing the rest of its row; a bounded cache keeps a month of 150,000 customers in little memory.
    number = functools.lru_cache(maxsize=4096)(format_for_people)
    text = functools.partial(text_cell, sheet)  # every text from outside: names, numbers as New-Tel gave them
    count = 0
    for row in reports.export_rows(conn, start, end, numbers):
        sheet.append(
            [
                datetime.fromtimestamp(row.started_at, zone).replace(tzinfo=None),  # Excel has no time zones
                words["export_in" if row.direction == "in" else "export_out"],
                text(number(row.customer)),
                text(row.customer_name),
                text(number(row.company_number)),
                words[_status(row)],
                timedelta(seconds=row.ring_seconds),
                timedelta(seconds=row.talk_seconds),
                text(row.member_name or "—"),
                text(outcome(row, episodes.get(row.call_id), texts)),
            ]
        )
        count += 1
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(names))}{count + 1}"
    book.save(target)
    return count


# How a formula (or, with #, an error value such as #N/A) starts, in the spreadsheets people open exports in.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "#")
_DIGITS_AND_SIGNS = "0123456789 ()+-"  # a number as people write it: +7 916 123-45-67


def starts_like_formula(text: str) -> bool:
    """Whether a spreadsheet could read ``text`` as a formula or an error rather than as text. Any writer must then
    write it as an explicit text cell (openpyxl and xlsxwriter both guess a formula from a leading =). Digits and
    signs alone (every phone number in the export) call nothing and read nothing: they are not."""
    return text.startswith(FORMULA_STARTS) and text.lstrip(_DIGITS_AND_SIGNS) != ""


def text_cell(sheet: Any, text: str | None) -> Any:
    """``text`` from outside (a customer's or a member's name, a number as New-Tel gave it) for ``sheet.append``:
    held as text whatever it starts with: a string cell, quote-prefixed so that editing it in Excel does not make it
    a formula either. Characters a spreadsheet cannot hold (control characters) are dropped: one such name must not
    fail the whole export. Other text goes as it is (the common case costs a check, not a cell)."""
    if text is None:
        return None
    if not text.isprintable():  # rare: a fast check first, then the slower clean-up
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        text = ILLEGAL_CHARACTERS_RE.sub("", text)
    if not starts_like_formula(text):
        return text
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, value=text)
    cell.data_type = "s"
    cell.quotePrefix = True
    return cell


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
