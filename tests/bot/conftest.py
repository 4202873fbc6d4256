"""The real Application between the New-Tel sandbox and the fake Bot API, both over loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.app import build_application, running
from bot.config import Settings
from bot.localchat import FakeBotAPI
from bot.services import Services
from newtel.sandbox import Sandbox

TOKEN = "123456:TEST-token-for-the-fake-bot-api"
ADMIN, MANAGER, STRANGER = 1001, 2002, 3003
GROUP = -100500


@dataclass
class World:
    sandbox: Sandbox
    tg: FakeBotAPI
    app: Any
    services: Services
    settings: Settings

    async def say(self, user_id: int, text: str, *, chat_id: int | None = None, timeout: float = 5.0) -> dict[str, Any]:
        """The user sends ``text``; returns the bot's reply message (the first message it sends back)."""
        chat = user_id if chat_id is None else chat_id
        self.tg.send_text(user_id, text, chat_id=chat_id)
        call = await self.tg.wait_for(
            predicate=lambda c: c.method in ("sendMessage", "sendAudio") and c.chat_id == chat, timeout=timeout
        )
        assert call.ok, call.describe()
        return call.result  # type: ignore[no-any-return]

    def newtel_requests(self, method: str | None = None) -> list[Any]:
        return [r for r in self.sandbox.requests if method is None or r.method == method]


def make_settings(sandbox: Sandbox, tg: FakeBotAPI, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "telegram_bot_token": TOKEN,
        "telegram_api_url": tg.url,
        "newtel_api_url": sandbox.url,
        "newtel_access_key": sandbox.access_key,
        "newtel_signing_key": sandbox.signing_key,
        "admin_ids": str(ADMIN),
        "database_path": tmp_path / "bot.db",
        "poll_interval": 3600,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(ring_seconds=0.05, talk_seconds=0.1) as sb:
        yield sb


@pytest.fixture
async def tg() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(TOKEN) as server:
        server.user(ADMIN, first_name="Anna", username="anna_admin")
        server.user(MANAGER, first_name="Ivan", username="ivan")
        server.user(STRANGER, first_name="Eve", username="eve")
        server.group(GROUP, title="Sales")
        yield server


@pytest.fixture
async def world(sandbox: Sandbox, tg: FakeBotAPI, tmp_path: Path) -> AsyncIterator[World]:
    settings = make_settings(sandbox, tg, tmp_path)
    app = build_application(settings)
    async with running(app) as services:
        yield World(sandbox, tg, app, services, settings)
