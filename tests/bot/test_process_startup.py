"""``python -m bot`` starting up in a hostile world: a webhook nobody configured a secret for still refuses
forged updates, and Telegram failing at start-up is waited out (with back-off) instead of ending the process."""

from __future__ import annotations

import asyncio
import itertools
import re
import signal
import sqlite3
import sys
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest

from localchat import FakeBotAPI
from newtel.sandbox import Sandbox
from tests.bot.conftest import ADMIN, SENDS, STRANGER, TOKEN
from tests.bot.test_process import clean_env, run_bot

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals")

T = TypeVar("T")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


async def start_bot(sandbox: Sandbox, telegram: str, tmp_path: Path, **settings: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env=clean_env(
            tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=telegram, NEWTEL_API_URL=sandbox.url,
            NEWTEL_ACCESS_KEY=sandbox.access_key, NEWTEL_SIGNING_KEY=sandbox.signing_key, ADMIN_IDS=str(ADMIN),
            DATABASE_PATH=str(tmp_path / "bot.db"), POLL_INTERVAL="3600", LOG_LEVEL="INFO", **settings,
        ),
    )  # fmt: skip


async def alive(process: asyncio.subprocess.Process, waiting: Awaitable[T]) -> T:
    """``waiting``'s result, failing at once (with the process's output) if the process ends first."""
    task, ended = asyncio.ensure_future(waiting), asyncio.ensure_future(process.wait())
    await asyncio.wait({task, ended}, return_when=asyncio.FIRST_COMPLETED)
    if not task.done():
        task.cancel()
        output = (await process.stdout.read()).decode() if process.stdout else ""
        pytest.fail(f"the bot exited with {process.returncode} while the test waited:\n{output}")
    ended.cancel()
    return task.result()


async def stop(process: asyncio.subprocess.Process, sig: signal.Signals = signal.SIGTERM) -> str:
    process.send_signal(sig)
    output, _ = await asyncio.wait_for(process.communicate(), 15)
    return output.decode()


async def kill(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.kill()
        await process.wait()


def command(update_id: int, user_id: int, text: str) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id, "date": 1_700_000_000, "text": text,
            "chat": {"id": user_id, "type": "private"}, "from": {"id": user_id, "is_bot": False, "first_name": "Anna"},
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}],
        },
    }  # fmt: skip


async def post(http: aiohttp.ClientSession, url: str, update: dict[str, Any], **headers: str) -> int:
    """POST an update to the bot's webhook (waiting for its server to listen: it starts just after setWebhook)."""
    for _ in range(200):
        try:
            async with http.post(url, json=update, headers=headers) as answer:
                return answer.status
        except aiohttp.ClientConnectorError:
            await asyncio.sleep(0.05)
    raise TimeoutError(f"nothing listens on {url}")


async def serves(process: Any, tg: FakeBotAPI) -> None:
    """The bot, started up at last, polls and answers a command."""
    await alive(process, tg.wait_for("getUpdates", timeout=30))
    tg.send_text(ADMIN, "/balance")
    reply = await alive(process, tg.wait_for("sendMessage", chat_id=ADMIN, ok=True, timeout=15))
    assert reply.params["text"].startswith("💰 <b>Баланс:</b>")


async def test_a_webhook_without_a_configured_secret_refuses_forged_updates(
    sandbox: Sandbox, tg: FakeBotAPI, tmp_path: Path, unused_tcp_port: int
) -> None:
    url = f"http://127.0.0.1:{unused_tcp_port}/telegram-hook"
    process = await start_bot(
        sandbox, tg.url, tmp_path, WEBHOOK_URL=url, WEBHOOK_LISTEN="127.0.0.1", WEBHOOK_PORT=str(unused_tcp_port)
    )
    try:
        registered = await alive(process, tg.wait_for("setWebhook", ok=True, timeout=30))
        forged = command(1, ADMIN, f"/allow {STRANGER} 101")  # "from" the admin: would let a stranger in
        async with aiohttp.ClientSession() as http:
            assert await post(http, url, forged) == 403  # no secret header at all
            assert await post(http, url, command(2, ADMIN, f"/allow {STRANGER} 101"), **{SECRET_HEADER: "guess"}) == 403
            # The secret the bot made up for this run went to Telegram with setWebhook...
            secret = registered.params.get("secret_token")
            assert isinstance(secret, str) and re.fullmatch(r"[A-Za-z0-9_-]{32,256}", secret), secret
            # ...and what Telegram then sends (with it) is served.
            assert await post(http, url, command(3, ADMIN, "/balance"), **{SECRET_HEADER: secret}) == 200
        reply = await alive(process, tg.wait_for(predicate=lambda c: c.method in SENDS, ok=True, timeout=15))
        assert reply.chat_id == ADMIN and reply.params["text"].startswith("💰 <b>Баланс:</b>")
        output = await stop(process)
    finally:
        await kill(process)
    assert process.returncode == 0, output
    # The forged /allow did nothing: no other message, nobody in the database, nothing in the audit.
    assert [c.params["text"][:10] for c in tg.calls if c.method in SENDS] == [reply.params["text"][:10]]
    with sqlite3.connect(tmp_path / "bot.db") as db:
        assert db.execute("SELECT count(*) FROM users WHERE telegram_id = ?", (STRANGER,)).fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM audit WHERE action = 'user.allow'").fetchone() == (0,)
    assert "Traceback" not in output
    assert secret not in output and TOKEN not in output


def lines_with(output: str, text: str) -> list[str]:
    return [line for line in output.splitlines() if text in line]


async def read_until(process: asyncio.subprocess.Process, seen: list[str], text: str) -> None:
    """Read the bot's output into ``seen`` until a line contains ``text``."""
    assert process.stdout is not None
    while not lines_with("".join(seen), text):
        line = await alive(process, asyncio.wait_for(process.stdout.readline(), 30))
        seen.append(line.decode())


async def test_telegram_failing_at_start_up_is_retried_with_back_off(
    sandbox: Sandbox, tg: FakeBotAPI, tmp_path: Path
) -> None:
    tg.faults.fail(502, times=3, methods="getMe")
    process = await start_bot(sandbox, tg.url, tmp_path)
    try:
        tries = await alive(process, tg.wait_for("getMe", count=4, timeout=30))
        assert [c.status for c in tries] == [502, 502, 502, 200]
        gaps = [later.time - earlier.time for earlier, later in itertools.pairwise(tries)]
        assert gaps[0] < 3 and gaps[2] > gaps[0], gaps  # soon, then longer each time
        await serves(process, tg)  # and then it polls as usual
        output = await stop(process)
    finally:
        await kill(process)
    assert process.returncode == 0, output
    assert len(lines_with(output, "Bad Gateway")) == 3, output  # one line per failure
    assert "Traceback" not in output and TOKEN not in output


async def test_a_long_telegram_outage_at_start_up_is_waited_out(
    sandbox: Sandbox, tg: FakeBotAPI, tmp_path: Path
) -> None:
    """Longer than any one request's own retries: start-up goes on trying (it would, forever)."""
    tg.faults.fail(503, times=10_000, methods="getMe")
    process = await start_bot(sandbox, tg.url, tmp_path)
    seen: list[str] = []
    try:
        await read_until(process, seen, "unavailable at start-up")
        tg.faults.clear()  # Telegram is back
        await serves(process, tg)
        output = "".join(seen) + await stop(process)
    finally:
        await kill(process)
    assert process.returncode == 0, output
    failures = [c for c in tg.calls if c.method == "getMe" and not c.ok]
    assert len(lines_with(output, "Service Unavailable")) == len(failures), output  # one line per failure
    assert "Traceback" not in output and TOKEN not in output


async def test_the_bot_started_before_telegram_is_reachable_waits_for_it(
    sandbox: Sandbox, tmp_path: Path, unused_tcp_port: int
) -> None:
    down = FakeBotAPI(TOKEN, port=unused_tcp_port)  # not listening yet: connections are refused
    process = await start_bot(sandbox, f"http://127.0.0.1:{unused_tcp_port}", tmp_path)
    seen: list[str] = []
    try:
        await read_until(process, seen, "ConnectError")
        async with down as tg:  # Telegram is back
            await serves(process, tg)
            output = "".join(seen) + await stop(process)
    finally:
        await kill(process)
    assert process.returncode == 0, output
    assert "getMe" in lines_with(output, "ConnectError")[0], output
    assert "Traceback" not in output and TOKEN not in output


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_stops_the_start_up_retries_at_once(
    sandbox: Sandbox, tg: FakeBotAPI, tmp_path: Path, sig: signal.Signals
) -> None:
    tg.faults.fail(503, times=10_000, methods="getMe")  # Telegram stays down
    process = await start_bot(sandbox, tg.url, tmp_path)
    try:
        await alive(process, tg.wait_for("getMe", count=3, timeout=30))
        signalled = time.monotonic()
        output = await stop(process, sig)  # during a back-off wait: no need to wait it out
        assert time.monotonic() - signalled < 1.5, output
    finally:
        await kill(process)
    assert process.returncode == 0, output
    assert len(lines_with(output, "Service Unavailable")) >= 2, output
    assert "Traceback" not in output and TOKEN not in output
    assert {c.method for c in tg.calls} == {"getMe"}  # it never got further


async def test_a_refused_token_is_not_retried(sandbox: Sandbox, tg: FakeBotAPI, tmp_path: Path) -> None:
    tg.faults.fail(502, times=1, methods="getMe")
    tg.faults.fail(401, times=1, methods="getMe")
    process = await start_bot(sandbox, tg.url, tmp_path)
    try:
        output, _ = await asyncio.wait_for(process.communicate(), 30)
    finally:
        await kill(process)
    text = output.decode()
    assert process.returncode == 2, text
    assert text.rstrip().endswith("Telegram refused TELEGRAM_BOT_TOKEN: check it with @BotFather.")
    assert len(lines_with(text, "Bad Gateway")) == 1 and TOKEN not in text
    assert [c.status for c in tg.calls] == [502, 401]


@pytest.mark.parametrize("secret", ["short-secret", "a secret with spaces & signs", "x" * 257])
def test_a_malformed_webhook_secret_is_refused_without_echoing_it(tmp_path: Path, secret: str) -> None:
    done = run_bot(
        tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, NEWTEL_ACCESS_KEY="0" * 48, NEWTEL_SIGNING_KEY="0" * 48,
        WEBHOOK_URL="https://bot.example.com/hook", WEBHOOK_SECRET=secret,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == (
        "Invalid settings (environment or .env):\n"
        "  WEBHOOK_SECRET must be 16 to 256 characters, each A-Z, a-z, 0-9, _ or - "
        "(or leave it empty for a random one)\n"
    )
    assert list(tmp_path.iterdir()) == []
