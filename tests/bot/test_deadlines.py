"""Deadlines, escalation and business hours end to end: the sandbox's calls, the real Application, the fake Bot API.
Most looks are taken by hand with their clock (``check(bot, now=…)``, ``release_due(bot, now=…)``), so a deadline or
a morning takes no time; one test of each lets the scheduled job take its own."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot import ratelimit
from bot.alerts import deadlines, held
from bot.alerts.deadlines import DeadlineWatch
from bot.alerts.held import HeldAlerts
from bot.watch.poller import poller
from storage import Alert
from tests.bot.conftest import ADMIN, ADMIN2, GROUP, MANAGER, World, WorldFactory

CUSTOMER, OTHER = "79035551122", "79161234567"
MOSCOW = ZoneInfo("Europe/Moscow")
SLA = 0.02  # minutes: 1.2 s, so the deadline is the miss's end + 2 s (whole seconds, rounded up)
ADMINS = f"{ADMIN},{ADMIN2}"
REMINDER = "⏰ Срок перезвона вышел"


def shown(number: str) -> str:
    return f"+7 {number[1:4]} {number[4:7]}-{number[7:9]}-{number[9:11]}"


def messages(world: World, chat_id: int) -> list[dict[str, Any]]:
    """The alerts, reminders and summaries the bot posted in the chat (not the board, say), as the chat sees them
    now, oldest first."""
    found = [world.tg.message(chat_id, c.result["message_id"]) for c in world.sent("sendMessage", chat_id) if c.ok]
    kinds = ("📵", "⏰", "🌅", "🚨") if chat_id == GROUP else ("",)
    return [message for message in found if message is not None and message["text"].startswith(kinds)]


def texts(world: World, chat_id: int, starts: str = "") -> list[str]:
    return [m["text"] for m in messages(world, chat_id) if m["text"].startswith(starts)]


def alert(world: World, clid: str = CUSTOMER) -> Alert:
    (found,) = [a for a in world.services.storage.alerts.open_for(GROUP) if a.clid == clid]
    return found


async def poll(world: World) -> None:
    """One poll by hand, and what it had the chats' lanes deliver."""
    assert await poller(world.app).poll_once(world.app.bot)
    await poller(world.app).lanes.settled()


class Release(HeldAlerts):
    """The business hours' release, taken by hand; it returns once the chats' lanes delivered what it released."""

    def __init__(self, world: World) -> None:
        super().__init__(world.services, poller(world.app).delivery)
        self._lanes = poller(world.app).lanes

    async def release_due(self, bot: Any, now: int) -> int:
        released = await super().release_due(bot, now)
        await self._lanes.settled()
        return released


async def poll_until(world: World, condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll by hand until ``condition`` holds, for at most ``timeout`` seconds: the sandbox's calls progress on the
    clock, so a number of polls is no bound (a fast machine runs more of them while a call still rings)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await poll(world)
            await asyncio.sleep(0.01)


async def start(world: World) -> None:
    """GROUP subscribed, and the first poll's baseline taken (the history before it is not news)."""
    await world.ask(ADMIN, "/subscribe", chat_id=GROUP)
    await poll(world)


def miss(world: World, clid: str = CUSTOMER, ring: float = 20) -> int:
    """A missed call that ended just now; returns its end as the archive will have it."""
    now = world.sandbox.now()
    world.sandbox.add_call(direction="in", clid=clid, status="no answer", start=now - ring, end=now)
    return int(now)


def closed_today_and_tomorrow() -> tuple[str, float]:
    """/hours that are closed all of today and tomorrow (Moscow), and when they open next: midnight after tomorrow."""
    today = datetime.now(MOSCOW).date()
    open_days = [d for d in range(7) if d not in (today.weekday(), (today.weekday() + 1) % 7)]
    names = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    opening = datetime.combine(today + timedelta(days=2), datetime.min.time(), tzinfo=MOSCOW).timestamp()
    return "00:00-24:00 " + ",".join(names[d] for d in open_days), opening


@pytest.fixture
async def world(make_world: WorldFactory) -> AsyncIterator[World]:
    async with make_world(alert_sla_minutes=SLA, admin_ids=ADMINS) as started:
        await start(started)
        yield started


# --- /sla and /hours ---------------------------------------------------------------------------------------------


async def test_sla_is_shown_set_and_bad_input_changes_nothing(world: World) -> None:
    chats = world.services.storage.chats
    assert (await world.ask(ADMIN, "/sla", chat_id=GROUP)).startswith(
        "⏰ Срок перезвона в этом чате: 0.02 мин (по умолчанию)."
    )
    assert await world.ask(ADMIN, "/sla 30", chat_id=GROUP) == (
        "⏰ Готово: на перезвон 30 мин. Вышел срок — напомню здесь, два срока — администраторам лично."
    )
    assert chats.get(GROUP).sla_minutes == 30  # type: ignore[union-attr]
    for bad in ("abc", "-5", "10081", "30 часов", "1.5"):
        answer = await world.ask(ADMIN, f"/sla {bad}", chat_id=GROUP)
        assert answer.startswith(f"Не понял «{bad}». Срок — число минут от 0 до 10080: /sla 15, /sla 30;"), answer
    assert chats.get(GROUP).sla_minutes == 30  # type: ignore[union-attr]
    assert (await world.ask(ADMIN, "/sla", chat_id=GROUP)).startswith("⏰ Срок перезвона в этом чате: 30 мин. Вышел")
    assert await world.ask(ADMIN, "/sla off", chat_id=GROUP) == (
        "⏰ Готово: без срока перезвона — о просроченных не напоминаю."
    )
    assert chats.get(GROUP).sla_minutes == 0  # type: ignore[union-attr]
    assert await world.ask(ADMIN, "/sla", chat_id=GROUP) == (
        "⏰ Срока перезвона в этом чате нет: о просроченных не напоминаю. Включить: /sla 15"
    )
    # A manager may not change it; the audit knows who did.
    world.make_manager()
    await world.ask(MANAGER, "/sla 5", chat_id=GROUP)
    assert chats.get(GROUP).sla_minutes == 0  # type: ignore[union-attr]
    entries = world.services.storage.audit.recent(action="chat.sla")
    assert [(e.actor_id, e.details) for e in entries] == [(ADMIN, {"minutes": 0}), (ADMIN, {"minutes": 30})]


async def test_hours_are_shown_set_and_bad_input_changes_nothing(world: World) -> None:
    chats = world.services.storage.chats
    assert (await world.ask(ADMIN, "/hours", chat_id=GROUP)).startswith("🕘 Рабочие часы не заданы: о каждом")
    assert await world.ask(ADMIN, "/hours 09:00-19:00 пн-пт", chat_id=GROUP) == (
        "🕘 Готово: рабочие часы 09:00–19:00, пн–пт (Europe/Moscow). Пропущенные вне их соберу в одну сводку "
        "к началу рабочего времени."
    )
    assert chats.get(GROUP).hours == '{"days":[0,1,2,3,4],"end":"19:00","start":"09:00"}'  # type: ignore[union-attr]
    for bad in ("19:00-09:00", "9-19 someday", "every morning"):
        answer = await world.ask(ADMIN, f"/hours {bad}", chat_id=GROUP)
        assert answer.startswith(f"Не понял «{bad}». Примеры: /hours 09:00-19:00 пн-пт,"), answer
    assert (await world.ask(ADMIN, "/hours", chat_id=GROUP)).startswith(
        "🕘 Рабочие часы этого чата: 09:00–19:00, пн–пт (Europe/Moscow)."
    )
    await world.ask(ADMIN, "/sla 20", chat_id=GROUP)
    assert (await world.ask(ADMIN, "/sla", chat_id=GROUP)).endswith("\nСчитаю только рабочие часы: 09:00–19:00, пн–пт.")
    assert await world.ask(ADMIN, "/hours off", chat_id=GROUP) == (
        "🕘 Готово: круглосуточно — о каждом пропущенном пишу сразу."
    )
    assert chats.get(GROUP).hours is None  # type: ignore[union-attr]


async def test_sla_and_hours_in_english(world: World) -> None:
    world.services.storage.chats.set_language(GROUP, "en", now=1)  # the group's language, not the admin's own
    assert await world.ask(ADMIN, "/sla 45", chat_id=GROUP) == (
        "⏰ Done: 45 min to call back. Past it I remind here, past twice that the admins privately."
    )
    answer = await world.ask(ADMIN, "/sla soon", chat_id=GROUP)
    assert answer.startswith("I did not understand “soon”. The deadline is minutes from 0 to 10080: /sla 15")
    assert await world.ask(ADMIN, "/hours 10-18 mon,wed,fri", chat_id=GROUP) == (
        "🕘 Done: business hours 10:00–18:00, Mon, Wed, Fri (Europe/Moscow). Misses outside them come in one "
        "summary when the hours begin."
    )
    answer = await world.ask(ADMIN, "/hours 18-10", chat_id=GROUP)
    assert answer.startswith("I did not understand “18-10”. Examples: /hours 09:00-19:00 mon-fri,")
    assert world.services.storage.chats.get(GROUP).sla_minutes == 45  # type: ignore[union-attr]


async def test_the_settings_live_with_the_subscription(world: World) -> None:
    world.tg.group(-100900, title="Elsewhere")
    assert await world.ask(ADMIN, "/sla 10", chat_id=-100900) == (
        "Сначала подпишите этот чат на оповещения (/subscribe): срок перезвона и рабочие часы — для его оповещений."
    )
    assert (await world.ask(ADMIN, "/hours 9-18", chat_id=-100900)).startswith("Сначала подпишите")
    assert world.services.storage.chats.get(-100900) is None


# --- the deadline and the escalation -----------------------------------------------------------------------------


async def test_past_the_deadline_the_group_is_reminded_once_then_each_admin_once(world: World) -> None:
    end = miss(world)
    await poll(world)
    (posted,) = messages(world, GROUP)[-1:]
    assert shown(CUSTOMER) in posted["text"]
    due = alert(world).deadline_at
    assert due == end + 2  # the miss's end plus 1.2 s, rounded up
    watch, bot = DeadlineWatch(world.services), world.app.bot
    assert await watch.check(bot, now=due - 1) == 0
    assert await watch.check(bot, now=due) == 1
    (reminder,) = texts(world, GROUP, REMINDER)
    assert reminder.startswith(f"⏰ Срок перезвона вышел: {shown(CUSTOMER)} (пропущен ")
    assert reminder.endswith(") ещё ждёт звонка.")
    last = messages(world, GROUP)[-1]
    assert last["reply_to_message"]["message_id"] == posted["message_id"]  # a reply to the alert
    assert await watch.check(bot, now=due + 1) == 0  # short of twice the deadline: nothing more yet
    assert texts(world, ADMIN) == [] and texts(world, ADMIN2) == []
    assert await watch.check(bot, now=due + 2) == 2  # twice the deadline: each admin, privately
    for admin in (ADMIN, ADMIN2):
        (escalated,) = texts(world, admin)
        assert escalated.startswith(f"🚨 Не перезвонили и за два срока в «Sales»: {shown(CUSTOMER)}, пропущен ")
    for later in range(3, 30):
        assert await watch.check(bot, now=due + later) == 0
    assert len(texts(world, GROUP, REMINDER)) == 1 and len(texts(world, ADMIN)) == 1 and len(texts(world, ADMIN2)) == 1
    stored = world.services.storage.reminders.for_alert(alert(world).id)
    assert [(r.kind, r.user_id, r.state) for r in stored] == [
        ("deadline", 0, "sent"), ("escalation", ADMIN, "sent"), ("escalation", ADMIN2, "sent"),
    ]  # fmt: skip
    assert stored[0].message_id == last["message_id"]


async def test_the_owner_is_named_and_english_speakers_read_english(world: World) -> None:
    storage = world.services.storage
    storage.chats.set_language(GROUP, "en", now=1)
    storage.users.set_language(ADMIN2, "en", now=1)
    miss(world)
    await poll(world)
    missed = alert(world)
    assert missed.deadline_at is not None
    assert storage.alerts.take(missed.id, MANAGER, "Иван", now=int(time.time())) is not None  # "I'll take it"
    watch, bot = DeadlineWatch(world.services), world.app.bot
    await watch.check(bot, now=missed.deadline_at)
    (reminder,) = [m for m in messages(world, GROUP) if m["text"].startswith("⏰")]
    assert reminder["text"].startswith(f"⏰ Иван, the callback deadline passed: {shown(CUSTOMER)} (missed ")
    mention = next(e for e in reminder["entities"] if e["type"] == "text_link")
    assert mention["url"] == f"tg://user?id={MANAGER}"  # Telegram tells the owner
    await watch.check(bot, now=missed.deadline_at + 2)
    (russian,) = texts(world, ADMIN)
    assert russian.endswith(", взял(а) Иван.")
    (english,) = texts(world, ADMIN2)
    assert english.startswith(f"🚨 Not called back in twice the deadline in “Sales”: {shown(CUSTOMER)}, missed ")
    assert english.endswith(", taken by Иван.")


async def test_a_closed_alert_is_not_reminded(world: World) -> None:
    world.make_manager()
    miss(world)
    await poll(world)
    (posted,) = messages(world, GROUP)[-1:]
    missed = alert(world)
    assert missed.deadline_at is not None
    due = missed.deadline_at
    watch, bot = DeadlineWatch(world.services), world.app.bot
    await watch.check(bot, now=due)  # the group is reminded; the escalations are stored, due later
    answer = await world.press(MANAGER, posted, button=1)  # Done
    assert answer["text"] == "Закрыто."
    assert await watch.check(bot, now=due + 100) == 0
    assert texts(world, ADMIN) == [] and texts(world, ADMIN2) == []
    states = [(r.kind, r.state) for r in world.services.storage.reminders.for_alert(missed.id)]
    assert states == [("deadline", "sent"), ("escalation", "cancelled"), ("escalation", "cancelled")]
    # Closed before its deadline: nothing is even stored.
    miss(world, OTHER)
    await poll(world)
    other = alert(world, OTHER)
    (posted,) = [m for m in messages(world, GROUP) if shown(OTHER) in m["text"]]
    await world.press(MANAGER, posted, button=1)
    assert await watch.check(bot, now=(other.deadline_at or 0) + 100) == 0
    assert world.services.storage.reminders.for_alert(other.id) == []


async def test_several_due_at_once_make_one_message(world: World) -> None:
    miss(world, CUSTOMER)
    miss(world, OTHER)
    await poll(world)
    due = max(alert(world, CUSTOMER).deadline_at or 0, alert(world, OTHER).deadline_at or 0)
    await DeadlineWatch(world.services).check(world.app.bot, now=due)
    (reminder,) = texts(world, GROUP, REMINDER)
    lines = reminder.splitlines()
    assert lines[0] == "⏰ Срок перезвона вышел: 2"
    assert sorted(line.split(" — ")[0] for line in lines[1:]) == sorted(f"• {shown(n)}" for n in (CUSTOMER, OTHER))


async def test_a_reminder_telegram_did_not_take_comes_at_the_next_look(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    miss(world)
    await poll(world)
    due = alert(world).deadline_at
    assert due is not None
    watch, bot = DeadlineWatch(world.services), world.app.bot
    monkeypatch.setattr(ratelimit, "RETRY_BUDGET", 0.3)  # Telegram failing past the requests' own retries
    world.tg.faults.fail(status=500, methods="sendMessage", times=1000)
    assert await watch.check(bot, now=due) == 0
    world.tg.faults.clear()
    assert texts(world, GROUP, REMINDER) == []
    assert await watch.check(bot, now=due + 1) == 1
    assert len(texts(world, GROUP, REMINDER)) == 1


async def test_a_reminder_whose_answer_was_lost_is_never_sent_again(world: World) -> None:
    """Telegram posted it and the connection broke before its answer: the bot cannot tell, so it does not repeat it
    (neither the request's own retries nor the next look); one lost reminder is a smaller harm than two."""
    miss(world)
    await poll(world)
    due = alert(world).deadline_at
    assert due is not None
    watch, bot = DeadlineWatch(world.services), world.app.bot
    before = len(world.sent("sendMessage", GROUP))
    world.tg.faults.lose_answer(methods="sendMessage")
    assert await watch.check(bot, now=due) == 0
    assert len(texts(world, GROUP, REMINDER)) == 1  # it did land
    assert await watch.check(bot, now=due + 1) == 0  # short of the escalation
    assert len(texts(world, GROUP, REMINDER)) == 1 and len(world.sent("sendMessage", GROUP)) == before + 1
    (reminder,) = [r for r in world.services.storage.reminders.for_alert(alert(world).id) if r.kind == "deadline"]
    assert reminder.state == "sent"


async def test_a_message_that_cannot_be_recorded_costs_the_others_of_the_look_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    miss(world)
    await poll(world)
    due = alert(world).deadline_at
    assert due is not None
    reminders = world.services.storage.reminders
    for step in ("set_message_many", "mark_sent_many"):  # recording what went out, then marking what is to go
        real, failures = getattr(reminders, step), [sqlite3.OperationalError("database is locked")]

        def locked_once(*args: Any, real: Any = real, failures: list[Exception] = failures) -> Any:
            if failures:
                raise failures.pop()
            return real(*args)

        monkeypatch.setattr(reminders, step, locked_once)
    watch = DeadlineWatch(world.services)
    # The first look after a pause (a restart, say): the group's step and both admins' are due at once. The group's
    # cannot be marked, so it waits, whole, for the next look; the first admin's goes out unrecorded.
    assert await watch.check(world.app.bot, now=due + 5) == 2
    assert texts(world, GROUP, REMINDER) == []
    assert len(texts(world, ADMIN, "🚨")) == 1 and len(texts(world, ADMIN2, "🚨")) == 1
    assert await watch.check(world.app.bot, now=due + 6) == 1
    assert len(texts(world, GROUP, REMINDER)) == 1
    assert len(texts(world, ADMIN, "🚨")) == 1 and len(texts(world, ADMIN2, "🚨")) == 1
    assert {r.state for r in reminders.for_alert(alert(world).id)} == {"sent"}


async def test_no_deadline_with_sla_off(world: World) -> None:
    miss(world, CUSTOMER)
    await poll(world)
    await world.ask(ADMIN, "/sla off", chat_id=GROUP)  # the live alert loses its deadline too
    miss(world, OTHER)
    await poll(world)
    assert alert(world, CUSTOMER).deadline_at is None and alert(world, OTHER).deadline_at is None
    assert await DeadlineWatch(world.services).check(world.app.bot, now=int(time.time()) + 3600) == 0
    assert texts(world, GROUP, REMINDER) == []


async def test_a_chat_that_unsubscribed_is_not_reminded(world: World) -> None:
    miss(world)
    await poll(world)
    missed = alert(world)
    await world.ask(ADMIN, "/unsubscribe", chat_id=GROUP)
    assert await DeadlineWatch(world.services).check(world.app.bot, now=(missed.deadline_at or 0) + 60) == 0
    assert texts(world, GROUP, REMINDER) == [] and texts(world, ADMIN) == []
    assert {r.state for r in world.services.storage.reminders.for_alert(missed.id)} == {"cancelled"}


async def test_a_restart_between_the_steps_repeats_none_and_loses_none(make_world: WorldFactory) -> None:
    async with make_world(alert_sla_minutes=SLA) as world:
        await start(world)
        miss(world)
        await poll(world)
        due = alert(world).deadline_at
        assert due is not None
        await DeadlineWatch(world.services).check(world.app.bot, now=due)
        assert len(texts(world, GROUP, REMINDER)) == 1
    async with make_world(alert_sla_minutes=SLA) as world:  # restarted before twice the deadline
        watch = DeadlineWatch(world.services)
        assert await watch.check(world.app.bot, now=due + 1) == 0
        assert len(texts(world, GROUP, REMINDER)) == 1
        assert await watch.check(world.app.bot, now=due + 2) == 1
        assert len(texts(world, ADMIN, "🚨")) == 1
    async with make_world(alert_sla_minutes=SLA) as world:  # and after it
        assert await DeadlineWatch(world.services).check(world.app.bot, now=due + 60) == 0
        assert len(texts(world, GROUP, REMINDER)) == 1 and len(texts(world, ADMIN, "🚨")) == 1


async def test_the_job_reminds_by_itself(make_world: WorldFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deadlines, "FIRST_CHECK", 0.1)
    monkeypatch.setattr(deadlines, "INTERVAL", 0.2)
    async with make_world(jobs=True, alert_sla_minutes=SLA) as world:
        (job,) = world.app.job_queue.get_jobs_by_name(deadlines.JOB_NAME)
        assert job.trigger.interval.total_seconds() == 0.2
        await start(world)
        miss(world)
        await poll(world)
        await world.tg.wait_for(
            "sendMessage", chat_id=GROUP, ok=True, since=0, timeout=10,
            predicate=lambda c: c.params.get("text", "").startswith(REMINDER),
        )  # fmt: skip
        await world.tg.wait_for(
            "sendMessage", chat_id=ADMIN, ok=True, since=0, timeout=10,
            predicate=lambda c: c.params.get("text", "").startswith("🚨"),
        )  # fmt: skip
        assert len(texts(world, GROUP, REMINDER)) == 1


# --- business hours: held at night, the summary in the morning ---------------------------------------------------


async def test_misses_outside_the_hours_come_in_one_summary_when_they_begin(world: World) -> None:
    hours, opening = closed_today_and_tomorrow()
    await world.ask(ADMIN, f"/hours {hours}", chat_id=GROUP)
    before = len(messages(world, GROUP))
    miss(world, CUSTOMER)
    miss(world, OTHER)
    await poll(world)
    miss(world, CUSTOMER, ring=5)  # the same customer again: still one of them
    await poll(world)
    assert len(messages(world, GROUP)) == before  # nothing posted at night
    first, other = alert(world, CUSTOMER), alert(world, OTHER)
    assert (first.held, first.missed_count, other.held) == (True, 2, True)
    assert first.deadline_at == opening + 2  # the SLA counts from the opening
    release = Release(world)
    bot = world.app.bot
    assert await release.release_due(bot, now=int(opening) - 60) == 0  # still closed
    assert await DeadlineWatch(world.services).check(bot, now=int(opening) - 1) == 0
    assert await release.release_due(bot, now=int(opening) + 1) == 2
    (summary,) = messages(world, GROUP)[before:]  # one message, not one per customer
    first, other = alert(world, CUSTOMER), alert(world, OTHER)
    assert first.summary and other.summary and first.message_id == other.message_id == summary["message_id"]
    lines = summary["text"].splitlines()
    assert lines[0] == "🌅 Пропущенные в нерабочее время: 2"
    assert lines[-2:] == ["", "Кнопки ниже — по номерам в списке."]
    numbered = {line.split(". ", 1)[1].split(" — ")[0]: line for line in lines if line[:1].isdigit()}
    assert sorted(numbered) == sorted(shown(n) for n in (CUSTOMER, OTHER))  # each customer once
    assert " — ×2, " in numbered[shown(CUSTOMER)] and "×" not in numbered[shown(OTHER)]
    under = [line for line in lines[1:-2] if not line[:1].isdigit()]
    assert len(under) == 2 and all(line.startswith("    ") for line in under)  # each one's story, indented
    place = {n: numbered[shown(n)].split(".")[0] for n in (CUSTOMER, OTHER)}
    assert buttons(summary) == [
        row for n in sorted((CUSTOMER, OTHER), key=lambda n: place[n])
        for row in ([f"📞 {place[n]}. {shown(n)}"], [f"✅ Готово ({place[n]})", f"🙋 Беру ({place[n]})"])
    ]  # fmt: skip
    assert await release.release_due(bot, now=int(opening) + 31) == 0
    await poll(world)
    assert len(messages(world, GROUP)) == before + 1  # the summary once, and no alert of its own


def buttons(message: dict[str, Any]) -> list[list[str]]:
    return [[b["text"] for b in row] for row in (message.get("reply_markup") or {}).get("inline_keyboard", [])]


async def morning_summary(world: World, *customers: str) -> dict[str, Any]:
    """``customers`` missed at night, then the summary of them posted when the hours begin."""
    hours, opening = closed_today_and_tomorrow()
    await world.ask(ADMIN, f"/hours {hours}", chat_id=GROUP)
    for customer in customers:
        miss(world, customer)
    await poll(world)
    release = Release(world)
    assert await release.release_due(world.app.bot, now=int(opening) + 1) == len(customers)
    return texts_of(world, "🌅")[-1]


def texts_of(world: World, starts: str) -> list[dict[str, Any]]:
    return [m for m in messages(world, GROUP) if m["text"].startswith(starts)]


def current(world: World, message: dict[str, Any]) -> dict[str, Any]:
    found = world.tg.message(GROUP, message["message_id"])
    assert found is not None
    return found


async def test_the_summarys_buttons_act_on_each_customer_and_its_lines_follow(world: World) -> None:
    world.make_manager(MANAGER)
    summary = await morning_summary(world, CUSTOMER, OTHER)
    place = {
        n: next(line.split(".")[0] for line in summary["text"].splitlines() if shown(n) in line)
        for n in (CUSTOMER, OTHER)
    }
    taken = await world.press(MANAGER, summary, 2 if place[CUSTOMER] == "1" else 5)  # its 🙋
    assert taken["text"] == "🙋 Теперь это уведомление ваше."
    owned = alert(world, CUSTOMER)
    assert owned.owner_id == MANAGER and alert(world, OTHER).owner_id is None
    await poll(world)
    after = current(world, summary)
    customer_row = 1 if place[CUSTOMER] == "1" else 3
    mine, theirs = place[CUSTOMER], place[OTHER]
    assert buttons(after)[customer_row] == [f"✅ Готово ({mine})", f"↩️ Отпустить ({mine})"]
    assert buttons(after)[4 - customer_row] == [f"✅ Готово ({theirs})", f"🙋 Беру ({theirs})"]
    assert any(line.startswith("    👤 Взял(а): Васильева Татьяна, ") for line in after["text"].splitlines())

    calling = await world.press(MANAGER, after, f"📞 {place[CUSTOMER]}. {shown(CUSTOMER)}")
    assert calling["text"].startswith("Звоню")
    await world.tg.wait_for("editMessageText", predicate=lambda c: "перезванивает" in c.params.get("text", ""))
    await poll_until(world, lambda: "✅ Перезвонил(а)" in current(world, summary)["text"])
    closed = current(world, summary)
    starts = [r.params for r in world.sandbox.requests if r.method == "call/start-simple-call"]
    assert len(starts) == 1 and CUSTOMER in str(starts[0])
    assert "    ✅ Перезвонил(а) Васильева Татьяна, разговор" in closed["text"]
    # The other's only, still numbered by its place in the list.
    assert buttons(closed) == [[f"📞 {theirs}. {shown(OTHER)}"], [f"✅ Готово ({theirs})", f"🙋 Беру ({theirs})"]]

    done = await world.press(MANAGER, closed, f"✅ Готово ({theirs})")
    assert done["text"] == "Закрыто."
    await poll(world)
    final = current(world, summary)
    assert buttons(final) == [] and final["text"].splitlines()[-1] != "Кнопки ниже — по номерам в списке."
    assert alert_closed(world, OTHER)
    assert len(texts_of(world, "📵")) == 0  # neither ever had a message of its own


def alert_closed(world: World, clid: str) -> bool:
    return all(a.clid != clid for a in world.services.storage.alerts.open_for(GROUP))


async def test_many_customers_come_in_several_summaries_each_with_its_buttons(world: World) -> None:
    customers = [f"7916000{n:04d}" for n in range(held.SUMMARY_CUSTOMERS + 3)]
    await morning_summary(world, *customers)
    summaries = texts_of(world, "🌅")
    assert [s["text"].splitlines()[0] for s in summaries] == [
        f"🌅 Пропущенные в нерабочее время: {held.SUMMARY_CUSTOMERS}",
        "🌅 Пропущенные в нерабочее время: 3",
    ]
    called = [b[0] for s in summaries for b in buttons(s) if b[0].startswith("📞")]
    assert sorted(label.split(" ", 2)[2] for label in called) == sorted(shown(n) for n in customers)
    assert all(len(s["text"]) <= 4096 and sum(map(len, buttons(s))) <= 100 for s in summaries)


async def test_a_chat_telegram_holds_back_delays_no_other_chats_summary(world: World) -> None:
    busy, held_for = -100_700, 6  # seconds Telegram asks the busy group to wait: within a request's budget
    world.tg.group(busy, title="Busy desk")
    hours, opening = closed_today_and_tomorrow()
    for chat_id in (busy, GROUP):
        await world.ask(ADMIN, "/subscribe", chat_id=chat_id)
        await world.ask(ADMIN, f"/hours {hours}", chat_id=chat_id)
    miss(world)
    await poll(world)
    world.tg.faults.fail(status=429, methods={"sendMessage"}, chat_id=busy, retry_after=held_for)
    began, since = time.monotonic(), world.tg.mark()
    releasing = asyncio.create_task(Release(world).release_due(world.app.bot, now=int(opening) + 1))
    quiet = await world.tg.wait_for(
        "sendMessage", chat_id=GROUP, ok=True, since=since, timeout=held_for + 5,
        predicate=lambda c: c.params["text"].startswith("🌅"),
    )  # fmt: skip
    assert quiet.time - began <= 1.0  # at once: not after the busy group's wait
    assert await releasing == 2  # and the busy group's, once its wait was over
    assert len(texts_of(world, "🌅")) == 1 and len([m for m in world.tg.chat(busy) if m["text"].startswith("🌅")]) == 1


async def test_one_chats_release_cancelled_keeps_the_other_chats_counts(world: World) -> None:
    cut_short = -100_700  # its release is cancelled under it (as by a timeout around a request)
    world.tg.group(cut_short, title="Cut short")
    hours, opening = closed_today_and_tomorrow()
    for chat_id in (cut_short, GROUP):
        await world.ask(ADMIN, "/subscribe", chat_id=chat_id)
        await world.ask(ADMIN, f"/hours {hours}", chat_id=chat_id)
    miss(world)
    await poll(world)

    class CutShort(Release):
        async def _release(self, bot: Any, chat_id: int, now: int) -> int:
            if chat_id == cut_short:
                raise asyncio.CancelledError
            return await super()._release(bot, chat_id, now)

    assert await CutShort(world).release_due(world.app.bot, now=int(opening) + 1) == 1
    assert len(texts_of(world, "🌅")) == 1
    assert await Release(world).release_due(world.app.bot, now=int(opening) + 31) == 1  # its own, at the next round


async def test_a_summary_whose_answer_was_lost_is_told_again_and_nobody_is_shown_twice(world: World) -> None:
    hours, opening = closed_today_and_tomorrow()
    await world.ask(ADMIN, f"/hours {hours}", chat_id=GROUP)
    miss(world)
    await poll(world)
    release = Release(world)
    world.tg.faults.lose_answer(methods="sendMessage")  # Telegram posts it; the bot never learns which message it is
    assert await release.release_due(world.app.bot, now=int(opening) + 1) == 0
    assert alert(world).held  # told nowhere the bot knows of
    miss(world, OTHER)  # and one more held since
    await poll(world)
    assert await release.release_due(world.app.bot, now=int(opening) + 31) == 2
    lost, summary = texts_of(world, "🌅")  # what the lost one left: its title, without a customer or a button
    assert (lost["text"], buttons(lost)) == ("🌅 Пропущенные в нерабочее время: 1", [])
    assert shown(CUSTOMER) in summary["text"] and shown(OTHER) in summary["text"] and buttons(summary)
    assert texts_of(world, "📵") == []  # and no alert of its own: each customer is shown once
    assert {a.message_id for a in world.services.storage.alerts.open_for(GROUP)} == {summary["message_id"]}


async def test_a_summary_whose_answers_keep_getting_lost_backs_off_then_tells_its_alerts_on_their_own(
    world: World,
) -> None:
    hours, opening = closed_today_and_tomorrow()
    await world.ask(ADMIN, f"/hours {hours}", chat_id=GROUP)
    miss(world)
    await poll(world)
    release, bot = Release(world), world.app.bot
    world.tg.faults.lose_answer(times=1000, methods="sendMessage")  # a slow Telegram: each lands, its answer never
    titles, alone = [], []
    for round_ in range(20):  # ten minutes of the job's rounds
        await release.release_due(bot, now=int(opening + held.INTERVAL * round_))
        titles.append(len(texts_of(world, "🌅")))
        alone.append(len(texts_of(world, "📵")))
    # A title at 0 s, the next round (a kill leaves one such), then 60 s later; no more, where each round posted one.
    assert [r for r in range(20) if titles[r] > ([0, *titles][r])] == [0, 1, 3]
    # 120 s after the third, the alert goes on its own, once; it is not held any more.
    assert [r for r in range(20) if alone[r] > ([0, *alone][r])] == [7] and alone[-1] == 1
    assert not alert(world).held
    assert all((m["text"], buttons(m)) == ("🌅 Пропущенные в нерабочее время: 1", []) for m in texts_of(world, "🌅"))

    world.tg.faults.clear()  # Telegram answers again: the alert's message is known, with its buttons
    await poll(world)
    own = world.tg.message(GROUP, alert(world).message_id or 0)
    assert own is not None and own["text"].startswith("📵") and shown(CUSTOMER) in own["text"] and buttons(own)


async def test_a_deleted_summary_is_posted_again_with_what_is_still_open(world: World) -> None:
    summary = await morning_summary(world, CUSTOMER, OTHER)
    await world.app.bot.delete_message(GROUP, summary["message_id"])  # somebody deleted it
    assert world.services.storage.alerts.take(alert(world).id, MANAGER, "Васильева Татьяна", int(time.time()))
    await poll(world)
    again = texts_of(world, "🌅")
    assert len(again) == 1 and again[0]["message_id"] != summary["message_id"]
    assert {a.message_id for a in world.services.storage.alerts.open_for(GROUP)} == {again[0]["message_id"]}
    assert "👤 Взял(а): Васильева Татьяна" in again[0]["text"]


async def test_a_summary_telegram_did_not_take_is_posted_later_and_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    hours, opening = closed_today_and_tomorrow()
    await world.ask(ADMIN, f"/hours {hours}", chat_id=GROUP)
    before = len(messages(world, GROUP))
    miss(world)
    await poll(world)
    release, bot = Release(world), world.app.bot
    monkeypatch.setattr(ratelimit, "RETRY_BUDGET", 0.3)  # Telegram failing past the requests' own retries
    world.tg.faults.fail(status=500, methods="sendMessage", times=1000)
    assert await release.release_due(bot, now=int(opening)) == 0
    world.tg.faults.clear()
    assert alert(world).held  # still held: its summary has not been seen
    assert await release.release_due(bot, now=int(opening) + 30) == 1
    assert [m["text"].splitlines()[0] for m in messages(world, GROUP)[before:]][:1] == [
        "🌅 Пропущенные в нерабочее время: 1"
    ]
    assert len(texts(world, GROUP, "🌅")) == 1


async def test_the_business_hours_job_releases_by_itself(
    make_world: WorldFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(held, "FIRST_CHECK", 0.1)
    monkeypatch.setattr(held, "INTERVAL", 0.2)
    async with make_world(jobs=True) as world:
        (job,) = world.app.job_queue.get_jobs_by_name(held.JOB_NAME)
        assert job.trigger.interval.total_seconds() == 0.2
        await start(world)
        hours, _ = closed_today_and_tomorrow()
        await world.ask(ADMIN, f"/hours {hours}", chat_id=GROUP)
        miss(world)
        await poll(world)
        await poll(world)
        assert alert(world).held and texts(world, GROUP, "🌅") == []
        await world.ask(ADMIN, "/hours off", chat_id=GROUP)  # always open from now on: the job lets them out
        await world.tg.wait_for(
            "editMessageText", chat_id=GROUP, ok=True, timeout=10,
            predicate=lambda c: c.params.get("text", "").startswith("🌅") and f"📞 1. {shown(CUSTOMER)}" in str(
                c.params
            ),
        )  # fmt: skip
        assert len(texts(world, GROUP, "🌅")) == 1


async def test_held_misses_stay_off_the_board_until_their_summary(make_world: WorldFactory) -> None:
    async with make_world(alert_sla_minutes=SLA, admin_ids=ADMINS, alert_board=True) as world:
        await start(world)
        hours, opening = closed_today_and_tomorrow()
        await world.ask(ADMIN, f"/hours {hours}", chat_id=GROUP)
        miss(world)
        await poll(world)
        await poll(world)
        chat = world.services.storage.chats.get(GROUP)
        assert alert(world).held and chat is not None and chat.board_message_id is None  # no board posted at night
        release = Release(world)
        assert await release.release_due(world.app.bot, now=int(opening) + 1) == 1
        await poll(world)
        chat = world.services.storage.chats.get(GROUP)
        assert chat is not None and chat.board_message_id is not None
        board = world.tg.message(GROUP, chat.board_message_id)
        assert board is not None and shown(CUSTOMER) in board["text"]


def locked_for(monkeypatch: pytest.MonkeyPatch, target: Any, name: str, times: int) -> None:
    """``target.name`` raises "database is locked" its first ``times`` calls."""
    real, failures = getattr(target, name), [sqlite3.OperationalError("database is locked")] * times

    def locked(*args: Any) -> Any:
        if failures:
            raise failures.pop()
        return real(*args)

    monkeypatch.setattr(target, name, locked)


async def test_a_summary_in_parts_that_cannot_be_recorded_is_not_sent_again(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    customers = [f"7916000{n:04d}" for n in range(held.SUMMARY_CUSTOMERS + 1)]
    hours, opening = closed_today_and_tomorrow()
    await world.ask(ADMIN, f"/hours {hours}", chat_id=GROUP)
    for customer in customers:
        miss(world, customer)
    await poll(world)
    locked_for(monkeypatch, world.services.storage.ledger, "landed", times=1)  # the first part's record
    release = Release(world)
    assert await release.release_due(world.app.bot, now=int(opening) + 1) == 0  # no second part before it is
    assert await release.release_due(world.app.bot, now=int(opening) + 31) == 1  # the first recorded, the second sent
    told = [c for summary in texts_of(world, "🌅") for c in customers if shown(c) in summary["text"]]
    assert sorted(told) == sorted(customers)  # each customer once, in one of the two parts


async def test_a_summary_not_recorded_yet_shows_no_customer_and_no_button_until_it_is(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.make_manager(MANAGER)
    hours, opening = closed_today_and_tomorrow()
    await world.ask(ADMIN, f"/hours {hours}", chat_id=GROUP)
    miss(world)
    await poll(world)
    locked_for(monkeypatch, world.services.storage.ledger, "landed", times=1)
    release = Release(world)
    await release.release_due(world.app.bot, now=int(opening) + 1)
    (summary,) = texts_of(world, "🌅")
    assert (summary["text"], buttons(summary)) == ("🌅 Пропущенные в нерабочее время: 1", [])  # nothing to press
    assert alert(world).held
    await release.release_due(world.app.bot, now=int(opening) + 31)  # the database takes the record now
    after = current(world, summary)
    assert shown(CUSTOMER) in after["text"] and buttons(after)[0] == [f"📞 1. {shown(CUSTOMER)}"]
    assert alert(world).message_id == summary["message_id"] and alert(world).summary
    assert len(texts_of(world, "🌅")) == 1
