"""A one-sheet .xlsx workbook, written as a stream: the sheet's XML goes row by row into its zip entry, so a third of
a million rows take a few megabytes of memory whatever the period.

What it writes is the little SpreadsheetML a table needs (ECMA-376 part 1, in the parts Excel and xlsxwriter make):
a bold header row, frozen, with an autofilter and column widths; then cells of three kinds (``Column.kind``): a
moment (an Excel serial day with a date and time format: Excel has no time zones, so it is given local), a duration
(``[hh]:mm:ss``), and text, always an inline string: never a formula, a number or a link, whatever it says. Each row
is one ``str.format`` of a template made once, not a Python object per cell.
"""

from __future__ import annotations

import contextlib
import functools
import operator
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal
from xml.sax.saxutils import escape, quoteattr

BATCH_ROWS = 1_000  # rows joined into one write of the zip entry (one compressor call, not a thousand)
# zlib's level: 3 packs a month's sheet (172 MB of XML) into 22 MB in 1.1 s of CPU; its default, 6, into 19 MB in 2.7 s.
COMPRESS_LEVEL = 3
_DAY = 86_400
_UNIX_EPOCH = 25_569  # 1970-01-01 as an Excel serial day (the 1900 date system)
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# The cell formats (cellXfs in styles.xml), by index.
_BOLD, _MOMENT, _DURATION, _QUOTED = 1, 2, 3, 4

# How a formula (or, with #, an error value such as #N/A) starts, in the spreadsheets people open exports in.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "#")
_DIGITS_AND_SIGNS = "0123456789 ()+-"  # a number as people write it: +7 916 123-45-67
# What no spreadsheet cell can hold: XML 1.0's forbidden characters (C0 controls but tab, LF and CR; lone surrogates;
# U+FFFE and U+FFFF).
_UNHOLDABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Excel reads _xHHHH_ in a string as the character HHHH; its own underscore escaped (_x005F_) keeps it as written.
_LOOKS_ESCAPED = re.compile(r"_(?=x[0-9A-Fa-f]{4}_)")


# What a column holds: a moment (local Unix seconds: the wall clock's time as if it were UTC), a duration (seconds) or
# text (str, or None for an empty cell).
Kind = Literal["moment", "duration", "text"]


@dataclass(frozen=True, slots=True)
class Column:
    title: str
    kind: Kind
    width: float  # in characters


def starts_like_formula(text: str) -> bool:
    """Whether a spreadsheet could read ``text`` as a formula or an error rather than as text: such a cell is also
    marked as text (quote-prefixed), so that editing it in Excel does not make it a formula either. Digits and signs
    alone (every phone number in an export) call nothing and read nothing: they are not."""
    return text.startswith(FORMULA_STARTS) and text.lstrip(_DIGITS_AND_SIGNS) != ""


@functools.lru_cache(maxsize=4_096)  # the words and names repeated down a column are made once
def _text_cell(text: str | None) -> str:
    """The XML of a cell holding ``text`` as text, after its reference (``<c r="B2"`` comes before): an inline string,
    quote-prefixed when it starts like a formula. Characters a spreadsheet cannot hold are dropped: one such name
    must not fail a whole export. None (or nothing left): an empty cell."""
    if text and not text.isprintable():  # rare: a fast check first, then the slower clean-up
        text = _UNHOLDABLE.sub("", text)
    if not text:
        return "/>"
    style = f' s="{_QUOTED}"' if starts_like_formula(text) else ""
    body = escape(text)
    if "_x" in body:
        body = _LOOKS_ESCAPED.sub("_x005F_", body)
    if "\r" in body:  # an XML reader takes a CR for a line end; Excel writes it so
        body = body.replace("\r", "_x000D_")
    space = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else ""
    return f'{style} t="inlineStr"><is><t{space}>{body}</t></is></c>'


class TooBig(Exception):
    """The packed workbook passed the size it may have (``write``'s ``max_bytes``)."""


def write(
    target: str | Path | IO[bytes],
    sheet: str,
    columns: Sequence[Column],
    rows: Iterable[Sequence[Any]],
    *,
    max_bytes: int | None = None,
) -> int:
    """A workbook of one sheet named ``sheet`` at ``target``: the header, then a row per item of ``rows`` (a value
    per column, as its kind says). Returns how many rows there were. Past ``max_bytes`` packed, ``TooBig`` is raised
    as soon as it is seen, the rows left unread (and a partial file left at ``target``). Without it, a sheet past
    2 GiB of XML (some four million rows) fails: the zip would need ZIP64, which not every spreadsheet reads."""
    if not 0 < len(columns) <= len(_LETTERS):
        raise ValueError(f"{len(columns)} columns: 1 to {len(_LETTERS)} are written")
    last = _LETTERS[len(columns) - 1]
    template = _row_template(columns)
    cells = [_CELLS[column.kind] for column in columns]
    count = 0
    with _binary(target) as file:

        def fits() -> None:
            if max_bytes is not None and file.tell() > max_bytes:
                raise TooBig(f"{file.tell()} bytes packed, past {max_bytes}")

        with zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as book:
            for name, part in _FIXED_PARTS.items():
                book.writestr(name, part)
            with book.open("xl/worksheets/sheet1.xml", "w") as stream:
                stream.write(_sheet_head(columns).encode())
                batch: list[str] = []
                for count, row in enumerate(rows, start=1):
                    batch.append(template.format(count + 1, *map(operator.call, cells, row)))
                    if len(batch) == BATCH_ROWS:
                        stream.write("".join(batch).encode())
                        batch.clear()
                        fits()
                stream.write("".join(batch).encode())
                stream.write(f'</sheetData><autoFilter ref="A1:{last}{count + 1}"/>{_MARGINS}</worksheet>'.encode())
            book.writestr("xl/workbook.xml", _workbook(sheet, f"$A$1:${last}${count + 1}"))
        fits()
    return count


@contextlib.contextmanager
def _binary(target: str | Path | IO[bytes]) -> Iterator[IO[bytes]]:
    """``target`` as a file open for writing: a path opened here (and closed), a file as it is."""
    if isinstance(target, str | Path):
        with open(target, "wb") as file:
            yield file
    else:
        yield target


def _serial_day(local: int) -> float:
    return local / _DAY + _UNIX_EPOCH


def _days(seconds: int) -> float:
    return seconds / _DAY


# What a value of each kind of column becomes in the row's template.
_CELLS: dict[Kind, Callable[[Any], Any]] = {"moment": _serial_day, "duration": _days, "text": _text_cell}


def _row_template(columns: Sequence[Column]) -> str:
    """A row's XML with ``{0}`` for its number and ``{1}``… for its cells' values (a text cell's, ``_text_cell``)."""
    cells = []
    for i, (letter, column) in enumerate(zip(_LETTERS, columns, strict=False), start=1):
        if column.kind == "text":
            cells.append(f'<c r="{letter}{{0}}"{{{i}}}')
        else:
            style = _MOMENT if column.kind == "moment" else _DURATION
            cells.append(f'<c r="{letter}{{0}}" s="{style}"><v>{{{i}!r}}</v></c>')
    return '<row r="{0}">' + "".join(cells) + "</row>"


def _sheet_head(columns: Sequence[Column]) -> str:
    widths = "".join(
        f'<col min="{i}" max="{i}" width="{column.width}" customWidth="1"/>' for i, column in enumerate(columns, 1)
    )
    header = "".join(
        f'<c r="{letter}1" s="{_BOLD}" t="inlineStr"><is><t>{escape(column.title)}</t></is></c>'
        for letter, column in zip(_LETTERS, columns, strict=False)
    )
    return (
        f"{_DECLARATION}<worksheet {_MAIN_NS} {_R_NS}>"
        '<sheetViews><sheetView tabSelected="1" workbookViewId="0">'
        '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/><selection pane="bottomLeft"/>'
        '</sheetView></sheetViews><sheetFormatPr defaultRowHeight="15"/>'
        f'<cols>{widths}</cols><sheetData><row r="1">{header}</row>'
    )


def _workbook(sheet: str, filtered: str) -> str:
    # The autofilter's range is also a hidden defined name, as Excel keeps it; a sheet's name is quoted in it.
    reference = escape("'" + sheet.replace("'", "''") + "'!" + filtered)
    return (
        f"{_DECLARATION}<workbook {_MAIN_NS} {_R_NS}>"
        f'<sheets><sheet name={quoteattr(sheet)} sheetId="1" r:id="rId1"/></sheets>'
        f'<definedNames><definedName name="_xlnm._FilterDatabase" localSheetId="0" hidden="1">{reference}'
        "</definedName></definedNames></workbook>"
    )


_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_MAIN_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_R_NS = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
_MARGINS = '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
_OFFICE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_FONT = '<sz val="11"/><name val="Calibri"/><family val="2"/><scheme val="minor"/>'
_XF = 'fontId="0" fillId="0" borderId="0" xfId="0"'
_FIXED_PARTS = {
    "[Content_Types].xml": (
        f'{_DECLARATION}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{_TYPE}.sheet.main+xml"/>'
        f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_TYPE}.worksheet+xml"/>'
        f'<Override PartName="/xl/styles.xml" ContentType="{_TYPE}.styles+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        f'{_DECLARATION}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{_OFFICE}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/_rels/workbook.xml.rels": (
        f'{_DECLARATION}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{_OFFICE}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{_OFFICE}/styles" Target="styles.xml"/></Relationships>'
    ),
    # The formats openpyxl gave these kinds, which the exports have had from the start; the cell formats in the
    # order of _BOLD, _MOMENT, _DURATION, _QUOTED.
    "xl/styles.xml": (
        f"{_DECLARATION}<styleSheet {_MAIN_NS}>"
        '<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy-mm-dd h:mm:ss"/>'
        '<numFmt numFmtId="165" formatCode="[hh]:mm:ss"/></numFmts>'
        f'<fonts count="2"><font>{_FONT}</font><font><b/>{_FONT}</font></fonts>'
        '<fills count="2"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill></fills>'
        '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        f'<cellXfs count="5"><xf numFmtId="0" {_XF}/>'
        '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
        f'<xf numFmtId="164" {_XF} applyNumberFormat="1"/><xf numFmtId="165" {_XF} applyNumberFormat="1"/>'
        f'<xf numFmtId="0" {_XF} quotePrefix="1"/></cellXfs>'
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        '<dxfs count="0"/><tableStyles count="0"/></styleSheet>'
    ),
}
