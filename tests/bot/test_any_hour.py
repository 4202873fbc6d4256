"""What depends on the time of day, run at every hour of it with the bot in Moscow and in UTC (``TIMEZONE``), and
across midnight: a missed call held outside the business hours (over a weekend) or alerted inside them, its deadline
in business time, a callback closing its line, "today"/"yesterday" in the alert and in ``/calls``. Each expectation is
worked out here from the instant, not read from the bot. (``pytest --clock=…`` runs the whole suite at one instant.)"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine

from bot.alerts.deadlines import DeadlineWatch
from newtel.sandbox import Sandbox
from tests.bot.conftest import ADMIN, GROUP, MANAGER, World, WorldFactory
from tests.bot.test_deadlines import Release, buttons, current, messages, poll, poll_until, shown, start
from tests.conftest import at

CUSTOMER = "79035551122"
DAY = date(2026, 12, 11)  # a Friday: what is past the evening waits for Monday
HOURS, OPENS, CLOSES = "09:00-18:00 пн-пт", clock(9), clock(18)
SLA = timedelta(minutes=60)  # past 17:00 it runs on into the next working morning
RING = 20  # seconds the miss rang ("звонил 0:20")


@dataclass(frozen=True)
class Moment:
    zone: str
    local: datetime  # where the clock is set: the miss ends then
    past_midnight: bool  # the scenario then moves on into the next day (its callback, its /calls)


ZONES = ("Europe/Moscow", "UTC")
MOMENTS = [
    *(Moment(zone, datetime.combine(DAY, clock(hour, 17, 30), ZoneInfo(zone)), False) for zone in ZONES
      for hour in range(24)),
    *(Moment(zone, datetime.combine(DAY, clock(23, 59), ZoneInfo(zone)), True) for zone in ZONES),
]  # fmt: skip


@pytest.fixture(params=MOMENTS, ids=lambda m: f"{m.local:%H%M}-{m.zone.split('/')[-1]}{'-midnight' * m.past_midnight}")
def moment(request: pytest.FixtureRequest) -> Iterator[tuple[Moment, time_machine.Traveller]]:
    """The clock set to the moment, and the process's local time zone the other one: a bot in Moscow on a server in
    UTC, a bot in UTC on a laptop in Moscow (code that reads local time instead of ``TIMEZONE`` shows itself)."""
    other = next(zone for zone in ZONES if zone != request.param.zone)
    with at(request.param.local.astimezone(ZoneInfo(other))) as traveller:
        yield request.param, traveller


@pytest.fixture
async def sandbox(moment: tuple[Moment, Any]) -> AsyncIterator[Sandbox]:
    """Made once the clock is set (its day of calls is of that moment), with a short history and quick calls."""
    async with Sandbox(history_size=5, ring_seconds=0.01, talk_seconds=0.02) as made:
        yield made


@pytest.fixture
async def world(moment: tuple[Moment, Any], make_world: WorldFactory) -> AsyncIterator[World]:
    """The bot at that moment (its baseline and subscription are of it), MANAGER a manager."""
    async with make_world(timezone=moment[0].zone) as started:
        await start(started)
        started.make_manager(MANAGER)
        yield started


def business(ended: datetime) -> tuple[datetime | None, datetime]:
    """When a miss that ended at ``ended`` (local) is told if it is held (None: at once), and its deadline: SLA of
    working time (09:00–18:00, Monday to Friday) after it."""
    zone = ended.tzinfo

    def opening(after: date) -> datetime:
        day = after + timedelta(days=1)
        while day.weekday() > 4:
            day += timedelta(days=1)
        return datetime.combine(day, OPENS, zone)

    day = ended.date()
    opens, closes = datetime.combine(day, OPENS, zone), datetime.combine(day, CLOSES, zone)
    if day.weekday() <= 4 and opens <= ended < closes:
        told, begin = None, ended
    else:
        told = opens if day.weekday() <= 4 and ended < opens else opening(day)
        begin = told
    left = datetime.combine(begin.date(), CLOSES, zone) - begin
    if left >= SLA:
        return told, begin + SLA
    return told, opening(begin.date()) + (SLA - left)


def said_when(moment: datetime, now: datetime) -> str:
    """How an alert names when the miss began: its time today, "вчера HH:MM" yesterday (local days)."""
    if moment.date() == now.date():
        return f"{moment:%H:%M}"
    assert moment.date() == now.date() - timedelta(days=1)
    return f"вчера {moment:%H:%M}"


async def test_a_miss_at_any_hour_is_told_reminded_and_closed_by_its_callback(
    world: World, moment: tuple[Moment, time_machine.Traveller]
) -> None:
    case, traveller = moment
    zone = ZoneInfo(case.zone)
    await world.ask(ADMIN, f"/hours {HOURS}", chat_id=GROUP)
    await world.ask(ADMIN, f"/sla {SLA.seconds // 60}", chat_id=GROUP)
    before = len(messages(world, GROUP))
    ended = int(world.sandbox.now())
    world.sandbox.add_call(direction="in", clid=CUSTOMER, status="no answer", start=ended - RING, end=ended)
    await poll(world)
    local_end, started = datetime.fromtimestamp(ended, zone), datetime.fromtimestamp(ended - RING, zone)
    told, due = business(local_end)

    (alert,) = world.services.storage.alerts.open_for(GROUP)
    assert alert.deadline_at == int(due.timestamp())
    if told is None:  # inside the hours: alerted at once
        assert not alert.held
        (message,) = messages(world, GROUP)[before:]
        call_back, when_line = "📞 Перезвонить", "Когда: {}, звонил 0:20"
    else:  # outside them: held for the summary at the opening, and not a second sooner
        assert alert.held and len(messages(world, GROUP)) == before
        release = Release(world)
        assert await release.release_due(world.app.bot, now=int(told.timestamp()) - 1) == 0
        assert await release.release_due(world.app.bot, now=int(told.timestamp())) == 1
        (message,) = messages(world, GROUP)[before:]
        assert message["text"].startswith("🌅 Пропущенные в нерабочее время: 1")
        call_back, when_line = f"📞 1. {shown(CUSTOMER)}", f"1. {shown(CUSTOMER)} — {{}}"
    watch = DeadlineWatch(world.services)
    assert await watch.check(world.app.bot, now=int(due.timestamp()) - 1) == 0
    assert await watch.check(world.app.bot, now=int(due.timestamp())) == 1

    if case.past_midnight:  # the callback, and what follows, comes the next day
        assert local_end.date() == DAY
        traveller.shift(datetime.combine(DAY + timedelta(days=1), clock(0, 0, 5), zone) - datetime.now(UTC))
    assert call_back in buttons(current(world, message))[0]
    answer = await world.press(MANAGER, current(world, message), call_back)
    assert answer["text"].startswith("Звоню")
    await poll_until(world, lambda: "✅ Перезвонил(а)" in current(world, message)["text"])
    now = datetime.now(UTC).astimezone(zone)
    assert when_line.format(said_when(started, now)) in current(world, message)["text"].splitlines()

    listed = {day: shown(CUSTOMER) in await world.ask(MANAGER, f"/calls missed {day}") for day in ("сегодня", "вчера")}
    assert listed == {"сегодня": started.date() == now.date(), "вчера": started.date() == now.date() - timedelta(1)}
