"""Which of Telegram's failures surely left nothing behind (``not_taken``), told from the errors PTB's own request code
raises for each way a request can fail: a send that may have landed is never sent again."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from telegram.error import TelegramError
from telegram.request import BaseRequest, HTTPXRequest

from bot.ratelimit import not_taken


class Answering(BaseRequest):
    """PTB's request machinery, answered with a status and body instead of the network."""

    def __init__(self, status: int, body: bytes) -> None:
        self._answer = status, body

    async def initialize(self) -> None: ...

    async def shutdown(self) -> None: ...

    @property
    def read_timeout(self) -> float:
        return 1.0

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        return self._answer


async def raised(request: BaseRequest) -> TelegramError:
    with pytest.raises(TelegramError) as caught:
        await request.post("https://api.telegram.org/botX/sendMessage")
    return caught.value


@pytest.mark.parametrize(
    ("status", "body", "taken"),
    [
        (429, b'{"ok":false,"error_code":429,"description":"Too Many Requests","parameters":{"retry_after":3}}', False),
        (500, b'{"ok":false,"error_code":500,"description":"Internal Server Error"}', False),
        (502, b"<html><body>502 Bad Gateway</body></html>", False),  # a proxy's page, not JSON
        (400, b'{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}', True),  # refused: final
        (403, b'{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}', True),
    ],
)
async def test_what_telegram_answered(status: int, body: bytes, taken: bool) -> None:
    assert not_taken(await raised(Answering(status, body))) is not taken


@contextlib.asynccontextmanager
async def server(answer: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]) -> AsyncIterator[str]:
    """A local server that treats every request with ``answer``; yields its URL."""
    listening = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/botX/sendMessage"
    finally:
        listening.close()


async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")  # the request arrived (and may be acted on): then the line drops
    writer.close()


async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    await asyncio.sleep(5)


async def test_a_request_that_never_left_was_not_taken() -> None:
    nobody = f"http://127.0.0.1:{free_port()}/botX/sendMessage"  # a port nothing listens on: no connection
    with pytest.raises(TelegramError) as caught:
        await HTTPXRequest().post(nobody)
    assert not_taken(caught.value)


@pytest.mark.parametrize("answer", [hang_up, never_answer])
async def test_a_request_whose_answer_never_came_may_have_been_taken(
    answer: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> None:
    async with server(answer) as url:
        with pytest.raises(TelegramError) as caught:
            await HTTPXRequest(read_timeout=0.3).post(url)
    assert not not_taken(caught.value)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
