"""Fixtures for the sandbox tests: a running sandbox, a raw signed caller (plain aiohttp, not the client) and a
receiver for the sandbox's pushes."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from newtel._signing import bearer_token, signature
from newtel.sandbox import Sandbox


@dataclass
class Reply:
    status: int
    headers: Any  # CIMultiDictProxy
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def data(self) -> Any:
        return self.json["data"]


class Api:
    """Signs and sends requests exactly as the document describes, with knobs to get each part wrong."""

    def __init__(self, sandbox: Sandbox, session: aiohttp.ClientSession) -> None:
        self.sb = sandbox
        self.session = session

    async def __call__(
        self,
        method: str,
        params: Any = None,
        *,
        body: bytes | None = None,
        content_type: str = "application/json",
        timestamp: int | None = None,
        access_key: str | None = None,
        signing_key: str | None = None,
        sign_body: bytes | None = None,
        accept: str | None = None,
        authorization: str | None = None,
    ) -> Reply:
        if body is None:
            body = json.dumps({} if params is None else params).encode()
        timestamp = int(time.time()) if timestamp is None else timestamp
        token = bearer_token(
            method,
            timestamp,
            access_key or self.sb.access_key,
            body if sign_body is None else sign_body,
            signing_key or self.sb.signing_key,
        )
        headers = {"Authorization": authorization or f"Bearer {token}", "Content-Type": content_type}
        if accept:
            headers["Accept"] = accept
        async with self.session.post(f"{self.sb.url}/{method}", data=body, headers=headers) as response:
            return Reply(response.status, response.headers, await response.read())

    def signature_ok(self, method: str, reply: Reply, timestamp: int) -> bool:
        expected = signature(method, timestamp, self.sb.access_key, reply.body, self.sb.signing_key)
        return reply.headers.get("Signature") == expected

    async def ok(self, method: str, params: Any = None) -> Any:
        """The ``data`` of a successful call (asserting it was one)."""
        reply = await self(method, params)
        assert reply.status == 200, reply.body
        assert reply.json["status"] == "success"
        assert reply.data["result"] == "success", reply.data
        return reply.data


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(ring_seconds=0.1, talk_seconds=0.2) as sb:
        yield sb


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def api(sandbox: Sandbox, session: aiohttp.ClientSession) -> Api:
    return Api(sandbox, session)


@pytest.fixture
def api_for(session: aiohttp.ClientSession) -> Callable[[Sandbox], Api]:
    """An ``Api`` for a sandbox a test starts itself."""
    return lambda sandbox: Api(sandbox, session)


async def wait_until(condition: Callable[[], Awaitable[bool]], timeout: float = 5.0, interval: float = 0.02) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds (no fixed sleeps in tests)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


@pytest.fixture
def eventually() -> Callable[..., Awaitable[None]]:
    return wait_until


@dataclass
class Receiver:
    url: str
    status: int = 200
    received: list[tuple[float, dict[str, Any]]] = field(default_factory=list)  # (arrival, body)

    @property
    def events(self) -> list[str]:
        return [body["event"] for _, body in self.received]

    def arrival(self, event: str) -> float:
        return next(at for at, body in self.received if body["event"] == event)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    box = Receiver("")

    async def collect(request: web.Request) -> web.Response:
        box.received.append((time.time(), await request.json()))
        return web.Response(status=box.status)

    app = web.Application()
    app.router.add_post("/newtel", collect)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    box.url = f"http://127.0.0.1:{runner.addresses[0][1]}/newtel"
    yield box
    await runner.cleanup()
