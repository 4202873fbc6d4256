"""The export's sheet writer: a package a spreadsheet opens (its parts, well-formed, in the order the schema gives),
read back by openpyxl with the types and the values written, whatever the text."""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from xml.etree import ElementTree

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from openpyxl.utils.escape import unescape

from bot.reports import xlsx

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
TYPES = "{http://schemas.openxmlformats.org/package/2006/content-types}"
COLUMNS = [xlsx.Column("Время", "moment", 20), xlsx.Column("Имя", "text", 26), xlsx.Column("Разговор", "duration", 10)]
# What no cell can hold (dropped), what XML or Excel would read otherwise (escaped), and what is plain.
AWKWARD = ["\x00", "\x07", "\x0b", "\x1f", "\ud800", "\udfff", "\ufffe", "\uffff", "\t", "\n", "\r", " ", "&", "<", ">",
           '"', "'", "]]>", "_x0041_", "_x005F_", "_xZZZZ_", "_x", "=", "+", "-", "@", "#", "Ё", "😀"]  # fmt: skip
XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"


def written(columns: list[xlsx.Column], rows: list[tuple[Any, ...]], sheet: str = "Звонки") -> io.BytesIO:
    book = io.BytesIO()
    assert xlsx.write(book, sheet, columns, rows) == len(rows)
    book.seek(0)
    return book


def test_the_package_has_the_parts_a_spreadsheet_needs_each_well_formed_and_in_the_schemas_order() -> None:
    rows = [(1_764_547_200 + n, "".join(AWKWARD[n:]), n * 61) for n in range(len(AWKWARD))]
    with zipfile.ZipFile(written(COLUMNS, rows, sheet="Calls & 'Co'")) as package:
        parts = {name: ElementTree.fromstring(package.read(name)) for name in package.namelist()}  # each one parses
    assert set(parts) == {
        "[Content_Types].xml",
        "_rels/.rels",
        "xl/workbook.xml",
        "xl/_rels/workbook.xml.rels",
        "xl/styles.xml",
        "xl/worksheets/sheet1.xml",
    }
    # Every part but the relationships has its content type; every relationship leads to a part.
    overridden = {element.get("PartName") for element in parts["[Content_Types].xml"].iter(f"{TYPES}Override")}
    assert overridden == {f"/{name}" for name in parts if not name.endswith(".rels") and name.startswith("xl/")}
    for rels, base in (("_rels/.rels", ""), ("xl/_rels/workbook.xml.rels", "xl/")):
        assert {base + element.get("Target", "") for element in parts[rels].iter(f"{RELS}Relationship")} <= set(parts)

    sheet = parts["xl/worksheets/sheet1.xml"]
    order = ["sheetViews", "sheetFormatPr", "cols", "sheetData", "autoFilter", "pageMargins"]  # CT_Worksheet's
    assert [child.tag.removeprefix(MAIN) for child in sheet] == order
    data = sheet.find(f"{MAIN}sheetData")
    assert data is not None and [row.get("r") for row in data] == [str(n) for n in range(1, len(rows) + 2)]
    assert sheet.find(f"{MAIN}autoFilter").get("ref") == f"A1:C{len(rows) + 1}"  # type: ignore[union-attr]
    # Excel drops a text's leading and trailing spaces unless told to keep them.
    spaced = [t for t in sheet.iter(f"{MAIN}t") if t.text and (t.text[0].isspace() or t.text[-1].isspace())]
    assert spaced and all(t.get(XML_SPACE) == "preserve" for t in spaced)
    (name,) = parts["xl/workbook.xml"].iter(f"{MAIN}definedName")
    assert name.text == f"'Calls & ''Co'''!$A$1:$C${len(rows) + 1}"
    styles = parts["xl/styles.xml"]
    formats = styles.find(f"{MAIN}cellXfs")
    assert formats is not None and formats.get("count") == str(len(formats))


def test_cells_read_back_typed_under_a_bold_frozen_filtered_header(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xlsx, "BATCH_ROWS", 2)  # rows cross several writes of the zip entry
    # Local moments, and talks past a day: [hh] keeps counting hours.
    cases = [(datetime(2025, 12, 31, 23, 59, 59), 0), (datetime(2026, 1, 1), 59), (datetime(1999, 3, 28, 2), 360_001)]
    epoch = datetime(1970, 1, 1)
    rows = [(int((moment - epoch).total_seconds()), f"№{n}", talk) for n, (moment, talk) in enumerate(cases)]
    sheet = load_workbook(written(COLUMNS, rows, sheet="Calls & 'Co'")).active
    assert sheet is not None and sheet.title == "Calls & 'Co'"
    expected = [(moment, f"№{n}", timedelta(seconds=talk)) for n, (moment, talk) in enumerate(cases)]
    assert list(sheet.iter_rows(values_only=True)) == [("Время", "Имя", "Разговор"), *expected]
    header, *cells = sheet.iter_rows()
    assert all(cell.font.b for cell in header) and not any(cell.font.b for row in cells for cell in row)
    assert [cell.number_format for cell in cells[0]] == ["yyyy-mm-dd h:mm:ss", "General", "[hh]:mm:ss"]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:C4"
    assert [sheet.column_dimensions[letter].width for letter in "ABC"] == [20, 26, 10]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.none() | st.lists(st.characters() | st.sampled_from(AWKWARD)).map("".join), min_size=1))
def test_any_text_reads_back_as_it_was_less_what_no_cell_can_hold(texts: list[str | None]) -> None:
    columns = [xlsx.Column(str(n), "text", 10) for n in range(len(texts[:26]))]
    (row,) = load_workbook(written(columns, [tuple(texts[:26])])).active.iter_rows(min_row=2)  # type: ignore[union-attr]
    for cell, text in zip(row, texts, strict=False):
        kept = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]", "", text or "")
        if not kept:
            assert cell.value is None
            continue
        # openpyxl leaves Excel's _xHHHH_ escapes as they are: a CR is _x000D_, a written "_x0041_" _x005F_x0041_.
        assert (cell.data_type, unescape(cell.value)) == ("s", kept)
        assert cell.quotePrefix == xlsx.starts_like_formula(kept)


def test_a_workbook_past_its_size_is_given_up_as_soon_as_that_is_seen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xlsx, "BATCH_ROWS", 10)
    read = 0

    def rows(count: int) -> Iterator[tuple[int, str, int]]:
        nonlocal read
        for n in range(count):
            read += 1
            yield n, os.urandom(50).hex(), n  # text that packs badly, as a long export's does in bulk

    with pytest.raises(xlsx.TooBig):
        xlsx.write(io.BytesIO(), "x", COLUMNS, rows(10_000), max_bytes=50_000)
    assert read < 2_000  # the rest were never read
    within = io.BytesIO()
    assert xlsx.write(within, "x", COLUMNS, rows(100), max_bytes=50_000) == 100
    assert len(within.getvalue()) <= 50_000
