"""Desk phones that go offline, end to end: the sandbox's registered numbers, the real Application, the fake Bot API.
Most looks are taken by hand with their clock (``check(bot, now=…)``), so a 5-minute delay takes no time; one test
lets the job take its own."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.health import sip
from bot.health.sip import JOB_NAME, PhoneWatch
from newtel import NewtelError
from storage import Phone
from tests.bot.conftest import ADMIN, GROUP, World, WorldFactory, database_locked
from tests.conftest import at_noon

QUIET_GROUP = -100700  # subscribed without "sip"
DELAY = 300  # SIP_OFFLINE_ALERT's default
MOSCOW = ZoneInfo("Europe/Moscow")
REGISTERED_LIST = "vpbx/get-registered-numbers-list"
T0 = datetime(2025, 3, 14, 10, 41, tzinfo=MOSCOW).timestamp()  # the looks' clock: a phone goes offline at 10:42


def clock(at: float) -> str:
    return datetime.fromtimestamp(at, MOSCOW).strftime("%H:%M")


def told(world: World, chat_id: int) -> list[str]:
    """The phone reports the chat got, as it shows them."""
    shown = []
    for call in world.sent("sendMessage", chat_id=chat_id):
        message = world.tg.message(chat_id, call.result["message_id"]) if call.ok else None
        if message is not None and message["text"].startswith(("📵 Телефон", "✅ Телефон", "📵 Phone", "✅ Phone")):
            shown.append(message["text"])
    return shown


async def subscribe(world: World, chat_id: int, words: str) -> str:
    if chat_id != GROUP:
        world.tg.group(chat_id, title=f"Chat {chat_id}")
    return await world.ask(ADMIN, f"/subscribe {words}".strip(), chat_id=chat_id)


@pytest.fixture
async def world(make_world: WorldFactory) -> AsyncIterator[World]:
    """The bot with GROUP subscribed with "sip" and QUIET_GROUP without; its jobs do not run."""
    async with make_world() as started:
        await subscribe(started, GROUP, "sip")
        await subscribe(started, QUIET_GROUP, "")
        yield started


async def test_a_phone_offline_is_told_once_after_the_delay(world: World) -> None:
    watch, bot, t0 = PhoneWatch(world.services), world.app.bot, T0
    await watch.check(bot, now=t0)  # all but 105 registered: the baseline
    world.sandbox.set_registered("101", False)
    await watch.check(bot, now=t0 + 60)
    await watch.check(bot, now=t0 + 60 + DELAY - 1)
    assert told(world, GROUP) == [] and told(world, ADMIN) == []
    await watch.check(bot, now=t0 + 60 + DELAY)
    expected = "📵 Телефон не в сети с 10:42: Васильева Татьяна (доб. 101)"
    assert told(world, GROUP) == [expected]
    assert told(world, ADMIN) == [expected]
    for minutes in range(1, 30):
        await watch.check(bot, now=t0 + 60 + DELAY + 60 * minutes)
    assert told(world, GROUP) == [expected] and told(world, ADMIN) == [expected]  # once, not once per look
    assert told(world, QUIET_GROUP) == []
    # 105's phone was never seen registered: always off is not news.
    assert "105" not in world.services.storage.phones.all()


async def test_back_online_is_told_once(world: World) -> None:
    watch, bot, t0 = PhoneWatch(world.services), world.app.bot, T0
    await watch.check(bot, now=t0)
    world.sandbox.set_registered("101", False)
    await watch.check(bot, now=t0 + 60)
    await watch.check(bot, now=t0 + 60 + DELAY)
    world.sandbox.set_registered("101", True)
    await watch.check(bot, now=t0 + 60 + 12 * 60)
    await watch.check(bot, now=t0 + 60 + 13 * 60)
    back = "✅ Телефон снова в сети: Васильева Татьяна (доб. 101), не было 12 мин"
    assert told(world, GROUP)[1:] == [back]
    assert told(world, ADMIN)[1:] == [back]
    assert world.services.storage.phones.all()["101"] == Phone("101", True, int(t0) + 60 + 720, False, int(t0) + 780)


async def test_a_phone_back_before_the_delay_is_not_news(world: World) -> None:
    watch, bot, t0 = PhoneWatch(world.services), world.app.bot, T0
    await watch.check(bot, now=t0)
    for flap in range(3):
        world.sandbox.set_registered("101", False)
        await watch.check(bot, now=t0 + 100 * flap + 10)
        await watch.check(bot, now=t0 + 100 * flap + 10 + DELAY - 1)
        world.sandbox.set_registered("101", True)
        await watch.check(bot, now=t0 + 100 * flap + 10 + DELAY)
    await watch.check(bot, now=t0 + 3600)
    assert told(world, GROUP) == [] and told(world, ADMIN) == []


async def test_phones_offline_at_once_are_told_in_one_message(world: World) -> None:
    watch, bot, t0 = PhoneWatch(world.services), world.app.bot, T0
    await watch.check(bot, now=t0)
    for internal in ("102", "100"):
        world.sandbox.set_registered(internal, False)
    await watch.check(bot, now=t0 + 60)
    await watch.check(bot, now=t0 + 60 + DELAY)
    listed = "📵 Телефоны не в сети:\n• Попов Сергей (доб. 100), с 10:42\n• Орлова Наталья (доб. 102), с 10:42"
    assert told(world, GROUP) == [listed]
    for internal in ("100", "102"):
        world.sandbox.set_registered(internal, True)
    await watch.check(bot, now=t0 + 60 + 3600 + 5 * 60)
    assert told(world, GROUP)[1:] == [
        "✅ Телефоны снова в сети:\n• Попов Сергей (доб. 100), не было 1 ч 5 мин\n"
        "• Орлова Наталья (доб. 102), не было 1 ч 5 мин"
    ]


async def test_a_restart_neither_repeats_nor_loses_a_report(make_world: WorldFactory) -> None:
    t0 = T0
    async with make_world() as world:
        await subscribe(world, GROUP, "sip")
        await PhoneWatch(world.services).check(world.app.bot, now=t0)
        world.sandbox.set_registered("101", False)
        await PhoneWatch(world.services).check(world.app.bot, now=t0 + 60)
    async with make_world() as world:  # restarted before the delay was over: still told
        await PhoneWatch(world.services).check(world.app.bot, now=t0 + 60 + DELAY)
        assert len(told(world, GROUP)) == 1
    async with make_world() as world:  # restarted after the report: not told again, and the comeback is
        watch = PhoneWatch(world.services)
        await watch.check(world.app.bot, now=t0 + 60 + DELAY + 60)
        assert len(told(world, GROUP)) == 1
        world.sandbox.set_registered("101", True)
        await watch.check(world.app.bot, now=t0 + 60 + 20 * 60)
        assert told(world, GROUP)[1:] == ["✅ Телефон снова в сети: Васильева Татьяна (доб. 101), не было 20 мин"]


async def test_newtel_failing_changes_nothing(world: World) -> None:
    watch, bot, t0 = PhoneWatch(world.services), world.app.bot, T0
    await watch.check(bot, now=t0)
    before = world.services.storage.phones.all()
    world.sandbox.faults.fail(status=500, times=1000, methods={REGISTERED_LIST})
    for minutes in (1, 10, 20):
        with pytest.raises(NewtelError):
            await watch.check(bot, now=t0 + 60 * minutes)
    assert world.services.storage.phones.all() == before  # not "everyone went offline"
    world.sandbox.faults.clear()
    await watch.check(bot, now=t0 + 60 * 30)
    assert world.services.storage.phones.all() == before
    assert told(world, GROUP) == [] and told(world, ADMIN) == []


async def test_a_chat_telegram_refuses_does_not_keep_the_others_from_the_report(world: World) -> None:
    watch, bot, t0 = PhoneWatch(world.services), world.app.bot, T0
    await watch.check(bot, now=t0)
    world.sandbox.set_registered("101", False)
    await watch.check(bot, now=t0 + 60)
    world.tg.faults.fail(status=400, times=1, methods={"sendMessage"})  # the first recipient: the admin
    await watch.check(bot, now=t0 + 60 + DELAY)
    await watch.check(bot, now=t0 + 60 + DELAY + 60)
    assert len(told(world, GROUP)) == 1  # once: the admin missed it, nobody gets it twice
    assert told(world, ADMIN) == []


async def test_a_report_nobody_got_is_told_at_the_next_look(world: World) -> None:
    watch, bot, t0 = PhoneWatch(world.services), world.app.bot, T0
    await watch.check(bot, now=t0)
    world.sandbox.set_registered("101", False)
    await watch.check(bot, now=t0 + 60)
    world.tg.faults.fail(status=400, times=2, methods={"sendMessage"})  # the admin and the group
    await watch.check(bot, now=t0 + 60 + DELAY)
    assert told(world, GROUP) == [] and told(world, ADMIN) == []
    await watch.check(bot, now=t0 + 60 + DELAY + 60)
    await watch.check(bot, now=t0 + 60 + DELAY + 120)
    assert len(told(world, GROUP)) == 1 and len(told(world, ADMIN)) == 1


async def test_a_report_told_but_not_recorded_is_not_told_again(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    phones = world.services.storage.phones
    original, attempts = phones.mark_reported, []

    def locked_the_first_time(internals: Iterable[str], now: int) -> int:
        attempts.append(now)
        if len(attempts) == 1:
            raise sqlite3.OperationalError("database is locked")
        return original(internals, now)

    monkeypatch.setattr(phones, "mark_reported", locked_the_first_time)
    watch, bot, t0 = PhoneWatch(world.services), world.app.bot, T0
    await watch.check(bot, now=t0)
    world.sandbox.set_registered("101", False)
    await watch.check(bot, now=t0 + 60)
    await watch.check(bot, now=t0 + 60 + DELAY)  # told, not recorded: memory keeps it
    with database_locked(world.settings.database_path):
        await watch.check(bot, now=t0 + 60 + DELAY + 60)  # still cannot be recorded: nothing more is told
    await watch.check(bot, now=t0 + 60 + DELAY + 120)  # recorded now, and not told again
    assert len(told(world, GROUP)) == 1 and len(told(world, ADMIN)) == 1
    assert len(attempts) == 3 and phones.all()["101"].reported


async def test_each_recipient_in_their_language(world: World) -> None:
    storage, now = world.services.storage, int(time.time())
    storage.chats.set_language(GROUP, "en", now=now)
    watch, bot, t0 = PhoneWatch(world.services), world.app.bot, T0
    await watch.check(bot, now=t0)
    world.sandbox.set_registered("104", False)
    await watch.check(bot, now=t0 + 60)
    await watch.check(bot, now=t0 + 60 + DELAY)
    world.sandbox.set_registered("104", True)
    await watch.check(bot, now=t0 + 60 + 45 * 60 + 20)
    assert told(world, GROUP) == [
        "📵 Phone offline since 10:42: Волков Андрей (ext. 104)",
        "✅ Phone back online: Волков Андрей (ext. 104), offline for 45 min",
    ]
    assert told(world, ADMIN)[0].startswith("📵 Телефон не в сети")


async def test_subscribe_sip_is_stored_audited_and_confirmed(world: World) -> None:
    chat = world.services.storage.chats.get(GROUP)
    assert chat is not None and chat.sip
    assert world.services.storage.chats.get(QUIET_GROUP).sip is False  # type: ignore[union-attr]
    entry = world.services.storage.audit.recent(action="chat.subscribe")[-1]  # the fixture's first
    assert (entry.target, entry.details) == (str(GROUP), {"numbers": [], "balance": False, "sip": True})
    reply = await world.ask(ADMIN, "/subscribe телефоны баланс", chat_id=GROUP)
    assert reply.splitlines()[1:] == [
        "💰 И на уведомления о балансе.",
        "📵 И на рабочие телефоны: скажу, когда телефон сотрудника выпадет из сети и когда вернётся.",
    ]
    world.services.storage.chats.set_language(GROUP, "en", now=int(time.time()))  # the group's language
    reply = await world.ask(ADMIN, "/subscribe sip", chat_id=GROUP)
    assert reply.splitlines()[1:] == [
        "📵 And desk phones: I'll say when a member's phone drops off the network and when it is back.",
        "Turned off: balance alerts, as this /subscribe did not name them. To keep them too: /subscribe balance sip",
    ]
    await world.ask(ADMIN, "/subscribe", chat_id=GROUP)  # subscribing again without it turns it off
    assert [c.chat_id for c in world.services.storage.chats.sip_chats()] == []


@at_noon  # "не в сети с 11:50", not "с вчера 23:58" when it runs just after midnight
async def test_the_job_looks_soon_after_the_start(make_world: WorldFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sip, "FIRST_CHECK", 0.2)
    t = time.time()
    async with make_world() as world:  # the phone went offline 10 minutes ago, seen by the last run
        await subscribe(world, GROUP, "sip")
        await PhoneWatch(world.services).check(world.app.bot, now=t - 700)
        world.sandbox.set_registered("101", False)
        await PhoneWatch(world.services).check(world.app.bot, now=t - 600)
    async with make_world(jobs=True) as world:
        (job,) = world.app.job_queue.get_jobs_by_name(JOB_NAME)
        assert job.trigger.interval.total_seconds() == 60  # SIP_CHECK_INTERVAL's default
        await world.tg.wait_for(
            "sendMessage", chat_id=GROUP, ok=True, since=0, timeout=10,
            predicate=lambda c: "Васильева Татьяна (доб. 101)" in c.params.get("text", ""),
        )  # fmt: skip
        assert told(world, GROUP) == [f"📵 Телефон не в сети с {clock(t - 600)}: Васильева Татьяна (доб. 101)"]


async def test_sip_offline_alert_0_turns_the_watch_off(make_world: WorldFactory) -> None:
    async with make_world(jobs=True, sip_offline_alert=0) as world:
        assert world.app.job_queue.get_jobs_by_name(JOB_NAME) == ()
        assert world.app.job_queue.get_jobs_by_name("poll-calls") != ()
