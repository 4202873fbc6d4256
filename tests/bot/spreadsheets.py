"""Spreadsheets written part by part as Excel lays them out (a shared strings table, a ``<dimension>``, numbered rows
and cells): the ordinary ones an import reads, and the hostile ones it must refuse quickly. Used by the tests and
by ``bench/import_bounds.py``."""

from __future__ import annotations

import io
import itertools
import zipfile
from collections.abc import Iterable, Sequence
from xml.sax.saxutils import escape

from openpyxl.utils import get_column_letter

NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PACKAGE_RELS = "http://schemas.openxmlformats.org/package/2006/relationships"

Part = bytes | Iterable[bytes]  # chunks are compressed as they come: a bomb is never whole in memory


def package(sheet: Part, shared_strings: Part | None = None) -> bytes:
    """A one-sheet .xlsx around these parts."""
    strings_type = f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_TYPE}.sharedStrings+xml"/>'
    strings_rel = f'<Relationship Id="rId2" Type="{_RELS}/sharedStrings" Target="sharedStrings.xml"/>'
    with_strings = shared_strings is not None
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{_TYPE}.sheet.main+xml"/>'
            f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_TYPE}.worksheet+xml"/>'
            f"{strings_type if with_strings else ''}</Types>",
        )
        archive.writestr(
            "_rels/.rels",
            f'<Relationships xmlns="{_PACKAGE_RELS}">'
            f'<Relationship Id="rId1" Type="{_RELS}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        archive.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{NS}" xmlns:r="{_RELS}"><sheets>'
            '<sheet name="Клиенты" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<Relationships xmlns="{_PACKAGE_RELS}">'
            f'<Relationship Id="rId1" Type="{_RELS}/worksheet" Target="worksheets/sheet1.xml"/>'
            f"{strings_rel if with_strings else ''}</Relationships>",
        )
        _write(archive, "xl/worksheets/sheet1.xml", sheet)
        if shared_strings is not None:
            _write(archive, "xl/sharedStrings.xml", shared_strings)
    return out.getvalue()


def _write(archive: zipfile.ZipFile, name: str, part: Part) -> None:
    with archive.open(name, "w") as out:
        for chunk in [part] if isinstance(part, bytes) else part:
            out.write(chunk)


def sheet_xml(rows: Iterable[str], dimension: str | None = None) -> Iterable[bytes]:
    """A worksheet of these ``<row>`` elements, in chunks."""
    shown = f'<dimension ref="{dimension}"/>' if dimension else ""
    yield f'<worksheet xmlns="{NS}">{shown}<sheetData>'.encode()
    yield from _joined(rows, 1_000)
    yield b"</sheetData></worksheet>"


def excel_like(
    rows: Sequence[Sequence[str | int | None]], *, first_row: int = 1, dimension: str | None = None
) -> bytes:
    """Rows as Excel saves them from ``first_row`` on: texts in the shared strings table, numbers in their cells,
    the sheet's ``<dimension>`` as given (else the true one)."""
    strings: dict[str, int] = {}
    lines = []
    for number, values in enumerate(rows, start=first_row):
        cells = []
        for column, value in enumerate(values, start=1):
            where = f"{get_column_letter(column)}{number}"
            if isinstance(value, str):
                cells.append(f'<c r="{where}" t="s"><v>{strings.setdefault(value, len(strings))}</v></c>')
            elif value is not None:
                cells.append(f'<c r="{where}"><v>{value}</v></c>')
        lines.append(f'<row r="{number}">{"".join(cells)}</row>')
    width = max(len(values) for values in rows)
    dimension = dimension or f"A{first_row}:{get_column_letter(width)}{first_row + len(rows) - 1}"
    table = (f"<si><t>{escape(text)}</t></si>" for text in strings)
    return package(sheet_xml(lines, dimension), _strings_table(table, len(strings)))


def _strings_table(items: Iterable[str], count: int) -> Iterable[bytes]:
    yield f'<sst xmlns="{NS}" count="{count}" uniqueCount="{count}">'.encode()
    yield from _joined(items, 10_000)
    yield b"</sst>"


def _joined(items: Iterable[str], size: int) -> Iterable[bytes]:
    """``size`` items at a time, joined and encoded (itertools.batched is Python 3.12's)."""
    it = iter(items)
    while batch := "".join(itertools.islice(it, size)):
        yield batch.encode()


def customers(count: int) -> list[list[str | int | None]]:
    """A header and ``count`` customers: name, mobile number (stored as a number, as Excel keeps it), city."""
    return [["Имя", "Телефон", "Город"]] + [[f"Клиент {n}", 79160000000 + n, "Москва"] for n in range(count)]


def shared_strings_bomb(strings: int, *, stated: int | None = None) -> bytes:
    """One customer, and a shared strings table of ``strings`` more texts nobody uses (its count attribute says
    ``stated``, else the truth): the 223 KB file that took 54 s had 5.5 million (94 MB unpacked)."""
    sheet = sheet_xml(
        [
            '<row r="1"><c r="A1" t="inlineStr"><is><t>Имя</t></is></c>'
            '<c r="B1" t="inlineStr"><is><t>Телефон</t></is></c></row>',
            '<row r="2"><c r="A2" t="inlineStr"><is><t>Иван</t></is></c><c r="B2"><v>79161234567</v></c></row>',
        ]
    )
    said = strings if stated is None else stated
    return package(sheet, _strings_table(itertools.repeat("<si><t>ab</t></si>", strings), said))


def huge_rows(rows: int, width: int) -> bytes:
    """``rows`` rows of ``width`` filled cells each (Excel's widest is 16,384)."""
    return package(sheet_xml(f"<row>{'<c><v>1</v></c>' * width}</row>" for _ in range(rows)))
