"""The real Application between the New-Tel sandbox and the fake Bot API, both over loopback."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx._transports.default as httpx_transport
import pytest

from bot.app import build_application, running
from bot.config import Settings
from bot.services import Services
from localchat import FakeBotAPI
from localchat.fake_api import ApiCall
from localchat.settings import TOKEN, local_settings
from newtel import NewtelClient
from newtel.sandbox import Sandbox
from storage import User

ADMIN, ADMIN2, MANAGER, MANAGER2, STRANGER = 1001, 1002, 2002, 2003, 3003
GROUP = -100500
SENDS = ("sendMessage", "sendAudio")  # what counts as the bot "replying"

# The demo company of Sandbox(seed=1): the member the manager acts as.
MEMBER_NAME, MEMBER_INTERNAL, MEMBER_PERSONAL = "Васильева Татьяна", "101", "79747144854"


async def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Waits until ``condition()`` holds, looking every 20 ms; fails past ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("not within the timeout")
        await asyncio.sleep(0.02)


@dataclass
class World:
    sandbox: Sandbox
    tg: FakeBotAPI
    app: Any
    services: Services
    settings: Settings

    # --- acting as users ---------------------------------------------------------------------------------
    async def say(self, user_id: int, text: str, *, chat_id: int | None = None, timeout: float = 5.0) -> dict[str, Any]:
        """The user sends ``text``; returns the bot's reply message (the first message it sends back)."""
        return (await self.say_all(user_id, text, chat_id=chat_id, count=1, timeout=timeout))[0]

    async def say_all(
        self, user_id: int, text: str, *, count: int, chat_id: int | None = None, timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """The user sends ``text``; returns the first ``count`` messages the bot sends back to that chat."""
        chat = user_id if chat_id is None else chat_id
        self.tg.send_text(user_id, text, chat_id=chat_id)
        return await self.replies(chat, count=count, timeout=timeout)

    async def ask(self, user_id: int, text: str, *, chat_id: int | None = None) -> str:
        """The text of the bot's reply, as the user sees it."""
        return str((await self.say(user_id, text, chat_id=chat_id))["text"])

    async def replies(self, chat_id: int, *, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The next ``count`` messages the bot sends to ``chat_id`` after the cursor (the last user action);
        failed attempts (say, an injected fault) do not count."""
        calls = await self.tg.wait_for(
            predicate=lambda c: c.method in SENDS and c.chat_id == chat_id, ok=True, count=count, timeout=timeout
        )
        calls = calls if isinstance(calls, list) else [calls]
        return [self.tg.message(chat_id, c.result["message_id"]) or c.result for c in calls]

    async def press(
        self, user_id: int, message: dict[str, Any], button: str | int | None = None, *, data: str | None = None
    ) -> dict[str, Any]:
        """The user presses an inline button; returns the callback query's answer once the bot gave it."""
        update = self.tg.press(user_id, message, data, button=button)
        query_id = update["callback_query"]["id"]
        await self.tg.wait_for("answerCallbackQuery", predicate=lambda c: c.params.get("callback_query_id") == query_id)
        answer = self.tg.callback_answer(update)
        assert answer is not None
        return answer

    async def edited(self, message: dict[str, Any], *, timeout: float = 5.0) -> dict[str, Any]:
        """The message after the bot's next edit of it (since the cursor)."""
        chat_id, message_id = message["chat"]["id"], message["message_id"]
        await self.tg.wait_for(
            "editMessageText",
            predicate=lambda c: int(c.params.get("message_id", 0)) == message_id and c.chat_id == chat_id,
            ok=True,
            timeout=timeout,
        )
        found = self.tg.message(chat_id, message_id)
        assert found is not None
        return found

    async def request_access(self, user_id: int, admin_id: int = ADMIN) -> dict[str, Any]:
        """The stranger's /start and "Request access"; returns the admin's message about the request."""
        offer, _ = await self.say_all(user_id, "/start", count=2)
        answer = await self.press(user_id, offer, "Запросить доступ")
        assert answer["text"] == "Запрос отправлен"
        (told,) = await self.replies(admin_id)
        (sent,) = await self.replies(user_id)
        assert sent["text"] == "Запрос отправлен администратору. Я напишу, когда он решит."
        return told

    # --- the bot's side ----------------------------------------------------------------------------------
    def newtel_requests(self, method: str | None = None) -> list[Any]:
        return [r for r in self.sandbox.requests if method is None or r.method == method]

    def sent(self, method: str | None = None, chat_id: int | None = None) -> list[ApiCall]:
        """Every Bot API call the bot made so far (optionally one method, one chat)."""
        return [
            c
            for c in self.tg.calls
            if (method is None or c.method == method) and (chat_id is None or c.chat_id == chat_id)
        ]

    def user(self, telegram_id: int) -> User | None:
        return self.services.storage.users.get(telegram_id)

    def make_manager(self, telegram_id: int = MANAGER, internal: str = MEMBER_INTERNAL, role: str = "manager") -> User:
        """Let ``telegram_id`` act as the sandbox member with this internal number (as /allow would)."""
        member = next(m for m in self.sandbox.company.members if m.internal_number == internal)
        return self.services.storage.users.allow_member(telegram_id, role, member, now=int(time.time()))  # type: ignore[arg-type]

    def use_newtel(self, *, timeout: float = 5.0, max_retries: int = 3) -> None:
        """Swap in a New-Tel client with short timings (same keys, URL and session), so retries and
        timeouts take milliseconds; the bot's own client waits 10 s and backs off from 0.5 s."""
        s = self.settings
        client = NewtelClient(
            s.newtel_access_key,
            s.newtel_signing_key,
            s.newtel_api_url,
            timeout=timeout,
            max_retries=max_retries,
            retry_backoff=0.01,
            session=self.services.http,
            link_hosts=s.newtel_recording_hosts,
            observer=self.services.monitor.newtel_answered,
        )
        svc = self.services
        svc.newtel = svc.background = svc.directory.client = client  # the directory keeps what it cached


@contextlib.contextmanager
def database_locked(path: os.PathLike[str] | str) -> Iterator[None]:
    """Another process's connection holds SQLite's write lock on ``path`` (reads still work, as under WAL)."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


def make_settings(sandbox: Sandbox, tg: FakeBotAPI, tmp_path: Path, **overrides: Any) -> Settings:
    """The one local builder, with the tests' admin, a poll that waits for the tests to run it, no live watch and no
    open board (the tests of those turn them on: the board is one more message in a group's chat)."""
    values: dict[str, Any] = {
        "admin_ids": str(ADMIN), "poll_interval": 3600, "live_interval": 0, "alert_board": False, **overrides,
    }  # fmt: skip
    return local_settings(sandbox, tg, tmp_path / "bot.db", **values)


@pytest.fixture(scope="session", autouse=True)
def one_tls_context() -> Iterator[None]:
    """Every Application builds two httpx clients, and each loads the CA bundle into a new TLS context
    (~40 ms, most of a test's set-up); these bots speak plain HTTP over loopback, so they share them."""
    cached = functools.lru_cache(maxsize=None)(httpx_transport.create_ssl_context)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(httpx_transport, "create_ssl_context", cached)
        yield


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(ring_seconds=0.05, talk_seconds=0.1) as sb:
        yield sb


@pytest.fixture
async def tg() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(TOKEN) as server:
        server.user(ADMIN, first_name="Anna", username="anna_admin")
        server.user(ADMIN2, first_name="Boris", username="boris_admin")
        server.user(MANAGER, first_name="Ivan", username="ivan")
        server.user(MANAGER2, first_name="Olga", username="olga")
        server.user(STRANGER, first_name="Eve", username="eve")
        server.group(GROUP, title="Sales")
        yield server


WorldFactory = Callable[..., contextlib.AbstractAsyncContextManager[World]]


@pytest.fixture
def make_world(sandbox: Sandbox, tg: FakeBotAPI, tmp_path: Path) -> WorldFactory:
    """``async with make_world(default_caller_id=...) as world``: the bot with other settings (``jobs=True``
    keeps the background jobs, ``own_clients=True`` the New-Tel clients the bot built from them)."""

    @contextlib.asynccontextmanager
    async def start(*, jobs: bool = False, own_clients: bool = False, **overrides: Any) -> AsyncIterator[World]:
        settings = make_settings(sandbox, tg, tmp_path, **overrides)
        app = build_application(settings)
        if not jobs:
            without_jobs(app)
        async with running(app) as services:
            world = World(sandbox, tg, app, services, settings)
            if not own_clients:  # the New-Tel clients the bot built from its settings
                world.use_newtel()
            yield world

    return start


def without_jobs(app: Any) -> None:
    """Unschedule the background jobs (the missed-call poller, digests) before the job queue starts, so every
    New-Tel request and every message in a test comes from the updates it sends."""
    original = app.post_init

    async def post_init(application: Any) -> None:
        await original(application)
        for job in application.job_queue.jobs():
            job.schedule_removal()

    app.post_init = post_init


@pytest.fixture
async def world(make_world: WorldFactory) -> AsyncIterator[World]:
    async with make_world() as started:
        yield started


@pytest.fixture
def manager(world: World) -> User:
    """MANAGER acts as Васильева Татьяна (101, personal 79747144854)."""
    return world.make_manager()
