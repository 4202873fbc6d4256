"""A customer's story is told by one function (bot/calllog/story.py) with the same numbers wherever it is shown:
above a customer's /calls list (as it stands now), under each /calls row and on a ringing card (at that call); an
answered call has returned the misses before it; and nothing is told before the archive holds New-Tel's day."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.watch.poller import poller
from tests.bot.conftest import MANAGER, World, WorldFactory, eventually

CUSTOMER, SHOWN = "79779378296", "+7 977 937-82-96"
NEWCOMER, NEWCOMER_SHOWN = "79035550011", "+7 903 555-00-11"  # in none of the sandbox's history
ZONE = ZoneInfo("Europe/Moscow")  # the tests' settings


def day(moment: float) -> str:
    return datetime.fromtimestamp(moment, ZONE).strftime("%d.%m")


def six_calls(world: World) -> tuple[float, float]:
    """The customer's day: a miss, a callback talked 3:10 (Попов Сергей, 100), an inbound call answered 1:00 by
    Васильева Татьяна (101), two misses, a callback nobody answered. Returns the two talks' start times."""
    sandbox = world.sandbox
    sandbox.company.clear_calls()  # only this customer's calls
    now = sandbox.now()
    first, talked = now - 5 * 3600, now - 4 * 3600
    sandbox.add_call("in", clid=CUSTOMER, status="no answer", start=first, end=first + 20)
    sandbox.add_call("out", dnid=CUSTOMER, status="answered", start=talked, answer=talked + 10, end=talked + 200)
    answered = now - 3 * 3600
    sandbox.add_call(
        "in", clid=CUSTOMER, status="answered", start=answered, answer=answered + 5, end=answered + 65,
        answered_numbers=("101",),
    )  # fmt: skip
    for back in (2 * 3600, 3600):
        sandbox.add_call("in", clid=CUSTOMER, status="no answer", start=now - back, end=now - back + 20)
    sandbox.add_call("out", dnid=CUSTOMER, status="no answer", start=now - 1800, end=now - 1770)
    return talked, answered


def stories(text: str) -> list[str]:
    """The story line under each row of a /calls reply (New-Tel's day), top to bottom."""
    return [line.strip() for line in text.split("\n") if line.startswith("      ")]


@pytest.mark.parametrize("lang", ["ru", "en"])
async def test_a_customers_list_counts_its_calls_and_an_answered_call_returned_the_misses(
    world: World, manager: object, lang: str
) -> None:
    talked, answered = six_calls(world)
    await poller(world.app).poll_once(world.app.bot)  # archived, with who talked
    if lang == "en":
        await world.ask(MANAGER, "/lang en")
    reply = await world.ask(MANAGER, f"/calls {SHOWN}")
    popov, vasilieva = f"{day(talked)}: Попов Сергей, 3:10", f"{day(answered)}: Васильева Татьяна, 1:00"
    if lang == "ru":
        header = f"звонков за 7 дн.: 6 · последний разговор {vasilieva} · не перезвонили: 2"
        rows = [
            f"6-й звонок за 7 дн. · последний разговор {vasilieva} · не перезвонили: 2",
            f"5-й звонок за 7 дн. · последний разговор {vasilieva} · не перезвонили: 1",
            f"4-й звонок за 7 дн. · последний разговор {vasilieva}",
            f"3-й звонок за 7 дн. · последний разговор {popov}",  # answered: the miss before it is returned
            "2-й звонок за 7 дн.",  # the callback itself, talked 3:10
            "🆕 новый номер",
        ]
    else:
        popov, vasilieva = popov.replace(": ", " with ", 1), vasilieva.replace(": ", " with ", 1)
        header = f"calls in 7 days: 6 · last talk {vasilieva} · not called back: 2"
        rows = [
            f"6th call in 7 days · last talk {vasilieva} · not called back: 2",
            f"5th call in 7 days · last talk {vasilieva} · not called back: 1",
            f"4th call in 7 days · last talk {vasilieva}",
            f"3rd call in 7 days · last talk {popov}",
            "2nd call in 7 days",
            "🆕 new number",
        ]
    # Under "1–6 of 6": the six calls, not "the 7th"; and each call's story in New-Tel's day.
    assert (reply.split("\n")[1], stories(await world.ask(MANAGER, "/calls"))) == (header, rows)


@pytest.fixture
async def just_started(make_world: WorldFactory, sandbox: Any) -> AsyncIterator[World]:
    """The bot's first start with a live watch; the customer called five times today. The first reconcile fails
    (New-Tel's day is not in the archive yet), and no other runs until the test asks."""
    for call in sandbox.company.active_calls(sandbox.now()):
        sandbox.end_call(call, at=sandbox.now() - 5)
    now = sandbox.now()
    for back in range(5):
        start = now - 3600 * (back + 1)
        sandbox.add_call("in", clid=NEWCOMER, status="no answer", start=start, end=start + 20)
    sandbox.faults.fail(times=100, methods=["vpbx/get-calls-list"])  # retries included
    async with make_world(jobs=True, live_interval=0.3, poll_interval=3600) as world:
        world.make_manager(MANAGER, internal="101")
        await world.app.bot_data.need_poller().wait_cycles(1)
        yield world


async def test_a_ringing_card_tells_no_story_before_the_archive_holds_the_day_then_the_same_as_calls(
    just_started: World,
) -> None:
    world = just_started
    now = world.sandbox.now()
    ringing = world.sandbox.add_call("in", clid=NEWCOMER, status="no answer", start=now, end=None, active=True)
    sent = await world.tg.wait_for("sendMessage", chat_id=MANAGER, ok=True, timeout=5)

    def card() -> str:
        shown = world.tg.message(MANAGER, sent.result["message_id"])
        assert shown is not None
        return str(shown["text"])

    assert card().startswith(f"📞 Звонит {NEWCOMER_SHOWN}")
    assert "новый номер" not in card() and "звонок" not in card()  # not told rather than told wrong
    world.sandbox.faults.clear()
    await poller(world.app).poll_once(world.app.bot)  # the day is in now
    world.sandbox.end_call(ringing)
    await eventually(lambda: card().startswith("📵 Пропущен"))
    told = "6-й звонок за 7 дн. · не перезвонили: 5"
    assert card().split("\n")[-1] == told
    assert stories(await world.ask(MANAGER, "/calls"))[0] == told  # the same call, the same story
