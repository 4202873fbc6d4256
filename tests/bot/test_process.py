"""``python -m bot`` as a real process: bad settings stop it with one clear message, a good start serves
users, a signal stops it cleanly, and no secret ever reaches its output."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from bot.miniapp.auth import init_data_for
from localchat import FakeBotAPI
from newtel.sandbox import Sandbox
from tests.bot.conftest import ADMIN, SENDS, STRANGER, TOKEN

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals")


ROOT = Path(__file__).resolve().parents[2]


def clean_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """Only what is given: nothing from the developer's environment (and with cwd=tmp_path, no .env); the code is
    this checkout's, whatever a virtualenv has installed. No monitoring listener unless given a port: bots started at
    once (tests in parallel) must not fight over 8082."""
    return {
        "PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "PYTHONPATH": str(ROOT), "MONITOR_PORT": "0",
        **settings,
    }  # fmt: skip


def run_bot(tmp_path: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot"],
        env=clean_env(tmp_path, **settings),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_missing_settings_stop_the_bot_with_one_clear_message(tmp_path: Path) -> None:
    done = run_bot(tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (
        "Invalid settings (environment or .env):\n"
        "  TELEGRAM_BOT_TOKEN is required\n"
        "  NEWTEL_ACCESS_KEY is required\n"
        "  NEWTEL_SIGNING_KEY is required\n"
    )
    assert list(tmp_path.iterdir()) == []  # no database, nothing else


def test_invalid_settings_are_each_named_without_their_values(tmp_path: Path) -> None:
    secret_looking = "a" * 47 + "Z"
    done = run_bot(
        tmp_path,
        TELEGRAM_BOT_TOKEN="not-a-token",
        NEWTEL_ACCESS_KEY=secret_looking,
        NEWTEL_SIGNING_KEY="0" * 48,
        NEWTEL_API_URL="ftp://api.new-tel.net",
        ADMIN_IDS="12345,anna",
        POLL_INTERVAL="0",
        TIMEZONE="Mars/Olympus",
        DEFAULT_CALLER_ID="call me",
        BOT_LANGUAGE="de",
        DATABASE_PATH=str(tmp_path / "bot.db"),
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == "Invalid settings (environment or .env):"
    named = sorted(line.split()[0] for line in lines[1:])
    assert named == sorted(
        [
            "TELEGRAM_BOT_TOKEN",
            "NEWTEL_ACCESS_KEY",
            "NEWTEL_API_URL",
            "ADMIN_IDS",
            "POLL_INTERVAL",
            "TIMEZONE",
            "DEFAULT_CALLER_ID",
            "BOT_LANGUAGE",
        ]
    )
    assert "  NEWTEL_ACCESS_KEY must be 48 lowercase hexadecimal digits" in lines
    assert "  TIMEZONE must be an IANA time zone such as Europe/Moscow" in lines
    assert secret_looking not in done.stderr and "not-a-token" not in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_without_admins_the_bot_does_not_start(tmp_path: Path) -> None:
    """Nobody could ever let anyone in: said in one line, nothing written."""
    for admins in ({}, {"ADMIN_IDS": " , "}):
        done = run_bot(tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, NEWTEL_ACCESS_KEY="0" * 48, NEWTEL_SIGNING_KEY="0" * 48,
                       DATABASE_PATH=str(tmp_path / "bot.db"), **admins)  # fmt: skip
        assert done.returncode == 2
        assert (done.stdout, done.stderr) == (
            "",
            "Invalid settings (environment or .env):\n  ADMIN_IDS is required: your Telegram user id (e.g. "
            "123456789, from @userinfobot); without an admin nobody could ever be let in\n",
        )
        assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_the_bot_process_serves_users_and_stops_cleanly_on_a_signal(
    sandbox: Sandbox, tg: FakeBotAPI, tmp_path: Path, sig: signal.Signals
) -> None:
    secrets = [TOKEN, sandbox.access_key, sandbox.signing_key]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        env=clean_env(
            tmp_path,
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_API_URL=tg.url,
            NEWTEL_API_URL=sandbox.url,
            NEWTEL_ACCESS_KEY=sandbox.access_key,
            NEWTEL_SIGNING_KEY=sandbox.signing_key,
            ADMIN_IDS=str(ADMIN),
            DATABASE_PATH=str(tmp_path / "bot.db"),
            LOG_LEVEL="INFO",
        ),
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await tg.wait_for("getUpdates", timeout=30)  # started and polling
        tg.send_text(ADMIN, "/balance")
        reply = await tg.wait_for(predicate=lambda c: c.method in SENDS and c.chat_id == ADMIN, ok=True, timeout=15)
        assert reply.params["text"].startswith("💰 <b>Баланс:</b> 12\u202f345,67\u00a0₽")
        tg.send_text(STRANGER, "/start")
        offer, hint = await tg.wait_for("sendMessage", chat_id=STRANGER, ok=True, count=2, timeout=15)
        assert "Запросить доступ" in str(offer.params["reply_markup"])
        assert "request_contact" in str(hint.params["reply_markup"])
        process.send_signal(sig)
        stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode in (0, -sig, 128 + sig)
    output = (stdout + stderr).decode()
    assert "Traceback" not in output
    assert "Application started" in output  # it does log, at INFO
    (start,) = [line.split(": ", 1)[1] for line in output.splitlines() if "Starting: " in line]
    assert start == (
        f"Starting: long polling; database {tmp_path / 'bot.db'}; 1 admin; live watch every 3 s, reconcile every 60 s,"
        " desk phones every 60 s"
    )
    for secret in secrets:
        assert secret not in output
    assert (tmp_path / "bot.db").exists()


async def test_the_bot_runs_on_a_webhook(
    sandbox: Sandbox, tg: FakeBotAPI, tmp_path: Path, unused_tcp_port: int
) -> None:
    url = f"http://127.0.0.1:{unused_tcp_port}/telegram-hook"
    secret, doorbell = "webhook-secret-123", "doorbell-secret-456789"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env=clean_env(
            tmp_path, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=tg.url, NEWTEL_API_URL=sandbox.url,
            NEWTEL_ACCESS_KEY=sandbox.access_key, NEWTEL_SIGNING_KEY=sandbox.signing_key, ADMIN_IDS=str(ADMIN),
            DATABASE_PATH=str(tmp_path / "bot.db"), WEBHOOK_URL=url, WEBHOOK_LISTEN="127.0.0.1",
            WEBHOOK_PORT=str(unused_tcp_port), WEBHOOK_SECRET=secret, NEWTEL_EVENTS_SECRET=doorbell,
            MINIAPP_URL=f"http://127.0.0.1:{unused_tcp_port}/app/",
        ),
    )  # fmt: skip
    try:
        registered = await tg.wait_for("setWebhook", timeout=30)
        assert (registered.params["url"], registered.params["secret_token"]) == (url, secret)
        update = {
            "update_id": 1,
            "message": {
                "message_id": 1, "date": 1_700_000_000, "text": "/balance",
                "chat": {"id": ADMIN, "type": "private"}, "from": {"id": ADMIN, "is_bot": False, "first_name": "Anna"},
                "entities": [{"type": "bot_command", "offset": 0, "length": 8}],
            },
        }  # fmt: skip
        async with aiohttp.ClientSession() as http:
            for _ in range(100):  # the webhook server starts listening just after setWebhook
                try:
                    async with http.post(url, json=update) as refused:
                        assert refused.status == 403  # without Telegram's secret header
                        break
                except aiohttp.ClientConnectorError:
                    await asyncio.sleep(0.1)
            headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
            async with http.post(url, json=update, headers=headers) as accepted:
                assert accepted.status == 200
            # New-Tel's doorbell shares the webhook's server; a wrong secret is a 404 like any unknown path.
            bell = f"http://127.0.0.1:{unused_tcp_port}/newtel/"
            async with http.post(bell + doorbell, data=b"{}") as rung, http.post(bell + secret, data=b"") as wrong:
                assert (rung.status, wrong.status) == (204, 404)
            # And the Mini App, on the same server.
            signed = {"Authorization": f"tma {init_data_for(ADMIN, TOKEN)}"}
            async with http.get(f"http://127.0.0.1:{unused_tcp_port}/app/api/me", headers=signed) as me:
                assert (me.status, (await me.json())["user"]["admin"]) == (200, True)
        reply = await tg.wait_for("sendMessage", chat_id=ADMIN, ok=True, timeout=15)
        assert reply.params["text"].startswith("💰 <b>Баланс:</b>")
        tg.send_text(ADMIN, "/balance")  # and as Telegram delivers an update, with the secret
        reply = await tg.wait_for("sendMessage", chat_id=ADMIN, ok=True, timeout=15)
        assert reply.params["text"].startswith("💰 <b>Баланс:</b>")
        assert tg.webhook_info()["pending_update_count"] == 0 and "last_error_message" not in tg.webhook_info()
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert "Traceback" not in output.decode()
    assert secret not in output.decode() and TOKEN not in output.decode() and doorbell not in output.decode()
    assert (
        f"Telegram's webhook, New-Tel's doorbell and the Mini App (/app/): listening on 127.0.0.1:{unused_tcp_port}, "
        "on loopback only: a "
        "reverse proxy on this host must forward to it (WEBHOOK_LISTEN=0.0.0.0 listens on every address)"
    ) in output.decode()


async def test_a_refused_token_is_said_plainly_and_never_printed(
    sandbox: Sandbox, tg: FakeBotAPI, tmp_path: Path
) -> None:
    wrong = "999999:WRONG-token-that-telegram-refuses-xyz"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env=clean_env(
            tmp_path, TELEGRAM_BOT_TOKEN=wrong, TELEGRAM_API_URL=tg.url, NEWTEL_API_URL=sandbox.url,
            NEWTEL_ACCESS_KEY=sandbox.access_key, NEWTEL_SIGNING_KEY=sandbox.signing_key, ADMIN_IDS=str(ADMIN),
            DATABASE_PATH=str(tmp_path / "bot.db"),
        ),
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    text = output.decode()
    assert process.returncode == 2, text
    assert "Telegram refused TELEGRAM_BOT_TOKEN: check it with @BotFather." in text
    assert wrong not in text and "WRONG-token" not in text
