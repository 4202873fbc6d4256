"""The archive past New-Tel's 24 hours: every call observed (by the poll or a command) enters through one ingest."""

from __future__ import annotations

import time

import pytest

from bot.alerts.poller import poller
from bot.calllog import ingest as ingest_module
from tests.bot.conftest import MANAGER, World

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
