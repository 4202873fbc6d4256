"""Which of Telegram's failures surely left nothing behind (``not_taken``), told from the errors PTB's own request code
raises for each way a request can fail: a send that may have landed is never sent again. And a command's reply in a
storm of 429s and 5xx (the real Application and the fake Bot API): sent once if it can go within the bound, else
dropped with one warning."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from telegram.error import RetryAfter, TelegramError
from telegram.request import BaseRequest, HTTPXRequest

from bot import ratelimit
from bot.ratelimit import ChatPace, PatientRateLimiter, not_taken, wait_asked
from tests.bot.conftest import MANAGER, MANAGER2, World, eventually


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


# --- a command's reply in a storm ------------------------------------------------------------------------------


async def test_a_reply_waits_out_a_storm_of_429s_that_fits_the_bound(world: World, manager: object) -> None:
    world.tg.faults.fail(status=429, times=3, methods={"sendMessage"}, retry_after=0.3)
    world.tg.faults.fail(status=503, times=1, methods={"sendMessage"})
    world.tg.faults.fail(status=429, times=4, methods={"sendMessage"}, retry_after=0.3)
    started = time.monotonic()
    (reply,) = await world.say_all(MANAGER, "/balance", count=1, timeout=ratelimit.RETRY_BUDGET + 2)
    assert reply["text"].startswith("💰 Баланс")
    assert time.monotonic() - started < ratelimit.RETRY_BUDGET
    assert [c.status for c in world.sent("sendMessage", MANAGER)] == [429, 429, 429, 503, 429, 429, 429, 429, 200]
    assert len(world.tg.chat(MANAGER)) == 1


@pytest.mark.parametrize(("times", "retry_after"), [(1, 30), (10_000, 0.3)], ids=["one-long-wait", "endless"])
async def test_a_reply_that_cannot_go_within_the_bound_is_dropped_with_one_warning(
    world: World, manager: object, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
    times: int, retry_after: float,
) -> None:  # fmt: skip
    monkeypatch.setattr(ratelimit, "RETRY_BUDGET", 1.0)
    world.tg.faults.fail(status=429, times=times, methods={"sendMessage"}, retry_after=retry_after)
    started = time.monotonic()
    with caplog.at_level(logging.INFO):
        world.tg.send_text(MANAGER, "/balance")
        deadline = started + 5
        while not [r for r in caplog.records if r.levelno >= logging.WARNING]:
            assert time.monotonic() < deadline, "no warning"
            await asyncio.sleep(0.02)
    assert time.monotonic() - started < 1.0 + 0.5  # not 30 s: a wait past the bound is not waited
    (warning,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert warning.levelno == logging.WARNING and warning.exc_info is None
    assert "RetryAfter" in warning.getMessage()
    world.tg.faults.clear()
    world.make_manager(MANAGER2, internal="102")
    assert (await world.ask(MANAGER2, "/whoami")).startswith("Кто вы")  # the next reply goes out, the dropped one never
    assert world.tg.chat(MANAGER) == []  # (and that chat waits as long as Telegram asked: the test below)


async def warned(caplog: pytest.LogCaptureFixture, count: int, timeout: float = 5.0) -> list[logging.LogRecord]:
    """The first ``count`` warnings logged, once they are."""
    deadline = time.monotonic() + timeout
    while len(found := [r for r in caplog.records if r.levelno >= logging.WARNING]) < count:
        assert time.monotonic() < deadline, f"{len(found)} warnings, not {count}"
        await asyncio.sleep(0.02)
    return found[:count]


async def test_while_telegram_asks_a_chat_to_wait_nothing_is_sent_there_and_other_chats_go_on(
    world: World, manager: object, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Telegram tends to lengthen the wait of a bot that keeps sending through it.
    monkeypatch.setattr(ratelimit, "RETRY_BUDGET", 1.0)
    world.make_manager(MANAGER2, internal="102")
    world.tg.faults.fail(status=429, times=1, methods={"sendMessage"}, retry_after=3)
    with caplog.at_level(logging.INFO):
        world.tg.send_text(MANAGER, "/whoami")
        await warned(caplog, 1)  # past the bound: dropped
        world.tg.send_text(MANAGER, "/whoami")
        await warned(caplog, 2)  # within the wait asked: dropped without asking Telegram
        assert (await world.ask(MANAGER2, "/whoami")).startswith("Кто вы")  # another chat is not held
    assert [c.status for c in world.sent("sendMessage", MANAGER)] == [429]
    monkeypatch.setattr(ratelimit, "RETRY_BUDGET", 8.0)
    assert (await world.ask(MANAGER, "/whoami")).startswith("Кто вы")  # the rest of the wait fits: waited out
    refused, sent = world.sent("sendMessage", MANAGER)
    assert sent.ok and sent.time - refused.time >= 3.0


@pytest.mark.parametrize(
    ("told", "then", "reaches"),
    [
        ({"chat_id": 1}, {"chat_id": 1}, False),
        ({"chat_id": "1"}, {"chat_id": 1}, False),  # one chat, however its id is written
        ({"chat_id": 1}, {"chat_id": -100500}, True),
        ({"callback_query_id": "7"}, {"chat_id": -100500}, False),  # a request of no chat: every request waits
        ({"callback_query_id": "7"}, {"callback_query_id": "8"}, False),
    ],
)
async def test_a_429_holds_back_its_chat_or_without_one_every_request(
    told: dict[str, object], then: dict[str, object], reaches: bool
) -> None:
    limiter, reached = PatientRateLimiter(overall_max_rate=0), []

    async def telegram(data: dict[str, object]) -> bool:
        reached.append(data)
        if len(reached) == 1:
            raise RetryAfter(30)
        return True

    with pytest.raises(RetryAfter):
        await limiter.process_request(telegram, (told,), {}, "sendMessage", told, None)
    if reaches:
        assert await limiter.process_request(telegram, (then,), {}, "sendMessage", then, None) is True
    else:
        with pytest.raises(RetryAfter) as refused:
            await limiter.process_request(telegram, (then,), {}, "sendMessage", then, None)
        assert 29 < wait_asked(refused.value) <= 30
    assert reached == ([told, then] if reaches else [told])


async def test_a_429_waited_out_holds_its_own_chat_alone() -> None:
    """AIORateLimiter's own retry would pause every request to every chat for the wait: a busy group's 429 would hold
    up another group's alert and every reply."""
    limiter, reached = PatientRateLimiter(overall_max_rate=0), []

    async def telegram(data: dict[str, object]) -> bool:
        reached.append((data["chat_id"], time.monotonic()))
        if len(reached) == 1:
            raise RetryAfter(1)
        return True

    def request(chat_id: int) -> Awaitable[Any]:
        data = {"chat_id": chat_id}
        return limiter.process_request(telegram, (data,), {}, "sendMessage", data, None)

    busy = asyncio.create_task(request(-1))
    await eventually(lambda: len(reached) == 1)  # refused: -1 is held for a second
    assert await request(-2) is True
    assert await busy is True
    (_, refused), (_, other), (_, again) = reached
    assert [chat for chat, _ in reached] == [-1, -2, -1]
    assert other - refused < 0.5 and again - refused >= 1.0  # the other chat at once; the held one after its wait


async def test_a_request_to_a_held_chat_is_refused_without_waiting_for_its_turn() -> None:
    """A group's pace (here one message a minute) is not spent, nor waited for, by a request refused for a 429."""
    limiter, reached = PatientRateLimiter(overall_max_rate=0, group_max_rate=1, group_time_period=60), []

    async def telegram(data: dict[str, object]) -> bool:
        reached.append(data)
        raise RetryAfter(30)

    data = {"chat_id": -1}
    with pytest.raises(RetryAfter):
        await limiter.process_request(telegram, (data,), {}, "sendMessage", data, None)
    with pytest.raises(RetryAfter) as refused:
        await asyncio.wait_for(limiter.process_request(telegram, (data,), {}, "sendMessage", data, None), timeout=1)
    assert 29 < wait_asked(refused.value) <= 30 and len(reached) == 1


def test_a_groups_pace_lets_its_burst_go_then_one_message_a_turn_and_says_when_without_taking_it() -> None:
    pace = ChatPace(20, 60)  # Telegram's 20 messages a minute in a group
    assert [pace.take("-1", 0.0) for _ in range(20)] == [0.0] * 20  # the burst, at once
    assert pace.free_in("-1", 0.0) == 3.0 and pace.free_in("-1", 1.0) == 2.0  # asked, not taken
    assert pace.take("-1", 1.0) == 2.0  # the 21st goes at 3 s
    assert pace.take("-1", 1.0) == 5.0  # and the next a turn later: first come, first served
    assert pace.take("-2", 1.0) == 0.0  # another group has a pace of its own
    assert pace.free_in("-1", 66.0) == 0.0  # a minute on: a burst again
