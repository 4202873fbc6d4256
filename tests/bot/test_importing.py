"""The import parsers: customer lists as Excel, Google, Outlook and phones write them, read into (number, name) rows,
with each unreadable line named by its number and reason."""

from __future__ import annotations

import io
import random
import time
import tracemalloc
import zipfile

import openpyxl
import pytest

from bot.contacts import importing
from bot.contacts.importing import Parsed, Unreadable, Unusable, parse
from tests.bot import spreadsheets

IVAN, PETR, ANNA = "79161234567", "79035551122", "74951234567"


def test_russian_excel_csv_in_windows_1251_with_semicolons_and_bad_rows_by_line() -> None:
    text = (
        "Имя;Телефон\r\n"
        "Иванов, Иван;8 916 123-45-67\r\n"
        "Пётр;+7 (903) 555-11-22\r\n"
        ";8 916 000 00 00\r\n"
        "Без номера;\r\n"
        ";\r\n"  # blank: not a customer, not a problem
        "Буквы;8 916 ABC-45-67\r\n"
        "Короткий;12345\r\n"
    )
    assert parse("клиенты.csv", text.encode("cp1251")) == Parsed(
        rows=[(IVAN, "Иванов, Иван"), (PETR, "Пётр")],
        unreadable=[
            Unreadable(4, "no_name", "8 916 000 00 00"),
            Unreadable(5, "no_number", "Без номера"),
            Unreadable(7, "letters", "8 916 ABC-45-67"),
            Unreadable(8, "not_phone", "12345"),
        ],
        lines=6,
        repeated=0,
    )


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_utf8_csv_with_commas_with_or_without_bom(bom: bytes) -> None:
    data = bom + b'name,phone,email\nIvan Petrov,+79161234567,ivan@example.com\n"Petr, Ltd",8 903 555 11 22,\n'
    assert parse("export.CSV", data).rows == [(IVAN, "Ivan Petrov"), (PETR, "Petr, Ltd")]


def test_utf16_csv_with_tabs_as_excel_saves_unicode_text() -> None:
    data = "Телефон\tФИО\n+7 916 123-45-67\tИванов Иван\n".encode("utf-16")
    assert parse("a.csv", data).rows == [(IVAN, "Иванов Иван")]


def test_a_number_column_and_a_text_column_need_no_header() -> None:
    data = "89161234567;Иван\n8 903 555 11 22;Пётр\n".encode()
    assert parse("a.csv", data) == Parsed([(IVAN, "Иван"), (PETR, "Пётр")], [], lines=2, repeated=0)


def test_a_header_in_unknown_words_is_still_a_header() -> None:
    data = "Покупатель;Мобила\nИван;89161234567\n".encode()
    assert parse("a.csv", data) == Parsed([(IVAN, "Иван")], [], lines=1, repeated=0)


def test_the_phone_column_is_the_one_holding_numbers_among_several_headed_phone() -> None:
    data = (
        b"Name,Given Name,Phone 1 - Type,Phone 1 - Value\n"
        b"Ivan Petrov,Ivan,Mobile,+7 916 123-45-67\n"
        b"Anna,Anna,Work,+7 495 123-45-67\n"
    )
    assert parse("google.csv", data).rows == [(IVAN, "Ivan Petrov"), (ANNA, "Anna")]


def test_russian_numbers_in_every_usual_form_are_one_number() -> None:
    typed = ["8 916 123-45-67", "+7 (916) 123-45-67", "916 123 45 67", "79161234567", "8(916)1234567"]
    data = "\n".join(f"{number};Имя {i}" for i, number in enumerate(typed)).encode()
    parsed = parse("a.csv", data)
    assert parsed.rows == [(IVAN, "Имя 4")]  # the last line wins
    assert (parsed.lines, parsed.repeated) == (5, 4)


def test_names_too_long_and_whitespace_inside_names() -> None:
    data = f"Имя;Телефон\n  Иван   Петров ;89161234567\n{'Я' * 101};89035551122\n".encode()
    parsed = parse("a.csv", data)
    assert parsed.rows == [(IVAN, "Иван Петров")]
    assert parsed.unreadable == [Unreadable(3, "name_too_long", "Я" * 39 + "…")]


def test_a_quoted_cell_over_two_lines_names_the_row_by_its_first_line() -> None:
    data = 'Имя;Телефон\n"Иван\nПетров";8 916 ABC\nПётр;89035551122\n'.encode()
    parsed = parse("a.csv", data)
    assert parsed.unreadable == [Unreadable(2, "letters", "8 916 ABC")]
    assert parsed.rows == [(PETR, "Пётр")]


def xlsx(rows: list[list[object]], *, second_sheet: bool = False) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    if second_sheet:
        book.create_sheet("Другое").append(["Имя", "Телефон"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_xlsx_first_sheet_numbers_stored_as_numbers_and_bad_rows_by_sheet_row() -> None:
    data = xlsx(
        [
            ["ФИО", "Номер телефона", "Комментарий"],
            ["Иванов Иван", 79161234567, "постоянный"],
            [None, None, None],
            ["Пётр", "+7 (903) 555-11-22", None],
            ["Анна", 74951234567.0, None],
            ["Нет номера", None, None],
            ["Буквы", "8-916-доб-12", None],
        ],
        second_sheet=True,
    )
    assert parse("book.xlsx", data) == Parsed(
        rows=[(IVAN, "Иванов Иван"), (PETR, "Пётр"), (ANNA, "Анна")],
        unreadable=[Unreadable(6, "no_number", "Нет номера"), Unreadable(7, "letters", "8-916-доб-12")],
        lines=5,
        repeated=0,
    )


VCARDS = """BEGIN:VCARD
VERSION:2.1
N;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:=D0=98=D0=B2=D0=B0=D0=BD=D0=BE=D0=B2;=D0=98=D0=B2=D0=B0=
=D0=BD;;;
TEL;CELL:+7 916 123-45-67
TEL;HOME:8 (495) 123-45-67
END:VCARD
BEGIN:VCARD
VERSION:3.0
FN:Пётр\\, ООО «Ромашка»
item1.TEL;TYPE=cell:+7 903 555
 -11-22
END:VCARD
BEGIN:VCARD
VERSION:4.0
FN:Нет номера
END:VCARD
BEGIN:VCARD
VERSION:4.0
FN:Буквы
TEL;VALUE=uri;TYPE=cell:tel:+7-916-ABC-45-67
TEL;VALUE=uri:tel:+7-916-000-11-22;ext=5
END:VCARD
BEGIN:VCARD
VERSION:3.0
TEL:89990001122
END:VCARD
"""


def test_vcard_every_tel_of_each_card_under_its_name() -> None:
    assert parse("contacts.vcf", VCARDS.replace("\n", "\r\n").encode()) == Parsed(
        rows=[(IVAN, "Иван Иванов"), (ANNA, "Иван Иванов"), (PETR, "Пётр, ООО «Ромашка»"), ("79160001122", "Буквы")],
        unreadable=[
            Unreadable(14, "no_number", "Нет номера"),
            Unreadable(21, "letters", "+7-916-ABC-45-67"),
            Unreadable(26, "no_name", "89990001122"),
        ],
        lines=7,
        repeated=0,
    )


@pytest.mark.parametrize(
    ("filename", "data", "reason"),
    [
        ("junk.csv", random.Random(1).randbytes(5000), "not_text"),
        ("junk.vcf", random.Random(2).randbytes(5000), "not_text"),
        ("junk.xlsx", random.Random(3).randbytes(5000), "bad_xlsx"),
        ("renamed.xlsx", "Имя;Телефон\nИван;89161234567\n".encode(), "bad_xlsx"),
        ("photo.jpg", b"\xff\xd8\xff\xe0", "format"),
        ("empty.csv", b"  \r\n", "empty"),
        ("numbers.csv", b"89161234567\n89035551122\n", "no_columns"),
        ("names.csv", "Иван;Пётр\nАнна;Олег\n".encode(), "no_columns"),
        ("letter.vcf", b"Dear customer,\nhello\n", "no_cards"),
    ],
)
def test_a_file_that_cannot_be_read_as_a_whole_says_why(filename: str, data: bytes, reason: str) -> None:
    with pytest.raises(Unusable) as refused:
        parse(filename, data)
    assert refused.value.reason == reason


def test_more_rows_than_the_limit_are_refused_without_reading_them_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importing, "MAX_ROWS", 100)
    data = "".join(f"8916{n:07d};Клиент {n}\n" for n in range(101)).encode()
    with pytest.raises(Unusable) as refused:
        parse("big.csv", data)
    assert refused.value.reason == "too_many_rows"
    assert len(parse("fits.csv", data[: data.index(b"89160000100")]).rows) == 100


def test_an_xlsx_that_unpacks_into_too_much_is_refused_before_it_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importing, "MAX_UNPACKED", 10_000)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", "<a/>" * 10_000)
    with pytest.raises(Unusable) as refused:
        parse("bomb.xlsx", out.getvalue())
    assert refused.value.reason == "too_big_unpacked"


def refused_why(filename: str, data: bytes) -> str:
    with pytest.raises(Unusable) as refused:
        parse(filename, data)
    return refused.value.reason


def with_parts(data: bytes, parts: dict[str, bytes]) -> bytes:
    """The .xlsx with these parts added or put in place of its own."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in source.namelist():
            archive.writestr(name, parts.pop(name, None) or source.read(name))
        for name, part in parts.items():
            archive.writestr(name, part)
    return out.getvalue()


NAMED = spreadsheets.excel_like([["Имя", "Телефон"], ["Иван", IVAN]])


def test_an_xlsx_whose_parts_would_cost_openpyxl_too_much_is_refused_by_counting_them_first() -> None:
    # Each of these was read by openpyxl before: seconds of CPU and hundreds of MB for files of kilobytes.
    too_many = importing.MAX_CELLS + 1
    assert refused_why("texts.xlsx", spreadsheets.shared_strings_bomb(too_many)) == "too_many_cells"
    assert refused_why("lying.xlsx", spreadsheets.shared_strings_bomb(too_many, stated=1)) == "too_many_cells"
    assert refused_why("cells.xlsx", spreadsheets.huge_rows(16, 16_384)) == "too_many_cells"
    styles = f'<styleSheet xmlns="{spreadsheets.NS}"><cellXfs>{"<xf/>" * 100_001}</cellXfs></styleSheet>'
    assert refused_why("styles.xlsx", with_parts(NAMED, {"xl/styles.xml": styles.encode()})) == "too_many_cells"
    # A part openpyxl finds by a relationship may have any name: each part is counted, whatever it is called.
    other = f'<sst xmlns="{spreadsheets.NS}">{"<si/>" * (importing.MAX_CELLS + 1)}</sst>'
    assert refused_why("renamed.xlsx", with_parts(NAMED, {"xl/strings.bin": other.encode()})) == "too_many_cells"


def test_an_xlsx_no_excel_would_write_is_refused_as_such() -> None:
    assert refused_why("row.xlsx", spreadsheets.huge_rows(1, 70_000)) == "bad_xlsx"  # a row held whole by openpyxl
    entity = (
        f'<!DOCTYPE worksheet [<!ENTITY row "<row><c><v>1</v></c></row>">]><worksheet xmlns="{spreadsheets.NS}">'
        "<sheetData>&row;&row;</sheetData></worksheet>"
    )
    assert refused_why("entities.xlsx", with_parts(NAMED, {"xl/worksheets/sheet1.xml": entity.encode()})) == "bad_xlsx"
    parts = {f"junk/{n}.txt": b"" for n in range(1_001)}
    assert refused_why("parts.xlsx", with_parts(NAMED, parts)) == "bad_xlsx"


def test_a_vcard_value_folded_over_many_lines_is_read_in_linear_time() -> None:
    card = b"BEGIN:VCARD\r\nFN:Ivan\r\nNOTE:" + b" a\r\n" * 600_000 + b"TEL:89161234567\r\nEND:VCARD\r\n"
    started = time.monotonic()
    assert parse("long.vcf", card).rows == [(IVAN, "Ivan")]
    assert time.monotonic() - started < 2  # ~0.3 s; before, each line copied all the lines before it (~8 s)


def test_a_vcard_of_one_card_with_a_number_on_every_line_is_refused_without_holding_them_all() -> None:
    card = ("BEGIN:VCARD\r\nFN:Ivan\r\n" + "TEL:1\r\n" * 700_000 + "END:VCARD\r\n").encode()  # 4.9 MB
    tracemalloc.start()
    try:
        assert refused_why("many.vcf", card) == "too_many_rows"
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 60_000_000  # ~26 MB, the text twice over; before, the card kept every number until its end (154 MB)
