"""What reading an /import file costs: hostile files (the Hardening II findings, and the worst we could build just
inside each bound) beside ordinary 20,000-row lists. Each file is read by ``importing.parse`` in a fresh process,
as the bot's worker thread reads it: the verdict, wall and CPU seconds, and the growth of the peak RSS past what
the process held before it (openpyxl and phonenumbers imported, the file's bytes loaded).

Usage: python bench/import_bounds.py [--only SUBSTRING]   (PYTHONPATH at the checkout: the builders are the tests')
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tests.bot import spreadsheets as xl

NS = xl.NS


def csv_rows(count: int) -> bytes:
    return ("Имя;Телефон;Город\n" + "".join(f"Клиент {n};+7 916 {n:07d};Москва\n" for n in range(count))).encode()


def vcards(count: int) -> bytes:
    card = (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Клиент;{n};;;\r\nFN:Клиент {n}\r\n"
        "TEL;TYPE=CELL:+7 916 {n:07d}\r\nEND:VCARD\r\n"
    )
    return "".join(card.format(n=n) for n in range(count)).encode()


def with_styles(count: int) -> bytes:
    """One customer, and ``count`` cell formats (Excel's own limit is 64,000): openpyxl builds each into objects."""
    import io
    import zipfile

    out = io.BytesIO()
    styles = f'<styleSheet xmlns="{NS}"><cellXfs>{"<xf/>" * count}</cellXfs></styleSheet>'
    with (
        zipfile.ZipFile(io.BytesIO(xl.excel_like(xl.customers(1)))) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive,
    ):
        for name in source.namelist():
            archive.writestr(name, source.read(name))
        archive.writestr("xl/styles.xml", styles)
    return out.getvalue()


def elements_outside_rows(count: int) -> bytes:
    """Elements openpyxl's sheet parser does not know, which it keeps until the sheet ends."""
    return xl.package(xl.sheet_xml(["<x/>" * 1_000] * (count // 1_000)))


CASES: list[tuple[str, str, Callable[[], bytes]]] = [
    ("ordinary: 20,000 rows as Excel saves them", "xlsx", lambda: xl.excel_like(xl.customers(20_000))),
    ("ordinary: 20,000 rows of CSV", "csv", lambda: csv_rows(20_000)),
    ("ordinary: 20,000 vCards", "vcf", lambda: vcards(20_000)),
    ("finding: 5.5 M shared strings (94 MB unpacked)", "xlsx", lambda: xl.shared_strings_bomb(5_500_000)),
    ("finding: 16,384-column dimension, rows from 190,001", "xlsx",
     lambda: xl.excel_like(xl.customers(3), first_row=190_001, dimension="A1:XFD1048576")),
    ("hostile: 250,001 shared strings", "xlsx", lambda: xl.shared_strings_bomb(250_001)),
    ("hostile: 250,001 shared strings, said to be 1", "xlsx", lambda: xl.shared_strings_bomb(250_001, stated=1)),
    ("hostile: 40 rows of 16,384 cells", "xlsx", lambda: xl.huge_rows(40, 16_384)),
    ("hostile: one row of 70,000 cells", "xlsx", lambda: xl.huge_rows(1, 70_000)),
    ("hostile: a vCard value folded over 1.25 M lines", "vcf",
     lambda: b"BEGIN:VCARD\r\nFN:x\r\nNOTE:" + b" a\r\n" * 1_250_000 + b"TEL:89161234567\r\nEND:VCARD\r\n"),
    ("hostile: one vCard with 700,000 numbers", "vcf",
     lambda: b"BEGIN:VCARD\r\nFN:x\r\n" + b"TEL:1\r\n" * 700_000 + b"END:VCARD\r\n"),
    ("inside the bounds: 249,999 shared strings", "xlsx", lambda: xl.shared_strings_bomb(249_999)),
    ("inside the bounds: 15 rows of 16,384 cells", "xlsx", lambda: xl.huge_rows(15, 16_384)),
    ("inside the bounds: 99,900 cell formats", "xlsx", lambda: with_styles(99_900)),
    ("inside the bounds: 990,000 unknown sheet elements", "xlsx", lambda: elements_outside_rows(990_000)),
    ("inside the bounds: CSV of 200 lines x 25,000 columns", "csv",
     lambda: b"Name;Phone" + b";" * 25_000 + b"\n" + (b"Ivan;89161234567" + b";" * 25_000 + b"\n") * 199),
    ("inside the bounds: 5 MB of vCard properties", "vcf", lambda: b"BEGIN:VCARD\r\n" + b"X:y\r\n" * 1_000_000),
]  # fmt: skip


def measure(path: Path, kind: str) -> dict[str, object]:
    """In this (fresh) process: read the file as the bot does."""
    import openpyxl  # noqa: F401  (imported before the baseline: every bot has paid for it already)

    from bot.contacts import importing
    from newtel import phones

    phones.destination("89161234567")  # phonenumbers' metadata loaded
    data = path.read_bytes()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    wall, cpu = time.monotonic(), time.process_time()
    try:
        parsed = importing.parse(f"file.{kind}", data)
        verdict = f"read: {len(parsed.rows)} customers"
    except importing.Unusable as refused:
        verdict = f"refused: {refused.reason}"
    return {
        "verdict": verdict,
        "wall": time.monotonic() - wall,
        "cpu": time.process_time() - cpu,
        "rss": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024,
        "size": len(data),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="")
    parser.add_argument("--one", nargs=2, metavar=("PATH", "KIND"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(Path(args.one[0]), args.one[1])))
        return
    print(f"{'file':54} {'size':>8}  {'verdict':32} {'wall s':>6} {'cpu s':>6} {'+RSS MB':>8}")
    with tempfile.TemporaryDirectory() as folder:
        for name, kind, build in CASES:
            if args.only not in name:
                continue
            path = Path(folder) / f"case.{kind}"
            path.write_bytes(build())
            out = subprocess.run(
                [sys.executable, __file__, "--one", str(path), kind], check=True, capture_output=True, text=True
            )
            r = json.loads(out.stdout)
            size = f"{r['size'] / 1024:.0f} KB"
            figures = f"{r['wall']:6.2f} {r['cpu']:6.2f} {r['rss']:8.0f}"
            print(f"{name:54} {size:>8}  {r['verdict']:32} {figures}", flush=True)


if __name__ == "__main__":
    main()
