"""Alerts under attack and faults: forged and stale button presses, a database that cannot be written,
a watcher that fails, a balance hovering at the threshold. The real Application with its poll job between
the New-Tel sandbox and the fake Bot API."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from bot import callback_data as cd
from bot.formatting import money
from bot.watch.poller import Poller, poller
from storage import Alert
from tests.bot.conftest import ADMIN, GROUP, MANAGER, World, WorldFactory, database_locked

CUSTOMER, OTHER = "79035551122", "79035553344"
POLL = 0.2


def shown(number: str) -> str:
    return f"+7 {number[1:4]} {number[4:7]}-{number[7:9]}-{number[9:11]}"


def miss(world: World, clid: str = CUSTOMER) -> None:
    now = world.sandbox.now()
    world.sandbox.add_call(direction="in", clid=clid, status="no answer", start=now - 20, end=now)


def sends(world: World, clid: str = CUSTOMER, *, ok: bool | None = True) -> list[Any]:
    """The bot's sendMessage calls to the group about ``clid`` (by default the ones Telegram accepted)."""
    return [
        c for c in world.tg.calls
        if c.method == "sendMessage" and c.chat_id == GROUP and shown(clid) in c.params.get("text", "")
        and (ok is None or c.ok == ok)
    ]  # fmt: skip


async def alert_message(world: World, clid: str = CUSTOMER, timeout: float = 5.0) -> dict[str, Any]:
    call = await world.tg.wait_for(
        "sendMessage", chat_id=GROUP, ok=True, since=0, timeout=timeout,
        predicate=lambda c: shown(clid) in c.params.get("text", ""),
    )  # fmt: skip
    message = world.tg.message(GROUP, call.result["message_id"])
    assert message is not None
    return message


def alert_of(world: World, clid: str = CUSTOMER) -> Alert:
    row = world.services.storage.db.execute("SELECT id FROM alerts WHERE clid = ? AND chat_id = ?", (clid, GROUP))
    found = world.services.storage.alerts.get(int(row.fetchone()[0]))
    assert found is not None
    return found


def call_starts(world: World) -> list[Any]:
    return world.newtel_requests("call/start-simple-call")


async def eventually(world: World, condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait, poll by poll, until ``condition`` holds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await poller(world.app).wait_cycles(1)


@pytest.fixture
async def team(make_world: WorldFactory) -> AsyncIterator[World]:
    """The bot with its poll job every 0.2 s, the group subscribed, MANAGER a manager with a phone."""
    async with make_world(jobs=True, poll_interval=POLL) as world:
        world.make_manager()
        world.services.storage.chats.subscribe(GROUP, "Sales", [], False, now=1)
        await poller(world.app).wait_cycles(2)  # the baseline is taken: the history is not news
        yield world


def the_poller(world: World) -> Poller:
    return poller(world.app)


# --- A: a press counts only on the alert's own message -----------------------------------------------


async def test_alert_buttons_forced_onto_another_message_change_nothing(
    team: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The generic check (the pressed data must be one of the message's own buttons) is tested with the other
    # buttons; off here, so only the alert's own identity (its chat and message) decides.
    monkeypatch.setattr(cd, "on_its_message", lambda press: True)
    miss(team)
    message = await alert_message(team)
    alert = alert_of(team)
    private = await team.say(MANAGER, "/whoami")  # any message of the bot in the manager's own chat
    for data in (f"v1:done:{alert.id}", f"v1:cb:{alert.id}"):
        answer = await team.press(MANAGER, private, data=data)
        assert answer["text"]  # a polite popup, not silence
    miss(team, OTHER)
    other = await alert_message(team, OTHER)  # another alert's message in the same group
    for data in (f"v1:done:{alert.id}", f"v1:cb:{alert.id}"):
        await team.press(MANAGER, other, data=data)
    await the_poller(team).wait_cycles(2)
    assert call_starts(team) == []
    assert alert_of(team).state == "open" and alert_of(team, OTHER).state == "open"
    edits = [c for c in team.tg.calls if c.method == "editMessageText"]
    assert edits == []  # neither the alert's message nor the other alert's was touched
    assert team.tg.message(GROUP, message["message_id"])["reply_markup"] == message["reply_markup"]


# --- B: a copy the database does not know (a crash between Telegram's answer and the commit) --------


async def test_a_press_on_an_orphan_copy_is_turned_away_and_the_copy_retired(team: World) -> None:
    miss(team)
    orphan = await alert_message(team)
    await eventually(team, lambda: alert_of(team).message_id == orphan["message_id"])
    alert = alert_of(team)
    # What a crash right after Telegram accepted the message leaves: the commit of its id never happened.
    with team.services.storage.db.conn:
        team.services.storage.db.execute(
            "UPDATE alerts SET message_id = NULL, delivered_version = 0 WHERE id = ?", (alert.id,)
        )
    await eventually(team, lambda: alert_of(team).message_id not in (None, orphan["message_id"]))  # posted again
    current = alert_of(team)
    for button in (1, 0):  # Done, then Call back, on the orphan
        answer = await team.press(MANAGER, orphan, button=button)
        assert answer["show_alert"] is True and answer["text"] == "Это уведомление устарело: актуальное — ниже в чате."
    retired = team.tg.message(GROUP, orphan["message_id"])
    assert retired.get("reply_markup") is None and "устарело" in retired["text"]
    assert call_starts(team) == [] and alert_of(team).state == "open"
    live = team.tg.message(GROUP, current.message_id)
    assert [b["text"] for b in live["reply_markup"]["inline_keyboard"][0]] == ["📞 Перезвонить", "✅ Готово"]
    assert len(sends(team)) == 2  # the orphan and the one the bot knows: nothing posted a third time


# --- C: the database cannot record a send --------------------------------------------------------------


@contextmanager
def disk_full(path: os.PathLike[str] | str) -> Iterator[None]:
    """The disk refuses to grow the database's files, as a full disk does: this process may not write past
    the write-ahead log's current end (RLIMIT_FSIZE; Python ignores SIGXFSZ, so the write fails instead)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(f"{path}-wal"), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


@pytest.mark.skipif(sys.platform == "win32", reason="needs RLIMIT_FSIZE")
@pytest.mark.parametrize("fault", [database_locked, disk_full], ids=["locked", "disk_full"])
async def test_a_send_the_database_cannot_record_is_made_once(
    team: World, fault: Callable[[Any], Any], caplog: pytest.LogCaptureFixture
) -> None:
    path = team.settings.database_path
    team.tg.faults.fail(status=500, times=10_000, methods={"sendMessage"})  # Telegram down first: recorded, unsent
    miss(team)
    await team.tg.wait_for("sendMessage", chat_id=GROUP, since=0, ok=False)
    with fault(path):
        team.tg.faults.clear()
        sent = await alert_message(team)  # Telegram takes it; the database cannot say so
        await the_poller(team).wait_cycles(3)
        assert len(sends(team)) == 1  # not posted again every poll
        miss(team, OTHER)  # a new miss meanwhile cannot be recorded either: the poll goes on
        await the_poller(team).wait_cycles(3)
        assert len(sends(team)) == 1 and sends(team, OTHER) == []
        assert alert_of(team).message_id is None
    assert any(r.levelno == logging.WARNING and "database" in r.getMessage().lower() for r in caplog.records)
    await eventually(team, lambda: alert_of(team).message_id == sent["message_id"] and not alert_of(team).dirty)
    await alert_message(team, OTHER)  # nothing lost
    miss(team)  # the same customer again: the one message is edited
    twice = "Пропущенные звонки: 2"
    edit = await team.tg.wait_for(
        "editMessageText", chat_id=GROUP, ok=True, since=0, predicate=lambda c: twice in c.params["text"]
    )
    assert edit.params["message_id"] == sent["message_id"]
    await the_poller(team).wait_cycles(2)
    assert len(sends(team)) == 1 and len(sends(team, OTHER)) == 1


# --- D: one watcher's failure stops no other ---------------------------------------------------------


async def test_an_absurd_balance_does_not_stop_missed_call_alerts(team: World) -> None:
    team.sandbox.set_state(balance=-1e30)
    miss(team)
    await alert_message(team)
    low = await team.tg.wait_for("sendMessage", chat_id=ADMIN, since=0, ok=True, timeout=5)
    assert "ниже порога" in low.params["text"]


async def test_an_unexpected_failure_of_one_step_is_logged_and_the_others_run(
    team: World, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a bug in the balance watch")

    monkeypatch.setattr(the_poller(team).balance, "recipients", broken)
    miss(team)
    await alert_message(team)
    failed = [r for r in caplog.records if "balance" in r.getMessage().lower() and r.exc_info]
    assert failed and failed[0].levelno == logging.ERROR


def test_money_shows_absurd_amounts_without_failing() -> None:
    from decimal import Decimal

    assert money(Decimal("-1E+30"), "RUB", "ru").endswith("₽")
    assert money(Decimal("1E+999999"), "RUB", "en").endswith("RUB")
    assert money(Decimal("NaN"), "RUB", "en") == "—"
    assert money(Decimal("12345.675"), "RUB", "ru") == "12\u202f345,68\u00a0₽"


# --- E: a balance hovering at the threshold -----------------------------------------------------------


def balance_messages(world: World, words: str) -> list[Any]:
    return [
        c for c in world.tg.calls
        if c.method == "sendMessage" and c.chat_id == ADMIN and c.ok and words in c.params["text"]
    ]  # fmt: skip


async def test_a_balance_hovering_at_the_threshold_is_alerted_once(team: World) -> None:
    for balance in (499.0, 501.0) * 5:
        team.sandbox.set_state(balance=balance)
        await the_poller(team).wait_cycles(2)
    assert len(balance_messages(team, "ниже порога")) == 1
    assert balance_messages(team, "снова выше") == []
    team.sandbox.set_state(balance=540.0)  # above the threshold, within the margin: still low
    await the_poller(team).wait_cycles(2)
    assert balance_messages(team, "снова выше") == []
    team.sandbox.set_state(balance=560.0)  # past threshold × 1.1: recovered
    await team.tg.wait_for(
        "sendMessage", chat_id=ADMIN, since=0, ok=True, predicate=lambda c: "снова выше" in c.params["text"]
    )
    for balance in (549.0, 501.0, 560.0):  # recovered: only a drop below the threshold itself counts
        team.sandbox.set_state(balance=balance)
        await the_poller(team).wait_cycles(2)
    assert len(balance_messages(team, "снова выше")) == 1 and len(balance_messages(team, "ниже порога")) == 1


async def test_an_alert_payload_forged_onto_another_bot_message_edits_nothing(team: World) -> None:
    """Not an orphan copy: a message that never showed the alert's buttons (a digest, a reply) keeps its text."""
    miss(team)
    message = await alert_message(team)
    await eventually(team, lambda: alert_of(team).message_id == message["message_id"])
    alert = alert_of(team)
    sent = await team.app.bot.send_message(GROUP, "📋 Не перезвонили: 1")  # a message of the bot's with no buttons
    for payload in (cd.Done(alert.id), cd.CallBack(alert.id), cd.Take(alert.id)):
        answer = await team.press(MANAGER, (GROUP, sent.message_id), data=cd.pack(payload))
        assert answer["text"] == "Эта кнопка не относится к этому сообщению."
    assert team.tg.message(GROUP, sent.message_id)["text"] == "📋 Не перезвонили: 1"
    assert call_starts(team) == [] and alert_of(team).state == "open" and alert_of(team).owner_id is None
