"""Fixtures: a started FakeBotAPI, raw HTTP access to it, and the toy PTB bot polling it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from telegram.ext import AIORateLimiter

from localchat import FakeBotAPI
from tests.localchat.toybot import GROUP, USER, ToyBot, build_toy_app, start_app, stop_app


@pytest.fixture
async def tg() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as server:
        server.user(USER, first_name="Ivan", last_name="Petrov", username="ivan")
        server.group(GROUP, title="Sales")
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def api(tg: FakeBotAPI, http: aiohttp.ClientSession) -> Callable[..., Any]:
    """``await api("sendMessage", chat_id=42, text="hi")`` -> (status, body), sent as a JSON body."""

    async def call(method: str, **params: Any) -> tuple[int, dict[str, Any]]:
        async with http.post(f"{tg.url}/bot{tg.token}/{method}", json=params) as response:
            return response.status, await response.json()

    return call


@pytest.fixture
async def toy(tg: FakeBotAPI) -> AsyncIterator[ToyBot]:
    bot = build_toy_app(tg)
    await start_app(bot.app)
    yield bot
    await stop_app(bot.app)


@pytest.fixture
async def limited_toy(tg: FakeBotAPI) -> AsyncIterator[ToyBot]:
    bot = build_toy_app(tg, rate_limiter=AIORateLimiter(max_retries=3))
    await start_app(bot.app)
    yield bot
    await stop_app(bot.app)
