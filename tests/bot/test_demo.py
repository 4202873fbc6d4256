"""``python -m localchat.demo`` end to end: a subprocess with no token, no keys and no .env, driven through a pipe."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl

import openpyxl
import pytest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 30.0  # per expected line; start-up imports PTB, pydantic and aiohttp


class Demo:
    """The demo process: write lines to it, wait (bounded) for lines in its output."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.seen: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def expect(self, pattern: str, timeout: float = TIMEOUT) -> str:
        """The next output line matching the regex ``pattern``; fails with the output so far."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                pytest.fail(f"the demo exited before printing {pattern!r}:\n" + "\n".join(self.seen))
            self.seen.append(line)
            if re.search(pattern, line):
                return line
        pytest.fail(f"no {pattern!r} within {timeout} s:\n" + "\n".join(self.seen))

    def rest(self, timeout: float = TIMEOUT) -> list[str]:
        """What the process prints until it closes its output."""
        lines = []
        while (line := self._lines.get(timeout=timeout)) is not None:
            lines.append(line)
        return lines


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    # A clean environment and an empty working directory: no TELEGRAM_*/NEWTEL_* variables, no .env.
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "PYTHONPATH": str(ROOT), "LANG": "C.UTF-8"}
    files = tmp_path / "received"
    process = subprocess.Popen(
        [sys.executable, "-m", "localchat.demo", "--no-activity", "--seed", "1", "--files", str(files)],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # a traceback would show up among the lines the test reads
        text=True,
        encoding="utf-8",
    )
    try:
        yield Demo(process)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_demo_answers_balance_and_calls_then_quits(demo: Demo) -> None:
    demo.expect(r"Chatting with the bot")
    demo.send("/balance")
    demo.expect(r"^── bot → you")
    demo.expect(r"Баланс:\s*12\s345,67\s₽")  # the seed-1 company's balance; money has non-breaking spaces
    demo.send("/calls")
    demo.expect(r"Звонки")
    demo.expect(r"^\s*1 \d{1,2}:\d{2} .*→")  # the first row of the list
    demo.send("!quit")
    demo.expect(r"\(bye\)")
    assert demo.process.wait(timeout=TIMEOUT) == 0
    rest = demo.rest()
    assert "Traceback" not in "\n".join(demo.seen + rest), rest


def test_the_demo_prints_a_link_that_opens_the_mini_app_as_its_admin(demo: Demo) -> None:
    """Its fragment holds initData signed with the demo's own token, as Telegram hands it to the page."""
    line = demo.expect(r"http://127\.0\.0\.1:\d+/app/#tgWebAppData=")
    page, fragment = line.rsplit(" ", 1)[1].split("#", 1)
    given = dict(parse_qsl(fragment))
    assert given["tgWebAppVersion"] == "8.0"
    asked = urllib.request.Request(page + "api/me", headers={"Authorization": f"tma {given['tgWebAppData']}"})
    with urllib.request.urlopen(asked, timeout=TIMEOUT) as answer:
        me = json.load(answer)
    assert me["user"] == {"id": 700_001, "name": me["user"]["name"], "admin": True}
    demo.send("/app")  # its button, pressed in the terminal, gives a link signed for whoever speaks
    demo.expect(r"\[1\] 📱 Открыть приложение")
    demo.send("1")
    opened = demo.expect(r"opens in a browser: http://127\.0\.0\.1:\d+/app/#tgWebAppData=")
    assert opened.rsplit(" ", 1)[1].split("#", 1)[0] == page
    demo.send("!quit")
    demo.expect(r"\(bye\)")


def test_the_demo_takes_a_file_and_saves_what_the_bot_sends_printing_where(demo: Demo, tmp_path: Path) -> None:
    received = tmp_path / "received"
    demo.expect(rf"^\(the files the bot sends are saved in {re.escape(str(received))}\)$")
    book = tmp_path / "contacts.csv"
    book.write_text("Имя;Телефон\nИван Петров;+7 916 123-45-67\nООО Ромашка;8 495 111 22 33\n", encoding="utf-8")
    demo.send(f"!file {book} /import")
    demo.expect(rf"^\(sent contacts.csv, {book.stat().st_size} B, with the caption /import\)$")
    demo.expect(r"Импорт «contacts.csv»: строк с клиентами — 2")
    demo.expect(r"^\[1\] ✅ Записать \(2\)")
    demo.send("1")
    demo.expect(r"^✅ Импорт применён: новых 2, переименовано 0\.$")

    demo.send("/export")
    workbook = Path(demo.expect(r"^💾 saved to .+\.xlsx$").removeprefix("💾 saved to "))
    assert workbook.parent == received
    header = next(openpyxl.load_workbook(workbook, read_only=True).active.iter_rows(max_row=1, values_only=True))
    assert header[:3] == ("Время", "Направление", "Клиент")

    demo.send("/report 7d")
    chart = Path(demo.expect(r"^💾 saved to .+-report\.png$").removeprefix("💾 saved to "))
    assert chart.read_bytes().startswith(b"\x89PNG")

    demo.send("/calls in")
    answered = demo.expect(r"^\s*\d+ \d{1,2}:\d{2} ⬅️ ")  # an answered inbound call: it has a recording
    demo.send(f"/record {answered.split()[0]}")
    recording = Path(demo.expect(r"^💾 saved to .+\.wav$").removeprefix("💾 saved to "))
    assert recording.read_bytes()[:4] == b"RIFF"
    assert sorted(path.name[:4] for path in received.iterdir()) == ["001-", "002-", "003-"]

    demo.send("!quit")
    demo.expect(r"\(bye\)")
    assert demo.process.wait(timeout=TIMEOUT) == 0
    assert "Traceback" not in "\n".join(demo.seen + demo.rest())
