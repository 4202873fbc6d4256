"""``python -m bot`` as a real process: restarts and ``kill -9`` neither repeat an alert nor lose one."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from localchat import FakeBotAPI
from newtel.sandbox import Sandbox
from storage import Storage
from tests.bot.conftest import ADMIN, GROUP, MANAGER, TOKEN

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals")


class BotProcess:
    def __init__(self, sandbox: Sandbox, tg: FakeBotAPI, database: Path) -> None:
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),  # this checkout's code, not an installed one
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": tg.url,
            "NEWTEL_API_URL": sandbox.url,
            "NEWTEL_ACCESS_KEY": sandbox.access_key,
            "NEWTEL_SIGNING_KEY": sandbox.signing_key,
            "ADMIN_IDS": str(ADMIN),
            "DATABASE_PATH": str(database),
            "POLL_INTERVAL": "0.3",
            "LOG_LEVEL": "INFO",
        }
        self.process: asyncio.subprocess.Process | None = None
        self.output = bytearray()
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", env=self.env, cwd=str(Path(self.env["DATABASE_PATH"]).parent),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        while chunk := await self.process.stdout.read(4096):
            self.output += chunk

    async def stop(self, sig: int) -> int:
        assert self.process is not None
        self.process.send_signal(sig)
        code = await asyncio.wait_for(self.process.wait(), 20)
        if self._reader is not None:
            await self._reader
        return code


async def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


def alert_rows(database: Path) -> list[tuple[str, int | None]]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        return db.execute("SELECT clid, message_id FROM alerts ORDER BY id").fetchall()


def sent_to_group(tg: FakeBotAPI, digits: str) -> int:
    shown = f"+7 {digits[1:4]} {digits[4:7]}-{digits[7:9]}-{digits[9:11]}"
    return sum(
        1 for c in tg.calls if c.method == "sendMessage" and c.ok and c.chat_id == GROUP and shown in c.params["text"]
        and not c.params["text"].startswith("📋")  # the open board names the customers too: not an alert
    )  # fmt: skip


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[tuple[Sandbox, FakeBotAPI, Path]]:
    database = tmp_path / "bot.db"
    with Storage.open(database) as storage:
        storage.chats.subscribe(GROUP, "Sales", [], False, now=1)
    async with Sandbox(ring_seconds=0.05, talk_seconds=0.1) as sandbox, FakeBotAPI(TOKEN) as tg:
        tg.group(GROUP, "Sales")
        yield sandbox, tg, database


def miss(sandbox: Sandbox, clid: str) -> None:
    now = sandbox.now()
    sandbox.add_call(direction="in", clid=clid, status="no answer", start=now - 20, end=now)


def polls(sandbox: Sandbox) -> int:
    return sum(1 for r in sandbox.requests if r.method == "vpbx/get-calls-list")  # one a reconcile


async def test_restart_and_kill_9_neither_repeat_nor_lose_alerts(parts: tuple[Sandbox, FakeBotAPI, Path]) -> None:
    sandbox, tg, database = parts
    bot = BotProcess(sandbox, tg, database)
    await bot.start()
    await wait_until(lambda: polls(sandbox) >= 1)  # the first poll sets the baseline
    miss(sandbox, "79160000101")
    await wait_until(lambda: sent_to_group(tg, "79160000101") == 1)
    await wait_until(lambda: all(message_id for _, message_id in alert_rows(database)))
    assert await bot.stop(signal.SIGKILL) == -signal.SIGKILL

    # Missed while the bot was down.
    miss(sandbox, "79160000102")
    bot = BotProcess(sandbox, tg, database)
    await bot.start()
    await wait_until(lambda: sent_to_group(tg, "79160000102") == 1)

    # Recorded but not yet delivered (Telegram failing) when the process is killed.
    tg.faults.fail(status=500, times=1000, methods={"sendMessage"})
    miss(sandbox, "79160000103")
    miss(sandbox, "79160000104")
    await wait_until(lambda: {"79160000103", "79160000104"} <= {clid for clid, _ in alert_rows(database)})
    assert await bot.stop(signal.SIGKILL) == -signal.SIGKILL
    tg.faults.clear()

    # A clean restart (SIGTERM later) delivers what was pending, once.
    before = polls(sandbox)
    bot = BotProcess(sandbox, tg, database)
    await bot.start()
    await wait_until(lambda: sent_to_group(tg, "79160000103") == 1 and sent_to_group(tg, "79160000104") == 1)
    await wait_until(lambda: polls(sandbox) >= before + 4)  # a few more polls: nothing is repeated
    assert await bot.stop(signal.SIGTERM) == 0
    counts = [sent_to_group(tg, n) for n in ("79160000101", "79160000102", "79160000103", "79160000104")]
    assert counts == [1, 1, 1, 1]
    log = bot.output.decode()
    for secret in (TOKEN, sandbox.access_key, sandbox.signing_key):
        assert secret not in log


def card_recorded(database: Path) -> bool:
    """The card's message is known (killed before that, the card stays as sent and is never edited)."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        return db.execute("SELECT count(*) FROM ringing_cards WHERE message_id IS NOT NULL").fetchone() == (1,)


def cards_to(tg: FakeBotAPI, user_id: int) -> int:
    return sum(
        1 for c in tg.calls if c.method == "sendMessage" and c.chat_id == user_id and "На номер:" in c.params["text"]
    )


async def test_kill_9_mid_ring_sends_no_second_card_and_loses_no_alert(parts: tuple[Sandbox, FakeBotAPI, Path]) -> None:
    sandbox, tg, database = parts
    tg.user(MANAGER, first_name="Ivan")
    with Storage.open(database) as storage:
        storage.users.allow(MANAGER, "manager", member_id="m-1", member_name="Иван", internal_number="101", now=1)
    for call in sandbox.company.active_calls(sandbox.now()):  # only this test's call rings
        sandbox.end_call(call)
    bot = BotProcess(sandbox, tg, database)
    bot.env["LIVE_INTERVAL"] = "0.3"
    await bot.start()
    await wait_until(lambda: polls(sandbox) >= 1)
    now = sandbox.now()
    sandbox.add_call(direction="in", clid="79160000201", status="no answer", start=now, end=now + 5, active=True)
    await wait_until(lambda: cards_to(tg, MANAGER) == 1 and card_recorded(database))
    assert await bot.stop(signal.SIGKILL) == -signal.SIGKILL

    bot = BotProcess(sandbox, tg, database)  # back while it still rings, then it is missed
    bot.env["LIVE_INTERVAL"] = "0.3"
    await bot.start()
    await wait_until(lambda: sent_to_group(tg, "79160000201") == 1)
    await wait_until(
        lambda: any(c.method == "editMessageText" and "Пропущен" in c.params["text"] for c in tg.calls if c.ok)
    )
    assert await bot.stop(signal.SIGTERM) == 0
    assert (cards_to(tg, MANAGER), sent_to_group(tg, "79160000201")) == (1, 1)
