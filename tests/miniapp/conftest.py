"""The Mini App's API over loopback: the real Application (tests/bot/conftest.py's World: the sandbox, the fake Bot
API) serving ``/app/`` on NEWTEL_EVENTS_PORT as it does when polling, asked as Telegram's page asks, with an
initData signed by the test bot's token."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from bot.miniapp import auth
from localchat.settings import TOKEN
from tests.bot.conftest import (  # noqa: F401 (fixtures, re-exported for the Mini App's tests)
    ADMIN,
    MANAGER,
    STRANGER,
    World,
    WorldFactory,
    make_world,
    one_tls_context,
    sandbox,
    tg,
)

NAMES = {ADMIN: "Anna", MANAGER: "Ivan", STRANGER: "Eve"}  # as the fake Bot API knows them


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Any  # the response's (a case-insensitive multidict)
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class MiniApp:
    """The bot with its Mini App on, and a way to ask its API as a user's page does."""

    world: World
    base: str  # http://127.0.0.1:<port>; the page is at base + "/app/"
    session: aiohttp.ClientSession

    @property
    def url(self) -> str:
        """MINIAPP_URL."""
        return f"{self.base}/app/"

    def init_data(self, user_id: int, **fields: Any) -> str:
        """A fresh initData of ``user_id``, signed with the test bot's token (``auth.init_data_for``'s options)."""
        fields.setdefault("first_name", NAMES.get(user_id, str(user_id)))
        return auth.init_data_for(user_id, TOKEN, **fields)

    async def get(self, path: str, *, as_user: int | None = ADMIN, **options: Any) -> Answer:
        return await self.request("GET", path, as_user=as_user, **options)

    async def request(
        self,
        method: str,
        path: str,
        *,
        as_user: int | None = ADMIN,
        init_data: str | None = None,
        params: dict[str, str] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """``path`` from the server's root (``/app/api/me``); signed as ``as_user`` unless ``init_data`` is given
        (``as_user=None`` and no ``init_data``: no Authorization header at all)."""
        sent = dict(headers or {})
        raw = init_data if init_data is not None else self.init_data(as_user) if as_user is not None else None
        if raw is not None:
            sent["Authorization"] = f"tma {raw}"
        async with self.session.request(method, self.base + path, params=params, json=body, headers=sent) as got:
            return Answer(got.status, got.headers, await got.read())


MiniAppFactory = Callable[..., contextlib.AbstractAsyncContextManager[MiniApp]]


@pytest.fixture
def make_miniapp(make_world: WorldFactory, unused_tcp_port: int) -> MiniAppFactory:  # noqa: F811
    """``async with make_miniapp(**settings) as app``: the bot (make_world's options) with the Mini App on."""

    @contextlib.asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[MiniApp]:
        base = f"http://127.0.0.1:{unused_tcp_port}"
        settings = {"miniapp_url": f"{base}/app/", "newtel_events_port": unused_tcp_port, **overrides}
        async with make_world(**settings) as world, aiohttp.ClientSession() as session:
            yield MiniApp(world, base, session)

    return start


@pytest.fixture
async def miniapp(make_miniapp: MiniAppFactory) -> AsyncIterator[MiniApp]:
    async with make_miniapp() as started:
        yield started
