"""The alert's owner end to end: "I'll take it" and Release, Call back on an alert someone else took, a call back
nobody answered and its private reminder (after the delay, once, across restarts), and /deny letting claims go.
The real Application with its jobs between the New-Tel sandbox and the fake Bot API."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import pytest

from bot import callback_data as cd
from bot.alerts import reminders
from bot.calls import calling as calling_module
from storage import Alert
from tests.bot.conftest import ADMIN, GROUP, MANAGER, MEMBER_NAME, MEMBER_PERSONAL, World, WorldFactory
from tests.bot.test_alerts import CUSTOMER, phone_as_shown
from tests.conftest import at_noon

pytestmark = at_noon  # the alerts' times of day ("10:42") are the test's: no midnight inside a test
POLL = 0.3
REMIND_MINUTES = 0.08  # 4.8 s ("deadlines in seconds in tests"): long enough to look before it is due on a busy machine
STARTS = "call/start-simple-call"


@contextlib.asynccontextmanager
async def staffed(make_world: WorldFactory, *, fresh: bool = True) -> AsyncIterator[World]:
    """The bot with its jobs, the Sales group subscribed, ADMIN (Попов Сергей, 100) and MANAGER (Васильева Татьяна,
    101) allowed; ``fresh=False``: a restart on the same database, which has all that already."""
    async with make_world(jobs=True, poll_interval=POLL, alert_remind_minutes=REMIND_MINUTES) as world:
        if fresh:
            world.make_manager(ADMIN, internal="100", role="admin")
            world.make_manager(MANAGER, internal="101")
            world.services.storage.chats.subscribe(GROUP, "Sales", [], False, now=1)
            await world.app.bot_data.need_poller().wait_cycles(1)  # the first poll sets the baseline
        yield world


def miss(world: World) -> None:
    now = world.sandbox.now()
    world.sandbox.add_call(direction="in", clid=CUSTOMER, status="no answer", start=now - 20, end=now)


async def alert_message(world: World) -> dict[str, Any]:
    """The alert about CUSTOMER in the group (the board names the customer too: the alert is the one that says so)."""
    call = await world.tg.wait_for(
        "sendMessage", chat_id=GROUP, ok=True, since=0,
        predicate=lambda c: c.params.get("text", "").startswith("📵") and phone_as_shown(CUSTOMER) in c.params["text"],
    )  # fmt: skip
    return current(world, call.result)


def current(world: World, message: dict[str, Any]) -> dict[str, Any]:
    found = world.tg.message(message["chat"]["id"], message["message_id"])
    assert found is not None
    return found


async def shown_with(world: World, message: dict[str, Any], check: Callable[[str], bool]) -> dict[str, Any]:
    """The message once an edit makes ``check`` true of its text (it may be so already)."""
    await eventually(lambda: check(current(world, message)["text"]))
    return current(world, message)


async def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        await asyncio.sleep(0.05)


def buttons(message: dict[str, Any]) -> list[list[str]]:
    return [[b["text"] for b in row] for row in (message.get("reply_markup") or {}).get("inline_keyboard", [])]


def the_alert(world: World, message: dict[str, Any]) -> Alert:
    """The alert as stored, of the message that shows it."""
    alert = world.services.storage.alerts.by_message(GROUP, message["message_id"])
    assert alert is not None
    return alert


def at(world: World, seconds: int) -> str:
    """A moment of today as the alert shows it."""
    return datetime.fromtimestamp(seconds, world.services.settings.zone).strftime("%H:%M")


def answered(world: World, press: dict[str, Any]) -> str:
    """The popup a press got (once answered)."""
    answer = world.tg.callback_answer(press)
    assert answer is not None
    return str(answer["text"])


def starts(world: World) -> list[dict[str, Any]]:
    return [r.params for r in world.sandbox.requests if r.method == STARTS]


def reminders_to(world: World, user_id: int) -> list[Any]:
    return [
        c for c in world.tg.calls
        if c.method == "sendMessage" and c.ok and c.chat_id == user_id and "Напоминание" in c.params.get("text", "")
    ]  # fmt: skip


async def run_reminders(world: World) -> None:
    """One look of the real "reminders" job, now."""
    (job,) = world.app.job_queue.get_jobs_by_name(reminders.JOB_NAME)
    await job.run(world.app)


async def no_answer_then_remind(world: World) -> dict[str, Any]:
    """MANAGER calls back, nobody answers, MANAGER presses "Remind me"; returns the alert message."""
    world.sandbox.outcomes[CUSTOMER] = "no answer"
    miss(world)
    message = await alert_message(world)
    world.tg.press(MANAGER, message, button="📞 Перезвонить")
    reopened = await shown_with(world, message, lambda text: f"☎️ {MEMBER_NAME}: клиент не ответил, " in text)
    assert buttons(reopened) == [["📞 Перезвонить", "✅ Готово"], ["🙋 Беру", "⏰ Напомнить позже"]]
    answer = await world.press(MANAGER, reopened, "⏰ Напомнить позже")
    assert answer["text"].startswith(f"⏰ Напомню в личном чате через {REMIND_MINUTES:g} мин, в ")
    return reopened


async def test_take_and_release(make_world: WorldFactory) -> None:
    async with staffed(make_world) as world:
        miss(world)
        message = await alert_message(world)
        assert buttons(message) == [["📞 Перезвонить", "✅ Готово"], ["🙋 Беру"]]
        answer = await world.press(MANAGER, message, "🙋 Беру")
        assert answer["text"] == "🙋 Теперь это уведомление ваше."
        taken = await shown_with(world, message, lambda text: f"👤 Взял(а): {MEMBER_NAME}, " in text)
        owned_at = the_alert(world, message).owned_at
        assert owned_at is not None
        assert taken["text"].endswith(f"\n\n👤 Взял(а): {MEMBER_NAME}, {at(world, owned_at)}")
        assert buttons(taken) == [["📞 Перезвонить", "✅ Готово"], ["↩️ Отпустить"]]  # shown to everyone

        not_theirs = await world.press(ADMIN, taken, "↩️ Отпустить")
        assert (not_theirs["text"], not_theirs["show_alert"]) == (f"Отпустить может только {MEMBER_NAME}.", True)
        old_take = cd.pack(cd.Take(the_alert(world, message).id))  # pressed before the message changed
        stale = await world.press(ADMIN, taken, data=old_take)
        assert stale["text"] == f"{MEMBER_NAME} уже взял(а) это уведомление."
        assert the_alert(world, message).owner_id == MANAGER

        released = await world.press(MANAGER, taken, "↩️ Отпустить")
        assert released["text"] == "Отпущено: его может взять кто-то другой."
        again = await shown_with(world, message, lambda text: "👤" not in text)
        assert buttons(again) == [["📞 Перезвонить", "✅ Готово"], ["🙋 Беру"]]
        assert (the_alert(world, message).owner_id, the_alert(world, message).owner_name) == (None, None)
        assert (await world.press(ADMIN, again, "🙋 Беру"))["text"] == "🙋 Теперь это уведомление ваше."
        await shown_with(world, message, lambda text: "👤 Взял(а): Попов Сергей, " in text)


async def test_two_presses_at_once_make_one_owner(make_world: WorldFactory) -> None:
    async with staffed(make_world) as world:
        miss(world)
        message = await alert_message(world)
        first = world.tg.press(MANAGER, message, button="🙋 Беру")
        second = world.tg.press(ADMIN, message, button="🙋 Беру")
        await world.tg.wait_for("answerCallbackQuery", count=2, since=0)
        answers = {who: answered(world, press) for who, press in ((MANAGER, first), (ADMIN, second))}
        owner = the_alert(world, message)
        assert owner.owner_id in (MANAGER, ADMIN)
        loser = ADMIN if owner.owner_id == MANAGER else MANAGER
        assert answers[owner.owner_id] == "🙋 Теперь это уведомление ваше."
        assert answers[loser] == f"{owner.owner_name} уже взял(а) это уведомление."
        await shown_with(world, message, lambda text: f"👤 Взял(а): {owner.owner_name}, " in text)


async def test_call_back_on_an_alert_someone_else_took_asks_first(
    make_world: WorldFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with staffed(make_world) as world:
        miss(world)
        message = await alert_message(world)
        await world.press(MANAGER, message, "🙋 Беру")
        await shown_with(world, message, lambda text: f"👤 Взял(а): {MEMBER_NAME}" in text)

        asked = await world.press(ADMIN, message, "📞 Перезвонить")
        assert asked["show_alert"] is True
        assert asked["text"] == (
            f"{MEMBER_NAME} взял(а) это уведомление. "
            "Чтобы позвонить всё равно, нажмите «Перезвонить» ещё раз в течение 15 с."
        )
        double = await world.press(ADMIN, message, "📞 Перезвонить")  # a double tap is no answer: asked again
        assert double["text"] == asked["text"]
        await world.app.bot_data.need_poller().wait_cycles(1)
        assert starts(world) == [] and the_alert(world, message).state == "open"  # asking placed nothing

        monkeypatch.setattr(calling_module, "CONFIRM_AFTER", 0.0)  # as if a considered second tap
        anyway = await world.press(ADMIN, message, "📞 Перезвонить")
        assert anyway["text"].startswith("Звоню")
        done = await shown_with(world, message, lambda text: "✅ Перезвонил(а) Попов Сергей" in text)
        admin_phone = world.sandbox.company.members[0].personal_number
        assert [s["srcNumber"] for s in starts(world)] == [admin_phone]  # one call
        assert f"👤 Взял(а): {MEMBER_NAME}, " in done["text"]  # closing keeps who had it
        assert the_alert(world, message).owner_id == MANAGER


async def test_the_owners_call_back_calls_at_once(make_world: WorldFactory) -> None:
    async with staffed(make_world) as world:
        miss(world)
        message = await alert_message(world)
        await world.press(MANAGER, message, "🙋 Беру")
        answer = await world.press(MANAGER, message, "📞 Перезвонить")
        assert answer["text"].startswith("Звоню")
        await shown_with(world, message, lambda text: f"✅ Перезвонил(а) {MEMBER_NAME}" in text)
        assert [s["srcNumber"] for s in starts(world)] == [MEMBER_PERSONAL]


async def test_a_call_back_nobody_answered_is_written_in_and_reminded_privately_once(make_world: WorldFactory) -> None:
    async with staffed(make_world) as world:
        message = await no_answer_then_remind(world)
        alert = the_alert(world, message)
        reminder = world.services.storage.reminders.get(alert.id, "callback", MANAGER)
        assert reminder is not None and reminder.state == "due"
        assert alert.callback_started_at is not None and alert.dnid is not None
        assert f"\n\n☎️ {MEMBER_NAME}: клиент не ответил, {at(world, alert.callback_started_at)}" in message["text"]

        await run_reminders(world)
        assert reminders_to(world, MANAGER) == []  # not due yet
        await eventually(lambda: time.time() >= reminder.due_at)
        await run_reminders(world)
        (sent,) = reminders_to(world, MANAGER)
        private = current(world, sent.result)
        assert private["text"].splitlines()[:3] == [
            "⏰ Напоминание: перезвонить клиенту",
            f"От: {phone_as_shown(CUSTOMER)}",
            f"На номер: {phone_as_shown(alert.dnid)}",
        ]
        assert f"☎️ {MEMBER_NAME}: клиент не ответил, " in private["text"]
        assert buttons(private) == [["📞 Перезвонить", "✅ Готово"]]
        for _ in range(3):
            await run_reminders(world)
        assert len(reminders_to(world, MANAGER)) == 1  # once

        # Its buttons count for its user only, from that message.
        foreign = await world.press(ADMIN, private, "📞 Перезвонить")
        assert foreign["text"] == "Эта кнопка не относится к этому сообщению."
        assert len(starts(world)) == 1

        del world.sandbox.outcomes[CUSTOMER]  # this time the customer answers
        calling = await world.press(MANAGER, private, "📞 Перезвонить")
        assert calling["text"].startswith("Звоню")
        await shown_with(world, message, lambda text: f"✅ Перезвонил(а) {MEMBER_NAME}" in text)
        assert len(starts(world)) == 2

        await run_reminders(world)  # the alert closed: the reminder says how, and its buttons go
        retired = current(world, sent.result)
        assert retired["text"].splitlines()[-1].startswith(f"✅ Перезвонил(а) {MEMBER_NAME}, разговор ")
        assert buttons(retired) == []
        assert world.services.storage.reminders.get(alert.id, "callback", MANAGER).message_id is None  # type: ignore[union-attr]


async def test_a_reminder_survives_restarts_and_is_never_sent_twice(make_world: WorldFactory) -> None:
    async with staffed(make_world) as world:
        message = await no_answer_then_remind(world)
        due_at = world.services.storage.reminders.due(10**10, kinds=["callback"])[0].due_at
        assert reminders_to(world, MANAGER) == []
    await eventually(lambda: time.time() >= due_at)
    async with staffed(make_world, fresh=False) as world:  # down while it fell due: it still comes
        await run_reminders(world)
        (sent,) = reminders_to(world, MANAGER)
    async with staffed(make_world, fresh=False) as world:  # up again after it was sent: not again
        await run_reminders(world)
        await run_reminders(world)
        assert reminders_to(world, MANAGER) == [sent]
        # Its buttons still work after the restart.
        answer = await world.press(MANAGER, current(world, sent.result), "✅ Готово")
        assert answer["text"] == "Закрыто."
        await shown_with(world, message, lambda text: f"✅ Закрыто: {MEMBER_NAME}, " in text)


async def test_a_reminder_of_an_alert_closed_meanwhile_is_never_sent(make_world: WorldFactory) -> None:
    async with staffed(make_world) as world:
        message = await no_answer_then_remind(world)
        await world.press(ADMIN, message, "✅ Готово")
        alert = the_alert(world, message)
        reminder = world.services.storage.reminders.get(alert.id, "callback", MANAGER)
        assert reminder is not None
        await eventually(lambda: time.time() >= reminder.due_at)
        await run_reminders(world)
        assert reminders_to(world, MANAGER) == []
        assert world.services.storage.reminders.get(alert.id, "callback", MANAGER).state == "cancelled"  # type: ignore[union-attr]


async def test_deny_lets_the_users_alerts_go(make_world: WorldFactory) -> None:
    async with staffed(make_world) as world:
        miss(world)
        message = await alert_message(world)
        await world.press(MANAGER, message, "🙋 Беру")
        await shown_with(world, message, lambda text: f"👤 Взял(а): {MEMBER_NAME}" in text)
        alert = the_alert(world, message)
        world.services.storage.reminders.rearm(alert.id, "callback", MANAGER, int(time.time()) + 3600, int(time.time()))

        assert await world.ask(ADMIN, f"/deny {MANAGER}") == f"⛔ Доступ пользователя {MANAGER} отозван."
        released = await shown_with(world, message, lambda text: "👤" not in text)
        assert buttons(released) == [["📞 Перезвонить", "✅ Готово"], ["🙋 Беру"]]
        assert the_alert(world, message).owner_id is None
        assert world.services.storage.reminders.get(alert.id, "callback", MANAGER).state == "cancelled"  # type: ignore[union-attr]


async def test_every_call_back_nobody_answered_stays_written_in(make_world: WorldFactory) -> None:
    async with staffed(make_world) as world:
        world.sandbox.outcomes[CUSTOMER] = "no answer"
        miss(world)
        message = await alert_message(world)
        world.tg.press(MANAGER, message, button="📞 Перезвонить")
        first = await shown_with(world, message, lambda text: f"☎️ {MEMBER_NAME}: клиент не ответил, " in text)
        world.tg.press(ADMIN, first, button="📞 Перезвонить")
        second = await shown_with(world, message, lambda text: "☎️ Не дозвонились (2): " in text)
        tried = the_alert(world, second).attempts
        assert [attempt.name for attempt in tried] == [MEMBER_NAME, "Попов Сергей"]
        listed = ", ".join(f"{attempt.name} {at(world, attempt.at)}" for attempt in tried)
        assert f"☎️ Не дозвонились (2): {listed}" in second["text"].splitlines()

        del world.sandbox.outcomes[CUSTOMER]  # the third one gets through: the attempts stay on the closed alert
        world.tg.press(MANAGER, second, button="📞 Перезвонить")
        closed = await shown_with(world, message, lambda text: f"✅ Перезвонил(а) {MEMBER_NAME}" in text)
        assert f"☎️ Не дозвонились (2): {listed}" in closed["text"].splitlines()
        assert len(starts(world)) == 3
