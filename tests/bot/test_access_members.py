"""Access follows New-Tel's member list (Hardening II, finding 5): once the member a user acts as is deleted at
New-Tel, every command and button that shows or changes company data refuses them and changes nothing; the admins
are told once; an admin keeps administering. The list is cached (``Directory.ttl``), fetched once for users asking
at once, and an outage or a slow New-Tel locks nobody out. The real Application between the sandbox and the fake Bot
API."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bot import callback_data as cd
from bot import services
from bot.alerts import reminders
from newtel.sandbox import Sandbox
from tests.bot.conftest import ADMIN, GROUP, MANAGER, MANAGER2, MEMBER_INTERNAL, MEMBER_NAME, World, WorldFactory
from tests.bot.test_hardening import post_alert

MEMBERS = "company/get-members"
GONE = (
    f"Сотрудника «{MEMBER_NAME}», от имени которого вы работаете, больше нет в «Нью-Тел», поэтому данные компании "
    "вам сейчас недоступны. Обратитесь к администратору."
)
GONE_SHORT = "Вашего сотрудника больше нет в «Нью-Тел»: доступ закрыт. Обратитесь к администратору."
ADMIN_TOLD = (
    f"⚠️ Сотрудника «{MEMBER_NAME}» больше нет в «Нью-Тел», а Ivan @ivan (id {MANAGER}) работает от его имени: "
    f"пока сотрудник не появится снова, бот закрыт для этого пользователя. Привязать к другому сотруднику: "
    f"/allow {MANAGER} <сотрудник>; закрыть доступ совсем: /deny {MANAGER}"
)


@pytest.fixture
def patient(monkeypatch: pytest.MonkeyPatch) -> None:
    """Access waits for New-Tel's list however loaded the machine is (what a slow New-Tel does is tested apart)."""
    monkeypatch.setattr(services, "ACCESS_WAIT", 30.0)


def delete_member(world: World, internal: str = MEMBER_INTERNAL) -> None:
    """The member with this internal number is deleted at New-Tel."""
    company = world.sandbox.company
    company.members[:] = [m for m in company.members if m.internal_number != internal]


async def gone(world: World) -> str:
    """MANAGER's member is deleted and the cached list has expired; returns the answer to MANAGER's next /help (the
    admins are told before it)."""
    delete_member(world)
    world.services.directory.ttl = 0  # the cache interval has passed
    return await world.ask(MANAGER, "/help")


def database(world: World) -> list[str]:
    """Every row of the bot's database, as SQL."""
    with contextlib.closing(sqlite3.connect(world.settings.database_path)) as conn:
        return list(conn.iterdump())


# --- what is refused ---------------------------------------------------------------------------------------------
# Each action is set up while the member still exists (its button's message is put up) and returns what the manager
# does once the member is gone, which returns the refusal the manager saw.
Act = Callable[[], Awaitable[str]]
Setup = Callable[[World], Awaitable[Act]]


def command(text: str, chat_id: int | None = None) -> Setup:
    async def setup(world: World) -> Act:
        if chat_id is not None:
            world.services.storage.chats.subscribe(chat_id, "Sales", [], False, now=int(time.time()))
        return lambda: world.ask(MANAGER, text, chat_id=chat_id)

    return setup


def press(
    show: Callable[[World], Awaitable[dict[str, Any]]],
    button: str | None = None,
    payload: Callable[[World, dict[str, Any]], cd.Payload] | None = None,
) -> Setup:
    """A press on the message ``show`` puts up: on its ``button``, or with the ``payload`` made for that message."""

    async def setup(world: World) -> Act:
        message = await show(world)
        data = cd.pack(payload(world, message)) if payload is not None else None

        async def act() -> str:
            answer = await world.press(MANAGER, message, button, data=data)
            assert answer["show_alert"] is True
            return str(answer["text"])

        return act

    return setup


async def calls_list(world: World) -> dict[str, Any]:
    return await world.say(MANAGER, "/calls 25")


async def card(world: World) -> dict[str, Any]:
    return await world.say(MANAGER, "/name 8 916 123-45-67 Иван Петров")


async def offer(world: World) -> dict[str, Any]:
    world.tg.share_contact(MANAGER, "+7 903 555-11-22", own=False, first_name="Пётр")
    (message,) = await world.replies(MANAGER)
    return message


async def alert(world: World) -> dict[str, Any]:
    return await post_alert(world)


async def taken_alert(world: World) -> dict[str, Any]:
    message = await post_alert(world)
    await world.press(MANAGER, message, "🙋 Беру")
    return await world.edited(message)


async def reminder(world: World) -> dict[str, Any]:
    """MANAGER's private reminder of an alert, with its Call back and Done."""
    message, now = await post_alert(world), int(time.time())
    world.services.storage.reminders.arm(alert_id(world, message), reminders.KIND, MANAGER, due_at=now, now=now)
    assert await reminders.send_due(world.services, world.app.bot, now) == 1
    (sent,) = await world.replies(MANAGER)
    return sent


def alert_id(world: World, message: dict[str, Any]) -> int:
    shown = world.services.storage.alerts.by_message(GROUP, message["message_id"])
    assert shown is not None
    return shown.id


def forwarded_contact() -> Setup:
    async def setup(world: World) -> Act:
        async def act() -> str:
            world.tg.share_contact(MANAGER, "+7 903 555-11-22", own=False, first_name="Пётр")
            (reply,) = await world.replies(MANAGER)
            return str(reply["text"])

        return act

    return setup


COMMANDS = [
    "/balance", "/members", "/numbers", "/calls", "/calls missed 5", "/call +7 916 555-44-33", "/record 1",
    "/name 8 916 123-45-67 Иван Петров", "/name 8 916 123-45-67", "/contacts", "/report", "/lost", "/whoami",
    "/phone +7 916 555-44-33", "/notify off", "/lang en", "/start",
]  # fmt: skip
REFUSED: dict[str, tuple[Setup, str]] = {
    **{text: (command(text), GONE) for text in COMMANDS},
    "/report in the group": (command("/report", chat_id=GROUP), GONE),
    "a contact passed on": (forwarded_contact(), GONE),
    "› of /calls": (press(calls_list, "Далее ›"), GONE_SHORT),
    "the card's Call": (press(card, "📞 Позвонить"), GONE_SHORT),
    "the card's Rename": (press(card, "✏️ Переименовать"), GONE_SHORT),
    "the card's Remove": (press(card, "🗑 Удалить"), GONE_SHORT),
    "Save a contact": (press(offer, "💾 Записать"), GONE_SHORT),
    "Skip a contact": (press(offer, "Не надо"), GONE_SHORT),
    "Call back": (press(alert, "📞 Перезвонить"), GONE_SHORT),
    "Done": (press(alert, "✅ Готово"), GONE_SHORT),
    "Take": (press(alert, "🙋 Беру"), GONE_SHORT),
    "Release": (press(taken_alert, "↩️ Отпустить"), GONE_SHORT),
    "Remind me": (press(alert, payload=lambda world, m: cd.RemindMe(alert_id(world, m))), GONE_SHORT),
    "the reminder's Call back": (press(reminder, "📞 Перезвонить"), GONE_SHORT),
    "the reminder's Done": (press(reminder, "✅ Готово"), GONE_SHORT),
}


@pytest.mark.parametrize("action", REFUSED)
async def test_a_user_whose_member_is_gone_is_refused_and_nothing_changes(
    world: World, manager: object, patient: None, action: str
) -> None:
    setup, refusal = REFUSED[action]
    act = await setup(world)
    await gone(world)
    rows, asked, sent = database(world), len(world.sandbox.requests), len(world.tg.calls)
    assert await act() == refusal
    assert database(world) == rows
    assert {r.method for r in world.sandbox.requests[asked:]} == {MEMBERS}  # who the members are, nothing else
    replied = [c.method for c in world.tg.calls[sent:] if c.method not in ("getUpdates",)]
    assert replied in (["sendMessage"], ["answerCallbackQuery"])  # the refusal, and nothing else


async def test_the_admins_are_told_once_and_the_member_back_lets_the_user_in(
    world: World, manager: object, patient: None
) -> None:
    member = next(m for m in world.sandbox.company.members if m.internal_number == MEMBER_INTERNAL)
    assert await gone(world) == GONE
    (told,) = world.sent("sendMessage", chat_id=ADMIN)
    assert told.result["text"] == ADMIN_TOLD
    assert await world.ask(MANAGER, "/calls") == GONE
    assert len(world.sent("sendMessage", chat_id=ADMIN)) == 1  # told on the first refusal only
    (audited,) = world.services.storage.audit.recent(action="user.member_gone")
    assert (audited.target, audited.details) == (str(MANAGER), {"member": str(member.id)})

    world.sandbox.company.members.append(member)  # the member is back at New-Tel
    assert (await world.ask(MANAGER, "/whoami")).startswith("Кто вы\n")
    assert len(world.sent("sendMessage", chat_id=ADMIN)) == 1


async def test_an_admin_whose_member_is_gone_still_administers(world: World) -> None:
    world.make_manager(ADMIN, internal="100", role="admin")
    delete_member(world, "100")
    world.services.directory.ttl = 0
    assert (await world.ask(ADMIN, "/users")).startswith("Пользователи бота\n")
    assert (
        await world.ask(ADMIN, f"/allow {MANAGER} 101")
        == f"✅ Пользователь {MANAGER} работает как {MEMBER_NAME} (вн. 101)."
    )
    assert (await world.ask(ADMIN, "/calls")).startswith("📞 Звонки (все)")
    assert world.services.storage.audit.recent(action="user.member_gone") == []  # nobody to tell about an admin


async def test_the_list_is_fetched_once_for_users_asking_at_once_and_kept_for_its_interval(
    world: World, manager: object, patient: None
) -> None:
    world.make_manager(MANAGER2, internal="102")
    for _ in range(5):
        world.tg.send_text(MANAGER, "/help")
        world.tg.send_text(MANAGER2, "/help")
    await world.tg.wait_for("sendMessage", ok=True, count=10, since=0)
    assert len(world.newtel_requests(MEMBERS)) == 1

    delete_member(world)
    assert (await world.ask(MANAGER, "/help")).startswith("Что я умею")  # within the interval: the list it has
    assert len(world.newtel_requests(MEMBERS)) == 1
    world.services.directory.ttl = 0  # the interval has passed
    assert await world.ask(MANAGER, "/help") == GONE
    assert len(world.newtel_requests(MEMBERS)) == 2


async def test_while_new_tel_fails_access_follows_the_last_list_and_locks_nobody_out(
    world: World, manager: object, patient: None
) -> None:
    world.sandbox.faults.fail(status=503, times=1_000, methods=[MEMBERS])
    assert (await world.ask(MANAGER, "/help")).startswith("Что я умею")  # no list yet: nobody is locked out
    failed = len(world.newtel_requests(MEMBERS))
    assert (await world.ask(MANAGER, "/contacts")).startswith("Книга клиентов пуста.")
    assert len(world.newtel_requests(MEMBERS)) == failed  # not asked again by every command within the interval

    world.sandbox.faults.clear()
    world.services.directory.ttl = 0
    delete_member(world)
    assert await world.ask(MANAGER, "/help") == GONE  # the list New-Tel gave says so
    world.sandbox.faults.fail(status=503, times=1_000, methods=[MEMBERS])
    assert await world.ask(MANAGER, "/help") == GONE  # and still says so while New-Tel fails


@pytest.mark.parametrize("new_tel", ["slow", "failing"])
async def test_after_a_restart_access_goes_by_the_last_list_until_new_tel_gives_one(
    make_world: WorldFactory, sandbox: Sandbox, new_tel: str
) -> None:
    async with make_world() as world:
        world.make_manager()
        delete_member(world)
        await asyncio.wait_for(world.services.directory.members(), timeout=10)  # the last list before the restart
    async with make_world() as world:
        if new_tel == "slow":
            sandbox.faults.latency = 3.0  # past the access wait
        else:
            sandbox.faults.fail(status=503, times=1_000, methods=[MEMBERS])
        assert await world.ask(MANAGER, "/help") == GONE
        assert world.user(MANAGER).is_active  # type: ignore[union-attr]  # refused, not changed


async def test_a_slow_new_tel_holds_no_command_past_the_access_wait(world: World, manager: object) -> None:
    assert (await world.ask(MANAGER, "/help")).startswith("Что я умею")
    delete_member(world)
    world.services.directory.ttl = 0
    world.sandbox.faults.latency = 3.0
    started = time.monotonic()
    assert (await world.ask(MANAGER, "/help")).startswith("Что я умею")  # by the last list, the new one on its way
    assert time.monotonic() - started < 1.5  # ACCESS_WAIT (0.25 s) and the reply, not New-Tel's 3 s
    world.services.directory.ttl = 60  # the list on its way then holds for a minute
    await asyncio.wait_for(world.services.directory.members(), timeout=10)  # it has come
    assert await world.ask(MANAGER, "/help") == GONE
    assert len(world.newtel_requests(MEMBERS)) == 2
