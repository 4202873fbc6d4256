"""NEWTEL_MAX_RPS shared fairly (issue 20): a person's command goes before the jobs' requests waiting, and people
asking the same at once cost New-Tel one request. The bot's own New-Tel clients, at the default limit (10 a second)."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.access.checks import TYPING_AFTER
from tests.bot.conftest import MANAGER, World, WorldFactory, eventually

CROWD = [7_000 + i for i in range(30)]


async def warm(world: World, user_id: int = MANAGER) -> None:
    """The manager allowed and one /balance answered: the member list access goes by is cached."""
    world.make_manager(user_id)
    assert (await world.ask(user_id, "/balance")).startswith("💰")


async def test_a_persons_balance_is_answered_at_once_while_background_work_fills_the_limit(
    make_world: WorldFactory,
) -> None:
    async with make_world(own_clients=True) as world:
        await warm(world)
        limit = world.settings.newtel_max_rps
        background = world.services.background.vpbx
        backlog = asyncio.gather(
            *(background.get_call_status(f"{i:040x}") for i in range(60)), return_exceptions=True
        )  # unknown calls (CallNotFound): New-Tel answers each, six seconds of the budget
        await eventually(lambda: len(world.newtel_requests("vpbx/get-call-status")) >= 5, timeout=2)
        started = time.monotonic()
        answer = await world.ask(MANAGER, "/balance")
        waited = time.monotonic() - started
        assert answer.startswith("💰")
        assert len(world.newtel_requests("vpbx/get-call-status")) < 60  # the backlog was still waiting
        assert waited < 1 / limit + 0.5  # one refill, not the 5 s of the backlog ahead
        assert all(isinstance(found, Exception) for found in await backlog)  # the backlog is served after
    moments = sorted(r.time for r in world.newtel_requests())
    busiest = max(sum(1 for m in moments if start <= m < start + 1) for start in moments)
    assert busiest <= 2 * limit + 1  # the burst and a second's refill at most (1 for timing slack)


async def test_managers_asking_balance_at_once_cost_one_request_and_all_are_answered(make_world: WorldFactory) -> None:
    async with make_world(own_clients=True) as world:
        await warm(world)
        for user_id in CROWD:
            world.make_manager(user_id)
        before = len(world.newtel_requests("company/get-state"))
        world.sandbox.faults.latency = 0.3  # New-Tel answering slowly: every /balance comes while one is asked
        since = world.tg.mark()
        for user_id in CROWD:
            world.tg.send_text(user_id, "/balance")
        replies = await world.tg.wait_for(
            "sendMessage",
            ok=True,
            since=since,
            count=len(CROWD),
            predicate=lambda c: int(c.chat_id or 0) in CROWD,
            timeout=5,
        )
        assert {str(r.params["text"])[:1] for r in replies} == {"💰"}
        assert len(world.newtel_requests("company/get-state")) - before == 1


async def test_typing_is_shown_only_when_the_answer_takes_a_while(world: World, manager: object) -> None:
    """A quick answer needs no "typing…" (Telegram advises it for a noticeable wait only): at 100 people asking at
    once, those requests were half the bot's CPU."""
    assert (await world.ask(MANAGER, "/balance")).startswith("💰")
    with pytest.raises(TimeoutError):
        await world.tg.wait_for("sendChatAction", timeout=TYPING_AFTER + 0.3)
    world.sandbox.faults.latency = TYPING_AFTER + 0.5
    world.tg.send_text(MANAGER, "/balance")
    typing = await world.tg.wait_for("sendChatAction", chat_id=MANAGER, timeout=5)
    reply = await world.tg.wait_for("sendMessage", chat_id=MANAGER, ok=True, timeout=5)
    assert typing.params["action"] == "typing"
    assert typing.time < reply.time
