"""``python -m bot`` as a real process: restarts and ``kill -9`` neither repeat an alert nor lose one."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from localchat import FakeBotAPI
from newtel.sandbox import Sandbox
from storage import Storage
from tests.bot.conftest import ADMIN, GROUP, MANAGER, TOKEN

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals")
ROOT = Path(__file__).resolve().parents[2]


class BotProcess:
    def __init__(self, sandbox: Sandbox, tg: FakeBotAPI, database: Path) -> None:
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(ROOT),  # this checkout's bot, whatever the virtualenv has installed
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


# --- kill -9 with Telegram's answer in flight: a summary, a board -------------------------------------------------


def customers_shown(tg: FakeBotAPI, digits: str) -> int:
    """In how many of the bot's messages in the group, as they are now, the customer is named."""
    shown = f"+7 {digits[1:4]} {digits[4:7]}-{digits[7:9]}-{digits[9:11]}"
    return sum(1 for message in tg.chat(GROUP) if shown in message.get("text", ""))


def all_told(database: Path, count: int) -> bool:
    """``count`` alerts, none held any more, each shown in a message at its latest version."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        return db.execute("SELECT count(*), coalesce(sum(held OR dirty), 0) FROM alerts").fetchone() == (count, 0)


def held_count(database: Path) -> int:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        return int(db.execute("SELECT count(*) FROM alerts WHERE held").fetchone()[0])


def recorded_messages(database: Path) -> set[int]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        return {m for (m,) in db.execute("SELECT message_id FROM alerts WHERE message_id IS NOT NULL")}


def buttons_of(message: dict[str, object]) -> int:
    markup = message.get("reply_markup") or {}
    assert isinstance(markup, dict)
    return sum(len(row) for row in markup.get("inline_keyboard", []))


def performed(tg: FakeBotAPI, method: str, starts: str) -> bool:
    """Telegram carried out such a request (whether or not its answer reached the bot)."""
    return any(
        c.method == method and c.ok and c.chat_id == GROUP and str(c.params.get("text", "")).startswith(starts)
        for c in tg.calls
    )


async def test_kill_9_with_a_summarys_answer_in_flight_shows_each_customer_once(
    parts: tuple[Sandbox, FakeBotAPI, Path],
) -> None:
    sandbox, tg, database = parts
    customers = [f"7916000{n:04d}" for n in range(301, 311)]  # ten: a summary of eight, then one of two
    today = datetime.now(ZoneInfo("Europe/Moscow")).weekday()
    closed_today = {"start": "00:00", "end": "24:00", "days": [d for d in range(7) if d != today]}
    with Storage.open(database) as storage:
        storage.chats.set_hours(GROUP, closed_today, now=1)
    bot = BotProcess(sandbox, tg, database)
    bot.env["ALERT_BOARD"] = "false"  # only the summaries and alerts name customers
    await bot.start()
    await wait_until(lambda: polls(sandbox) >= 1)
    for customer in customers:
        miss(sandbox, customer)
    await wait_until(lambda: held_count(database) == len(customers))  # missed at night: held
    assert await bot.stop(signal.SIGTERM) == 0

    with Storage.open(database) as storage:
        storage.chats.set_hours(GROUP, None, now=2)  # the morning: the summary goes out at the next start
    tg.faults.hold_answer(methods="sendMessage")
    bot = BotProcess(sandbox, tg, database)
    bot.env["ALERT_BOARD"] = "false"
    await bot.start()
    await wait_until(lambda: performed(tg, "sendMessage", "🌅"))  # Telegram has it; its answer never comes
    assert await bot.stop(signal.SIGKILL) == -signal.SIGKILL

    bot = BotProcess(sandbox, tg, database)
    bot.env["ALERT_BOARD"] = "false"
    await bot.start()
    await wait_until(lambda: all_told(database, len(customers)), timeout=30)
    before = polls(sandbox)
    await wait_until(lambda: polls(sandbox) >= before + 4)  # a few more polls: nothing more is sent
    assert await bot.stop(signal.SIGTERM) == 0
    assert {n: customers_shown(tg, n) for n in customers} == {n: 1 for n in customers}
    live = recorded_messages(database)
    orphans = [m for m in tg.chat(GROUP) if m["message_id"] not in live]
    assert [buttons_of(m) for m in orphans if buttons_of(m)] == []  # nothing left to press on a message it forgot


def lists_in_chat(tg: FakeBotAPI) -> list[dict[str, object]]:
    """The bot's boards in the group as they are now: a list of who is not called back (not a pointer to it)."""
    return [
        m for m in tg.chat(GROUP)
        if str(m.get("text", "")).startswith(("📋 Не перезвонили: 1", "📋 Не перезвонили: 2", "✅ Все перезвонили"))
    ]  # fmt: skip


async def board_asked_and_killed(sandbox: Sandbox, tg: FakeBotAPI, database: Path, held: str) -> None:
    """An admin's /board whose ``held`` request Telegram carries out, and the bot is killed before its answer."""
    bot = BotProcess(sandbox, tg, database)
    bot.env["ALERT_BOARD"] = "false"
    await bot.start()
    await wait_until(lambda: polls(sandbox) >= 1)
    tg.faults.hold_answer(methods=held)
    mark = tg.mark()
    tg.send_text(ADMIN, "/board", chat_id=GROUP)
    await wait_until(lambda: any(c.method == held and c.ok for c in tg.calls[mark:]))
    assert await bot.stop(signal.SIGKILL) == -signal.SIGKILL


async def test_kill_9_in_the_middle_of_a_board_post_leaves_one_board(parts: tuple[Sandbox, FakeBotAPI, Path]) -> None:
    sandbox, tg, database = parts
    bot = BotProcess(sandbox, tg, database)
    bot.env["ALERT_BOARD"] = "false"  # a board on /board only: each kill below lands in one
    await bot.start()
    await wait_until(lambda: polls(sandbox) >= 1)
    miss(sandbox, "79160000401")
    await wait_until(lambda: sent_to_group(tg, "79160000401") == 1)
    tg.send_text(ADMIN, "/board", chat_id=GROUP)
    await wait_until(lambda: tg.pinned(GROUP) is not None and len(lists_in_chat(tg)) == 1)
    assert await bot.stop(signal.SIGTERM) == 0

    await board_asked_and_killed(sandbox, tg, database, "sendMessage")  # the new board's answer in flight
    await board_asked_and_killed(sandbox, tg, database, "pinChatMessage")  # posted, its pin in flight
    await board_asked_and_killed(sandbox, tg, database, "sendMessage")

    bot = BotProcess(sandbox, tg, database)
    bot.env["ALERT_BOARD"] = "false"
    await bot.start()
    miss(sandbox, "79160000402")
    await wait_until(lambda: sent_to_group(tg, "79160000402") == 1)
    await wait_until(lambda: any(str(m.get("text", "")).startswith("📋 Не перезвонили: 2") for m in tg.chat(GROUP)))
    before = polls(sandbox)
    await wait_until(lambda: polls(sandbox) >= before + 4)
    assert await bot.stop(signal.SIGTERM) == 0
    (board,) = lists_in_chat(tg)
    assert str(board["text"]).startswith("📋 Не перезвонили: 2") and tg.pinned(GROUP) == board["message_id"]
