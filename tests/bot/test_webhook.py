"""Webhook mode against the fake Bot API, which delivers updates to the webhook's URL as Telegram does: when Telegram
cannot reach the bot (the bot listens on loopback and no reverse proxy forwards to it), setWebhook still succeeds and
no update ever comes, so the bot's check after start-up says so with Telegram's error; when it can, it says nothing
is wrong."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bot import web
from bot.__main__ import check_webhook
from bot.app import build_application
from localchat import FakeBotAPI
from newtel.sandbox import Sandbox
from tests.bot.conftest import ADMIN, make_settings

HOOK, TOKEN = "/telegram-hook", "webhook-secret-0123456789"


async def until(condition: Callable[[], object], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


def checked(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "bot.main"]


async def test_telegram_unable_to_reach_the_webhook_is_a_warning_with_its_error(
    sandbox: Sandbox, tg: FakeBotAPI, tmp_path: Path, caplog: pytest.LogCaptureFixture, unused_tcp_port: int
) -> None:
    url = f"http://127.0.0.1:{unused_tcp_port}{HOOK}"  # nothing listens there: the proxy to the bot is missing
    bot = build_application(make_settings(sandbox, tg, tmp_path, webhook_url=url)).bot
    await bot.initialize()
    try:
        await bot.set_webhook(url, secret_token=TOKEN)
        since = int(time.time())
        tg.send_text(ADMIN, "/balance")
        await until(lambda: tg.webhook_info().get("last_error_message"))
        caplog.set_level(logging.INFO, logger="bot.main")
        await check_webhook(bot, after=0, since=since)
    finally:
        await bot.shutdown()
    assert checked(caplog) == [
        (
            logging.WARNING,
            "Telegram cannot deliver updates to WEBHOOK_URL (1 waiting; its last error: Connection refused): check "
            "that WEBHOOK_URL leads, through the reverse proxy, to where the bot listens (logged at start-up)",
        )
    ]


async def test_once_telegram_reaches_the_webhook_the_check_finds_nothing_wrong(
    sandbox: Sandbox, tg: FakeBotAPI, tmp_path: Path, caplog: pytest.LogCaptureFixture, unused_tcp_port: int
) -> None:
    """An error Telegram met before the bot listened (a restart, say) is not reported once the updates go through."""
    url = f"http://127.0.0.1:{unused_tcp_port}{HOOK}"
    bot = build_application(make_settings(sandbox, tg, tmp_path, webhook_url=url)).bot
    await bot.initialize()
    received: asyncio.Queue[Any] = asyncio.Queue()
    try:
        await bot.set_webhook(url, secret_token=TOKEN)
        tg.send_text(ADMIN, "/balance")
        await until(lambda: tg.webhook_info().get("last_error_message"))  # the bot is not listening yet
        app = web.make_app(telegram=(HOOK, TOKEN, SimpleNamespace(bot=bot, update_queue=received)))
        runner = await web.serve(app, "127.0.0.1", unused_tcp_port)
        since = int(time.time())
        try:
            update = await asyncio.wait_for(received.get(), 5)  # Telegram tried again and got through
            await until(lambda: tg.webhook_info()["pending_update_count"] == 0)
            caplog.set_level(logging.INFO, logger="bot.main")
            await check_webhook(bot, after=0, since=since)
        finally:
            await runner.cleanup()
    finally:
        await bot.shutdown()
    assert update.message.text == "/balance"
    assert checked(caplog) == [
        (logging.INFO, "Telegram reports no failure to deliver to the webhook (0 updates waiting)")
    ]
