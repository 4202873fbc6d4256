"""Customer lists as people export them — a CSV from Excel, an .xlsx sheet, a phone's .vcf — read into
(number, name) rows, with the lines that could not be read and why.

Pure and synchronous, and slow on big files (``phonenumbers`` takes ~0.1 ms a number): the bot runs it in a
worker thread, which nothing can stop, so the reading bounds itself: the lines, the cells and what an .xlsx unpacks
to are counted before they cost much, and the clock is looked at between lines. A file that cannot be read as a
whole, or is past a bound, raises ``Unusable``; a bad line is reported, not fatal.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import quopri
import re
import time
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, Literal
from xml.parsers import expat

from bot import interpreter
from bot.contacts import names
from bot.texts import echo
from newtel import phones

MAX_ROWS = 20_000  # lines with something in them; a bigger list is to be split
MAX_NAME = 100  # characters of a customer's name
MAX_SECONDS = 20  # to read one file, looked at between lines (a legitimate 20,000 rows take ~3 s)
MAX_CELLS = 250_000  # of an .xlsx (20,000 rows of 12 columns), and as many texts in its shared strings table
MAX_UNPACKED = 50 * 1024 * 1024  # bytes an .xlsx unpacks to, as its zip directory states (zipfile reads no more)
FORMATS = {".csv": "csv", ".xlsx": "xlsx", ".vcf": "vcf"}

_MAX_LINES = 10 * MAX_ROWS  # blank lines included: a sheet of a million empty rows is refused, not walked
_MAX_COLUMNS = 100
_SAMPLE = 200  # rows looked at to find the columns
_VALUE_SHOWN = 40  # characters of a bad cell quoted back

Reason = Literal["no_number", "letters", "not_phone", "no_name", "name_too_long", "hidden_char"]  # of a line
Problem = Literal[  # of a file
    "format", "not_text", "bad_xlsx", "too_many_rows", "no_columns", "no_cards", "empty",
    "too_big_unpacked", "too_many_cells", "too_slow",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Unreadable:
    line: int  # 1-based, as the file's editor shows it (a sheet's row number, a text file's line)
    reason: Reason
    value: str = ""  # the cell that was wrong, shortened


@dataclass(frozen=True, slots=True)
class Extension:
    line: int
    number: str  # international digits, as kept
    extension: str  # as typed after it ("доб. 5": "5"), left out: New-Tel dials none


@dataclass(frozen=True, slots=True)
class Parsed:
    rows: list[tuple[str, str]]  # (international digits, name), one per number: a later line wins
    unreadable: list[Unreadable]
    lines: int  # lines with a customer in them (the header and blank lines not counted)
    repeated: int  # lines whose number an earlier line already had
    extensions: list[Extension] = field(default_factory=list)  # lines read without the extension their number had


class Unusable(Exception):
    """The file as a whole cannot be read; ``reason`` names the text that says why."""

    def __init__(self, reason: Problem) -> None:
        super().__init__(reason)
        self.reason = reason


def kind_of(filename: str) -> str | None:
    """ "csv", "xlsx" or "vcf" by the file's extension (any case), else None."""
    lowered = filename.lower()
    return next((kind for extension, kind in FORMATS.items() if lowered.endswith(extension)), None)


def parse(filename: str, data: bytes) -> Parsed:
    kind = kind_of(filename)
    if kind is None:
        raise Unusable("format")
    if not data.strip():
        raise Unusable("empty")
    deadline = _Deadline(MAX_SECONDS)
    if kind == "xlsx":
        return _parse_xlsx(data, deadline)
    if kind == "vcf":
        return _parse_vcf(data, deadline)
    return _parse_csv(data, deadline)


class _Deadline:
    """The time a file may take to read: a worker thread cannot be stopped, so the reading looks at the clock."""

    def __init__(self, seconds: float) -> None:
        self._at = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() >= self._at:
            raise Unusable("too_slow")


# --- one line at a time --------------------------------------------------------------------------------------


class _Book:
    """Collects the customers of a file, a line at a time."""

    def __init__(self) -> None:
        self._named: dict[str, str] = {}
        self._unreadable: list[Unreadable] = []
        self._lines = 0
        self._repeated = 0
        self._extensions: list[Extension] = []

    def add(self, line: int, number: str, name: str) -> None:
        number, name = number.strip(), " ".join(name.split())
        if not number and not name:
            return
        self._lines += 1
        if self._lines > MAX_ROWS:
            raise Unusable("too_many_rows")
        number, extension = phones.split_extension(number)
        problem = _number_problem(number)
        digits = None if problem else phones.destination(number)
        if problem == "no_number":
            self._unreadable.append(Unreadable(line, problem, echo(name, _VALUE_SHOWN)))  # whose number is missing
        elif problem or digits is None:
            self._unreadable.append(Unreadable(line, problem or "not_phone", echo(number, _VALUE_SHOWN)))
        elif not name:
            self._unreadable.append(Unreadable(line, "no_name", echo(number, _VALUE_SHOWN)))
        elif len(name) > MAX_NAME:
            self._unreadable.append(Unreadable(line, "name_too_long", echo(name, _VALUE_SHOWN)))
        elif (hidden := names.hidden_character(name)) is not None:  # shown by its code: it would not show itself
            self._unreadable.append(Unreadable(line, "hidden_char", names.code_point(hidden)))
        else:
            if digits in self._named:
                self._repeated += 1
                del self._named[digits]  # the later line wins, and takes the later place
            self._named[digits] = name
            if extension is not None:
                self._extensions.append(Extension(line, digits, extension))

    def parsed(self) -> Parsed:
        return Parsed(list(self._named.items()), self._unreadable, self._lines, self._repeated, self._extensions)


def _number_problem(number: str) -> Reason | None:
    if not number:
        return "no_number"
    if any(ch.isalpha() for ch in number):
        return "letters"
    return None


def _cell(value: object) -> str:
    """A cell as text: Excel keeps a long number typed without "+" as a float (79161234567.0)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


# --- tables: CSV and XLSX ------------------------------------------------------------------------------------

_PHONE_WORDS = ("телефон", "phone", "telephone", "номер", "mobile", "мобильн", "сотов", "cell")
_PHONE_EXACT = {"tel", "тел", "моб", "mob"}
_NAME_WORDS = ("имя", "name", "фио", "fio", "контакт", "contact", "клиент", "client", "customer", "наименован")
_NAME_EXACT = {"имя", "name", "фио", "fio", "full name", "клиент", "контакт", "contact", "customer"}
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # no text has these but tab and line breaks


def _table(rows: Iterable[tuple[int, Sequence[str]]], deadline: _Deadline) -> Parsed:
    """Rows of cells with their line numbers: finds the number and name columns, then reads every line."""
    kept: list[tuple[int, Sequence[str]]] = []
    for walked, (line, cells) in enumerate(rows, start=1):
        if walked > _MAX_LINES:
            raise Unusable("too_many_rows")
        deadline.check()
        if any(cell.strip() for cell in cells):
            kept.append((line, cells))
            if len(kept) > MAX_ROWS + 1:  # one more for a header
                raise Unusable("too_many_rows")
    if not kept:
        raise Unusable("empty")
    phone, name, header = _columns([cells for _, cells in kept[:_SAMPLE]])
    book = _Book()
    for line, cells in kept[1:] if header else kept:
        deadline.check()
        book.add(line, cells[phone] if phone < len(cells) else "", cells[name] if name < len(cells) else "")
    return book.parsed()


def _columns(sample: list[Sequence[str]]) -> tuple[int, int, bool]:
    """(number column, name column, whether the first row is a header): by the header's words, else by what the
    columns hold (a file of one number column and one text column needs no header)."""
    first, data = sample[0], sample[1:] or sample
    width = max(len(cells) for cells in sample)
    numbers = [sum(1 for cells in data if i < len(cells) and _looks_like_number(cells[i])) for i in range(width)]
    heads = [" ".join(re.findall(r"\w+", cell.casefold())) for cell in first]
    phone_heads = [i for i, head in enumerate(heads) if _is_phone_head(head)]
    name_heads = [i for i, head in enumerate(heads) if i not in phone_heads and _is_name_head(head)]
    if phone_heads and name_heads:
        phone = max(phone_heads, key=lambda i: (numbers[i], -i))  # "Phone 1 - Type" and "Phone 1 - Value"
        name = max(name_heads, key=lambda i: (heads[i] in _NAME_EXACT, -i))  # "Name" before "Given Name"
        return phone, name, True
    if not any(numbers):
        raise Unusable("no_columns")
    phone = max(range(width), key=lambda i: (numbers[i], -i))
    texts = [
        sum(1 for cells in data if i < len(cells) and any(ch.isalpha() for ch in cells[i])) if i != phone else -1
        for i in range(width)
    ]
    if max(texts) <= 0:
        raise Unusable("no_columns")
    name = max(range(width), key=lambda i: (texts[i], -i))
    # A header in words the lists above do not know ("Покупатель;Мобила"): no number in it, letters instead.
    header = phone < len(first) and not _looks_like_number(first[phone]) and any(ch.isalpha() for ch in first[phone])
    return phone, name, header


def _is_phone_head(head: str) -> bool:
    return any(word in _PHONE_EXACT or word.startswith(_PHONE_WORDS) for word in head.split())


def _is_name_head(head: str) -> bool:
    return head in _NAME_EXACT or any(word.startswith(_NAME_WORDS) for word in head.split())


def _looks_like_number(cell: str) -> bool:
    """Cheap, for telling columns apart: phone characters only (an extension after them aside), at least 9 digits."""
    number, _ = phones.split_extension(cell)
    return bool(phones.TYPED_CHARS.fullmatch(number)) and sum(ch.isdigit() for ch in number) >= 9


def _parse_csv(data: bytes, deadline: _Deadline) -> Parsed:
    """UTF-8 (with or without BOM), UTF-16 (Excel's "Unicode text") or Windows-1251; ``;`` (as Russian Excel
    writes it), ``,`` or tab between the cells."""
    text = _decode(data)
    delimiter = _delimiter(list(itertools.islice(_lines(text), _SAMPLE)))
    if delimiter is None:
        raise Unusable("no_columns")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)

    def rows() -> Iterator[tuple[int, Sequence[str]]]:
        start = 1
        try:
            for cells in reader:
                yield start, cells
                start = reader.line_num + 1  # a quoted cell may span lines: a row is named by its first
        except csv.Error as error:  # a NUL byte or an unclosed quote past the sample
            raise Unusable("not_text") from error

    return _table(rows(), deadline)


def _delimiter(lines: list[str]) -> str | None:
    """The delimiter that splits the most lines into the same number (≥ 2) of cells."""
    best: tuple[float, str] | None = None
    for candidate in (";", "\t", ","):  # in this order on a tie: ";" is Russian Excel's
        try:
            widths = [len(cells) for cells in csv.reader(lines, delimiter=candidate) if any(c.strip() for c in cells)]
        except csv.Error:
            continue
        if not widths:
            continue
        width, count = Counter(widths).most_common(1)[0]
        score = count / len(widths)
        if width >= 2 and (best is None or score > best[0]):
            best = (score, candidate)
    return None if best is None else best[1]


def _decode(data: bytes) -> str:
    """Text in the encodings exports use; binary junk (NULs, control characters) is refused."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings = ["utf-16"]
    elif data.startswith(codecs.BOM_UTF8):
        encodings = ["utf-8-sig"]
    else:
        encodings = ["utf-8", "cp1251"]  # Windows' Russian: every byte but 0x98 is a character in it
    text = None
    for encoding in encodings:
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    if text is None:
        raise Unusable("not_text")
    controls = sum(1 for _ in _CONTROLS.finditer(text))
    if "\x00" in text or controls > len(text) // 100:
        raise Unusable("not_text")
    return text


def _parse_xlsx(data: bytes, deadline: _Deadline) -> Parsed:
    """The first sheet, by the same rules as a CSV, once ``_census`` found nothing that would cost openpyxl too
    much."""
    import openpyxl  # imported here: only imports pay for it

    interpreter.loaded("openpyxl")

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            _census(archive, deadline)
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Unusable:
        raise
    except Exception as error:  # openpyxl and zipfile raise many kinds of error on a malformed file
        raise Unusable("bad_xlsx") from error
    try:
        deadline.check()  # openpyxl's loading cannot be interrupted: the census bounded it
        if not workbook.worksheets:
            raise Unusable("empty")
        sheet = workbook.worksheets[0]
        # Its <dimension> may claim 16,384 columns and a million rows: without it openpyxl pads no row, and an
        # empty row is an empty tuple.
        sheet.reset_dimensions()
        rows = (
            (line, [_cell(value) for value in values[:_MAX_COLUMNS]])
            for line, values in enumerate(sheet.iter_rows(values_only=True), start=1)
        )
        try:
            return _table(rows, deadline)
        except Unusable:
            raise
        except Exception as error:  # a sheet whose XML breaks off half-way
            raise Unusable("bad_xlsx") from error
    finally:
        workbook.close()


_XLSX_MAX_PARTS = 1_000  # files in the zip: Excel writes a dozen or two
_XLSX_MAX_ELEMENTS = 4 * MAX_CELLS  # XML elements in all the parts: a cell is two or three (<c><v>), a text two
_XLSX_MAX_BUILT = 100_000  # elements of the parts openpyxl builds whole (styles: ~30 µs and ~1 KB each)
_XLSX_ROW_ELEMENTS = 4 * 16_384  # elements in one row (Excel's widest is 16,384 cells): openpyxl holds a row whole
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main "  # expat's namespace, then a space, then the name
_STREAMED = {_MAIN + "worksheet", _MAIN + "sst"}  # parts openpyxl reads element by element; the others whole


def _census(archive: zipfile.ZipFile, deadline: _Deadline) -> None:
    """Refuses an .xlsx that would cost openpyxl too much, before it reads any: first by the zip's directory, then
    by counting every part's XML elements with expat, which builds nothing (openpyxl finds its parts through
    relationships that may name any file, so every part is counted). A part that is not XML, or breaks off,
    counts up to where expat stops: openpyxl stops there too."""
    parts = archive.infolist()
    if len(parts) > _XLSX_MAX_PARTS:
        raise Unusable("bad_xlsx")
    if sum(part.file_size for part in parts) > MAX_UNPACKED:
        raise Unusable("too_big_unpacked")
    totals = Counter[str]()
    for part in parts:
        with archive.open(part) as stream:
            _count(stream, totals, deadline)


def _count(stream: IO[bytes], totals: Counter[str], deadline: _Deadline) -> None:
    parser = expat.ParserCreate(namespace_separator=" ")
    depth = row_depth = in_row = 0  # row_depth: where the row being read began (0: outside rows)
    streamed = True

    def start(name: str, attributes: dict[str, str]) -> None:
        nonlocal depth, row_depth, in_row, streamed
        depth += 1
        totals["elements"] += 1
        if depth == 1:
            streamed = name in _STREAMED
            if name == _MAIN + "sst" and _number(attributes.get("uniqueCount")) > MAX_CELLS:
                raise Unusable("too_many_cells")  # as Excel says: refused at once (a lie is counted below)
        if not streamed:
            totals["built"] += 1
        if row_depth:
            in_row += 1
            if in_row > _XLSX_ROW_ELEMENTS:
                raise Unusable("bad_xlsx")  # no sheet Excel writes
        elif name == _MAIN + "row":
            row_depth, in_row = depth, 0
        if name == _MAIN + "c" or name == _MAIN + "si":
            totals[name] += 1
            if totals[name] > MAX_CELLS:
                raise Unusable("too_many_cells")
        if totals["elements"] > _XLSX_MAX_ELEMENTS or totals["built"] > _XLSX_MAX_BUILT:
            raise Unusable("too_many_cells")

    def end(_name: str) -> None:
        nonlocal depth, row_depth
        if depth == row_depth:
            row_depth = 0
        depth -= 1

    def doctype(*_: object) -> None:
        raise Unusable("bad_xlsx")  # none in an .xlsx, and its entities could make elements nobody wrote

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.StartDoctypeDeclHandler = doctype
    try:
        while chunk := stream.read(64 * 1024):
            parser.Parse(chunk, False)
            deadline.check()
        parser.Parse(b"", True)
    except expat.ExpatError:
        pass


def _number(text: str | None) -> int:
    return int(text) if text is not None and text.isascii() and text.isdigit() else 0


# --- vCard -------------------------------------------------------------------------------------------------


def _parse_vcf(data: bytes, deadline: _Deadline) -> Parsed:
    """Every TEL of each card under its FN (else N as "given family"); vCard 2.1 (quoted-printable, as Android
    exports Cyrillic), 3.0 and 4.0 (``tel:`` URIs)."""
    text = _decode(data)
    book, cards = _Book(), 0
    card: _Card | None = None
    for line, name, params, value in _properties(text, deadline):
        if name == "BEGIN" and value.strip().upper() == "VCARD":
            card, cards = _Card(line), cards + 1
        elif card is None:
            continue
        elif name == "END":
            card.into(book)
            card = None
        elif name == "FN":
            card.full_name = _unescape(_decoded(value, params))
        elif name == "N":
            parts = [_unescape(part) for part in re.split(r"(?<!\\);", _decoded(value, params))]
            card.structured = " ".join(part for part in (parts[1:2] + parts[:1]) if part.strip())
        elif name == "TEL":
            number = _unescape(value).strip()
            if number.lower().startswith("tel:"):
                number = number[4:].split(";", 1)[0]  # tel:+7-916-123-45-67;ext=5
            card.phones.append((line, number))
            if len(card.phones) > MAX_ROWS:  # one card of a million numbers is not kept until its END
                raise Unusable("too_many_rows")
    if card is not None:  # the last card lost its END
        card.into(book)
    if not cards:
        raise Unusable("no_cards")
    return book.parsed()


@dataclass
class _Card:
    line: int  # of its BEGIN
    full_name: str = ""
    structured: str = ""
    phones: list[tuple[int, str]] = field(default_factory=list)

    def into(self, book: _Book) -> None:
        name = self.full_name.strip() or self.structured
        if not self.phones:
            book.add(self.line, "", name or "?")  # a card without a number is said as such
        for line, number in self.phones:
            book.add(line, number, name)


def _properties(text: str, deadline: _Deadline) -> Iterator[tuple[int, str, list[str], str]]:
    """(line, NAME, parameters, value) of each property, folded lines joined back."""
    folded: _Folded | None = None
    for number, raw in enumerate(_lines(text), start=1):
        deadline.check()
        if folded is not None and raw[:1] in (" ", "\t"):  # RFC 6350 folding: the line goes on
            folded.add(raw[1:])
        elif folded is not None and folded.soft_break():
            folded.add(raw, soft=True)
        else:
            if folded is not None and (found := folded.property()) is not None:
                yield found
            folded = _Folded(number, raw)
    if folded is not None and (found := folded.property()) is not None:
        yield found


class _Folded:
    """One property's lines, kept apart and joined once: a value folded over a million lines costs a million
    appends, not a million copies of what came before."""

    def __init__(self, line: int, raw: str) -> None:
        self._line = line
        self._pieces: list[str] = []  # none empty, so the last one ends as the whole does
        self._head: str | None = None  # what comes before the first ":", once there is one
        self._quoted_printable = False  # said in the head
        self.add(raw)

    def add(self, piece: str, *, soft: bool = False) -> None:
        if soft:  # the "=" that said the value goes on is not part of it
            self._pieces[-1] = self._pieces[-1][:-1]
            if not self._pieces[-1]:
                self._pieces.pop()
        if self._head is None and ":" in piece:
            self._head = "".join(self._pieces) + piece.partition(":")[0]
            self._quoted_printable = "QUOTED-PRINTABLE" in self._head.upper()
        if piece:
            self._pieces.append(piece)

    def soft_break(self) -> bool:
        """A quoted-printable value (vCard 2.1) that goes on in the next line."""
        return self._quoted_printable and self._pieces[-1].endswith("=")

    def property(self) -> tuple[int, str, list[str], str] | None:
        """(line, NAME, parameters, value); None for a line without a ":"."""
        if self._head is None:
            return None
        name, *params = self._head.split(";")
        value = "".join(self._pieces)[len(self._head) + 1 :]
        return self._line, name.rsplit(".", 1)[-1].strip().upper(), [p.upper() for p in params], value


def _lines(text: str) -> Iterator[str]:
    """Lines one at a time, without their ends (CR, LF or CRLF): a 5 MB file of empty lines is not 2.5 million
    strings at once."""
    return (line.rstrip("\r\n") for line in io.StringIO(text, newline=""))


def _decoded(value: str, params: list[str]) -> str:
    if "ENCODING=QUOTED-PRINTABLE" not in params and "QUOTED-PRINTABLE" not in params:
        return value
    charset = next((p.split("=", 1)[1] for p in params if p.startswith("CHARSET=")), "UTF-8")
    try:
        return quopri.decodestring(value.encode("ascii", errors="replace")).decode(charset, errors="replace")
    except LookupError:  # a charset Python does not know
        return quopri.decodestring(value.encode("ascii", errors="replace")).decode("utf-8", errors="replace")


def _unescape(value: str) -> str:
    return re.sub(r"\\([\\,;nN])", lambda m: " " if m.group(1) in "nN" else m.group(1), value)
