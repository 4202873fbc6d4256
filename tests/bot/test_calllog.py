"""The archive past New-Tel's 24 hours: every call observed (by the poll or a command) enters through one ingest."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.calllog import ingest as ingest_module
from bot.calls import periods
from bot.watch.poller import poller
from storage import CallRecord
from tests.bot.conftest import MANAGER, World
from tests.conftest import at_noon

CUSTOMER = "79035551122"


async def test_calls_the_sandbox_has_forgotten_are_still_listed_by_number(world: World, manager: object) -> None:
    sandbox = world.sandbox
    now = sandbox.now()
    sandbox.add_call(direction="in", clid=CUSTOMER, status="no answer", start=now - 80_000, end=now - 79_980)
    sandbox.add_call(
        direction="in", clid="79160001122", status="answered", start=now - 50, answer=now - 45, end=now - 5
    )
    await poller(world.app).poll_once(world.app.bot)  # observed: archived
    sandbox.company.clear_calls()  # New-Tel's 24 hours have moved on
    reply = await world.ask(MANAGER, "/calls 8 (903) 555-11-22")
    assert "+7 903 555-11-22" in reply and "+7 916 000-11-22" not in reply
    assert reply.startswith("📞 Звонки (все) — 1–1 из 1")
    assert (await world.ask(MANAGER, "/calls missed +7 903 555 11 22")).startswith("📞 Звонки (пропущенные) — 1–1")


async def test_a_poll_in_which_nothing_changed_writes_nothing(world: World) -> None:
    storage, ingest = world.services.storage, world.services.ingest
    calls = await world.services.newtel.vpbx.get_calls()
    assert len(ingest.take(calls, now=int(time.time()))) == len(calls) > 0  # the first start takes it all in
    assert storage.calls.count() == len(calls)
    writes = storage.db.conn.total_changes
    assert ingest.take(calls, now=int(time.time())) == []
    assert storage.db.conn.total_changes == writes


async def test_the_first_days_history_goes_in_over_a_few_polls_newest_first(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest_module, "INGEST_BATCH", 10)
    storage, ingest = world.services.storage, world.services.ingest
    calls = await world.services.newtel.vpbx.get_calls()
    first = ingest.take(calls, now=int(time.time()))
    newest = sorted(calls, key=lambda c: c.start_time, reverse=True)[:10]
    assert {c.call.vpbx_id for c in first} == {c.vpbx_id for c in newest}
    while changes := ingest.take(calls, now=int(time.time())):  # each poll a batch, calls still going on included
        assert len(changes) <= 10
    assert storage.calls.count() == len(calls)


@pytest.mark.parametrize(
    ("typed", "days_back", "days"),
    [("today", 0, 1), ("сегодня", 0, 1), ("вчера", 1, 1), ("yesterday", 1, 1), ("7d", 6, 7), ("3д", 2, 3)],
)
def test_periods_as_people_type_them(typed: str, days_back: int, days: int) -> None:
    zone, now = ZoneInfo("Europe/Moscow"), datetime(2026, 12, 1, 15, 30, tzinfo=UTC)
    period = periods.canonical(typed)
    assert period is not None
    start, end = periods.bounds(period, zone, now) or (0, 0)
    midnight = datetime(2026, 12, 1, tzinfo=zone) - timedelta(days=days_back)
    assert (start, end - start) == (int(midnight.timestamp()), days * 86_400)


def test_dates_are_the_latest_such_day_and_nonsense_is_refused() -> None:
    zone, now = ZoneInfo("Europe/Moscow"), datetime(2026, 1, 3, 9, 0, tzinfo=UTC)
    start, end = periods.bounds(periods.canonical("28.12-2.1") or "", zone, now) or (0, 0)
    assert datetime.fromtimestamp(start, zone).date().isoformat() == "2025-12-28"
    assert datetime.fromtimestamp(end, zone).date().isoformat() == "2026-01-03"  # through 2 January
    assert periods.bounds("31.02", zone, now) is None and periods.bounds("02.01-28.12", zone, now) is None
    assert [periods.canonical(t) for t in ("0d", "7 days", "+7", "1.1.2026.")] == [None] * 4


@at_noon  # a miss a minute ago is today's: not at 00:00:30
async def test_calls_of_a_period_come_from_the_archive(world: World, manager: object) -> None:
    sandbox = world.sandbox
    now = sandbox.now()
    sandbox.add_call(direction="in", clid=CUSTOMER, status="no answer", start=now - 60, end=now - 40)
    await poller(world.app).poll_once(world.app.bot)
    sandbox.company.clear_calls()
    today = await world.ask(MANAGER, "/calls missed today")
    assert today.startswith("📞 Звонки (пропущенные)") and "+7 903 555-11-22" in today  # New-Tel has forgotten it
    assert await world.ask(MANAGER, "/calls 31.02") == (
        "Такого периода нет: «31.02». Например: сегодня, вчера, 7д, 28.11, 25.11–28.11 или 28.11.2025."
    )


async def test_calls_past_the_retention_are_forgotten_a_batch_a_poll_then_looked_for_hourly(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest_module, "RETENTION_BATCH", 2)
    storage, now = world.services.storage, int(time.time())
    days = world.settings.call_retention_days
    old = [
        CallRecord(f"{n:040x}", "in", CUSTOMER, "74955325585", "no answer", False, now - (days + 1) * 86_400 - n,
                   None, now - (days + 1) * 86_400 - n + 20)
        for n in range(5)
    ]  # fmt: skip
    storage.calls.ingest(old, now=now)
    ingest = ingest_module.Ingest(storage, days)
    counts = []
    for _ in range(4):
        ingest.take([], now)
        counts.append(storage.calls.count())
    assert counts == [3, 1, 0, 0]
    storage.calls.ingest(old[:1], now=now)  # another old one: not looked for until an hour on
    ingest.take([], now + 60)
    assert storage.calls.count() == 1
    ingest.take([], now + ingest_module.PRUNE_EVERY + 1)
    assert storage.calls.count() == 0
