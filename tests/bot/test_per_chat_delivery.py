"""Each chat's messages at its own Telegram pace: a group Telegram holds (429) keeps nobody else waiting, a Call back
rings before the group's edit goes out, and an alert takes the turn of a board edit waiting for the group's pace. The
real Application with its poll job between the New-Tel sandbox and the fake Bot API."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.texts import Texts
from bot.watch.poller import poller
from tests.bot.conftest import GROUP, MANAGER, World, WorldFactory

QUIET = -100_600
POLL = 0.2
HELD = 6  # seconds Telegram asks the busy group to wait: within a request's budget (bot.ratelimit.RETRY_BUDGET)
START_CALL = "call/start-simple-call"
TURN = 3.0  # seconds between two messages in a group once its burst of 20 is spent (Telegram's 20 a minute)
ALERT, BOARD = Texts("ru")("alert_title"), "📋"  # how an alert and the board begin


@pytest.fixture
async def desks(make_world: WorldFactory) -> AsyncIterator[World]:
    """GROUP hears of calls to the company's first number, QUIET of calls to its second; MANAGER may call back."""
    async with make_world(jobs=True, poll_interval=POLL) as world:
        world.make_manager()
        world.tg.group(QUIET, title="Quiet desk")
        first, second = world.sandbox.company.external_numbers[:2]
        now = int(time.time())
        world.services.storage.chats.subscribe(GROUP, "Sales", [first], False, now=now - 60)
        world.services.storage.chats.subscribe(QUIET, "Quiet desk", [second], False, now=now - 60)
        await poller(world.app).wait_cycles(2)  # the baseline is taken: the history is not news
        yield world


def miss(world: World, customer: str, chat_id: int) -> None:
    first, second = world.sandbox.company.external_numbers[:2]
    now = world.sandbox.now()
    world.sandbox.add_call(
        direction="in", clid=customer, dnid=first if chat_id == GROUP else second, status="no answer",
        start=now - 20, end=now,
    )  # fmt: skip


def alert_sends(world: World, chat_id: int, *, ok: bool | None = True) -> list[Any]:
    return [c for c in world.sent("sendMessage", chat_id) if ok is None or c.ok == ok]


async def test_a_group_telegram_holds_does_not_delay_another_groups_alert(desks: World) -> None:
    desks.tg.faults.fail(status=429, times=1_000, methods={"sendMessage"}, chat_id=GROUP, retry_after=HELD)
    miss(desks, "79030000001", GROUP)
    await desks.tg.wait_for("sendMessage", chat_id=GROUP, since=0, timeout=5)  # refused: the group is held
    missed = time.monotonic()
    miss(desks, "79030000002", QUIET)
    quiet = await desks.tg.wait_for("sendMessage", chat_id=QUIET, ok=True, since=0, timeout=HELD + 5)
    assert quiet.time - missed <= 1.5  # a poll or two: not the busy group's wait of 6 s
    assert alert_sends(desks, GROUP) == []  # still held
    desks.tg.faults.clear()
    await desks.tg.wait_for("sendMessage", chat_id=GROUP, ok=True, since=0, timeout=2 * HELD + 5)  # nothing lost
    await poller(desks.app).wait_cycles(3)
    assert len(alert_sends(desks, GROUP)) == len(alert_sends(desks, QUIET)) == 1  # each once


async def test_a_call_back_rings_before_the_groups_edit_goes_out(desks: World) -> None:
    miss(desks, "79030000003", GROUP)
    sent = await desks.tg.wait_for("sendMessage", chat_id=GROUP, ok=True, since=0, timeout=5)
    alert = desks.tg.message(GROUP, sent.result["message_id"])
    assert alert is not None
    await poller(desks.app).wait_cycles(2)  # its message id recorded: the press counts on it
    desks.tg.faults.fail(status=429, times=1, methods={"editMessageText"}, chat_id=GROUP, retry_after=3)
    pressed, wall = time.monotonic(), time.time() - time.monotonic()
    desks.tg.press(MANAGER, alert, button=0)
    edit = await desks.tg.wait_for(
        "editMessageText", chat_id=GROUP, ok=True, since=0, timeout=10,
        predicate=lambda c: c.params.get("message_id") == alert["message_id"] and "перезванивает" in c.params["text"],
    )  # fmt: skip
    (start,) = desks.newtel_requests(START_CALL)
    assert start.time - wall - pressed <= 1.0  # the call rang at once, while Telegram held the group's edit
    edits = [c for c in desks.sent("editMessageText", GROUP) if c.params.get("message_id") == alert["message_id"]]
    assert edits and all(c.time + wall > start.time for c in edits)  # every attempt at the edit after the call
    assert edit.time - pressed >= 3  # the edit waited out Telegram's 429 in its own lane


async def test_an_alert_takes_the_turn_of_a_board_edit_waiting_for_the_groups_pace(make_world: WorldFactory) -> None:
    async with make_world(jobs=True, poll_interval=POLL, alert_board=True) as world:
        first = world.sandbox.company.external_numbers[0]
        world.services.storage.chats.subscribe(GROUP, "Sales", [first], False, now=int(time.time()) - 60)
        await poller(world.app).wait_cycles(2)  # the baseline is taken: the history is not news
        miss(world, "79030000100", GROUP)
        await world.tg.wait_for("pinChatMessage", chat_id=GROUP, ok=True, since=0, timeout=5)  # the board is up
        for n in range(16):  # with the board's own requests, past the group's burst of 20
            miss(world, f"7903000{n:04d}", GROUP)
        *_, last = await world.tg.wait_for(
            "sendMessage", chat_id=GROUP, ok=True, since=0, count=17, timeout=TURN + 5,
            predicate=lambda c: c.params["text"].startswith(ALERT),
        )  # fmt: skip
        # The board's edit with those 16 now waits for the group's next turn; a miss comes meanwhile.
        miss(world, "79030000200", GROUP)
        alert = await world.tg.wait_for(
            "sendMessage", chat_id=GROUP, ok=True, since=last.seq + 1, timeout=2 * TURN + 5,
            predicate=lambda c: "903 000-02-00" in c.params["text"],
        )  # fmt: skip
        edit = await world.tg.wait_for(
            "editMessageText", chat_id=GROUP, ok=True, since=last.seq + 1, timeout=2 * TURN + 5,
            predicate=lambda c: c.params["text"].startswith(BOARD),
        )  # fmt: skip
        assert alert.seq < edit.seq  # the alert went first, in the turn the board's edit was waiting for
        assert alert.time - last.time <= TURN + 1.0  # one turn of the group's pace (and a poll), not two
        assert "903 000-02-00" in edit.params["text"]  # the edit that went after it shows it too: one edit
