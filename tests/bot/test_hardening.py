"""What an attack-and-fault run found in access, commands and calls (issue 7), each reproduced end to end:
the real Application between the New-Tel sandbox and the fake Bot API."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import pytest

from bot.watch.poller import poller
from newtel.sandbox import Sandbox
from tests.bot.conftest import (
    ADMIN,
    ADMIN2,
    GROUP,
    MANAGER,
    MEMBER_PERSONAL,
    STRANGER,
    World,
    WorldFactory,
    database_locked,
)

START_CALL = "call/start-simple-call"
CUSTOMER = "79035551122"


async def post_alert(world: World, chat_id: int = GROUP, clid: str = CUSTOMER) -> dict[str, Any]:
    """A missed call's alert in the subscribed chat, delivered by the bot's own delivery; returns the message."""
    svc, now = world.services, int(time.time())
    if (chat := svc.storage.chats.get(chat_id)) is None or not chat.subscribed:
        svc.storage.chats.subscribe(chat_id, "Sales", [], False, now=now - 60)
    dialled = world.sandbox.company.external_numbers[0]
    vpbx_id = f"{abs(chat_id):x}{clid}".ljust(40, "0")[:40]
    result = svc.storage.alerts.record_missed(chat_id, vpbx_id, clid, dialled, now - 20, now - 5, now)
    assert result.alert_id is not None
    await poller(world.app).delivery.deliver(world.app.bot, result.alert_id)
    alert = svc.storage.alerts.get(result.alert_id)
    assert alert is not None and alert.message_id is not None
    message = world.tg.message(chat_id, alert.message_id)
    assert message is not None
    return message


# --- 2: a press counts only for the message that carries its button ------------------------------------------


async def test_a_forged_alert_payload_on_a_private_message_changes_nothing(world: World, manager: object) -> None:
    alert_message = await post_alert(world)
    private = await world.say(MANAGER, "/help")
    for data in ("v1:done:1", "v1:cb:1"):
        answer = await world.press(MANAGER, private, data=data)
        assert answer == {"text": "Эта кнопка не относится к этому сообщению.", "show_alert": True}
    (alert,) = world.services.storage.alerts.open_for(GROUP)
    assert alert.state == "open"
    assert world.newtel_requests(START_CALL) == []
    assert world.tg.message(GROUP, alert_message["message_id"]) == alert_message


async def test_a_paging_payload_forced_onto_an_alert_does_not_replace_it(world: World, manager: object) -> None:
    alert_message = await post_alert(world)
    answer = await world.press(MANAGER, alert_message, data="v1:calls:all:10:1")
    assert answer["text"] == "Эта кнопка не относится к этому сообщению."
    assert world.tg.message(GROUP, alert_message["message_id"]) == alert_message  # text and buttons kept
    assert world.sent("editMessageText") == []
    assert world.newtel_requests() == []


# --- 3: the phone to ring comes from New-Tel's current member data -------------------------------------------


async def test_a_user_whose_member_was_deleted_cannot_call(world: World, manager: object) -> None:
    company = world.sandbox.company
    company.members[:] = [m for m in company.members if m.personal_number != MEMBER_PERSONAL]
    reply = await world.ask(MANAGER, "/call +7 916 555-44-33")
    assert reply == (  # refused by the access check (Hardening II, 5: tests/bot/test_access_members.py)
        "Сотрудника «Васильева Татьяна», от имени которого вы работаете, больше нет в «Нью-Тел», поэтому данные "
        "компании вам сейчас недоступны. Обратитесь к администратору."
    )
    alert_message = await post_alert(world)
    answer = await world.press(MANAGER, alert_message, "📞 Перезвонить")
    assert answer["show_alert"] and answer["text"].startswith("Вашего сотрудника больше нет в «Нью-Тел»")
    assert world.newtel_requests(START_CALL) == []
    (alert,) = world.services.storage.alerts.open_for(GROUP)
    assert alert.state == "open"  # not claimed: nobody is shown as calling back


async def test_a_member_whose_number_changed_gets_the_new_one_rung(world: World, manager: object) -> None:
    member = next(m for m in world.sandbox.company.members if m.personal_number == MEMBER_PERSONAL)
    member.personal_number = "79160001122"
    reply = await world.ask(MANAGER, "/call +7 916 555-44-33")
    assert reply.startswith("📞 Звоню: сначала зазвонит ваш телефон +7 916 000-11-22,")
    (start,) = world.newtel_requests(START_CALL)
    assert start.params["srcNumber"] == "79160001122"
    assert world.user(MANAGER).personal_number == "79160001122"  # type: ignore[union-attr]  # the snapshot follows


# --- 8: nothing after the call request turns its reply into "try again" --------------------------------------


async def test_call_refuses_before_calling_when_it_cannot_be_recorded(world: World, manager: object) -> None:
    await world.ask(MANAGER, "/numbers")  # company numbers cached: the command needs no write to get there
    with database_locked(world.settings.database_path):
        (message,) = await world.say_all(MANAGER, "/call +7 916 555-44-33", count=1, timeout=15)
    assert message["text"] == "Звонок не начат: бот не может записать его в журнал. Попробуйте через минуту."
    assert world.newtel_requests(START_CALL) == []


async def test_a_placed_call_is_reported_as_placed_even_if_its_id_cannot_be_recorded(
    world: World, manager: object
) -> None:
    # The database locks up while New-Tel starts the call: the entry written before it stays "requested".
    held: list[sqlite3.Connection] = []
    original = world.services.newtel.call.start_simple_call

    async def start_and_lock(**params: Any) -> str:
        call_id = await original(**params)
        other = sqlite3.connect(world.settings.database_path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        held.append(other)
        return call_id

    world.services.newtel.call.start_simple_call = start_and_lock  # type: ignore[method-assign]
    world.tg.send_text(MANAGER, "/call +7 916 555-44-33")
    (message,) = await world.replies(MANAGER, timeout=15)
    held[0].execute("ROLLBACK")
    assert message["text"].startswith("📞 Звоню: сначала зазвонит ваш телефон +7 974 714-48-54")
    assert len(world.newtel_requests(START_CALL)) == 1
    (entry,) = world.services.storage.audit.recent(action="call.start")
    assert entry.details["outcome"] == "requested"


# --- the same words from /call and Call back ---------------------------------------------------------------


async def test_no_caller_id_is_said_the_same_by_call_and_call_back(world: World, manager: object) -> None:
    company = world.sandbox.company
    alert_message = await post_alert(world)
    company.external_numbers.clear()
    for lang, expected in (
        ("ru", "У компании нет внешнего номера, который можно показать клиенту. Задайте DEFAULT_CALLER_ID."),
        ("en", "The company has no external number to show the customer. Set DEFAULT_CALLER_ID."),
    ):
        world.services.storage.users.set_language(MANAGER, lang, now=int(time.time()))  # /call in private
        world.services.storage.chats.set_language(GROUP, lang, now=int(time.time()))  # the alert's press in the group
        world.services.directory._numbers = None  # what New-Tel says now
        assert await world.ask(MANAGER, "/call +7 916 555-44-33") == expected
        answer = await world.press(MANAGER, alert_message, 0)
        assert answer == {"text": expected, "show_alert": True}
    assert world.newtel_requests(START_CALL) == []


# --- 4: admin rights follow ADMIN_IDS ----------------------------------------------------------------------


async def test_an_admin_removed_from_admin_ids_is_demoted_at_the_next_start(make_world: WorldFactory) -> None:
    async with make_world(admin_ids=f"{ADMIN},{ADMIN2}") as world:
        assert (await world.ask(ADMIN2, "/allow 1002 101")).startswith("✅")  # acts as a member, stays an admin
        assert (await world.ask(ADMIN2, "/users")).startswith("Пользователи бота")
    async with make_world(admin_ids=str(ADMIN)) as world:
        assert await world.ask(ADMIN2, "/users") == "Эта команда доступна только администраторам."
        assert (await world.ask(ADMIN2, "/whoami")).startswith("Кто вы")  # still a manager as the member
        (entry,) = world.services.storage.audit.recent(action="user.demote")
        assert entry.target == str(ADMIN2)


# --- 9: /allow settles the pending request -------------------------------------------------------------------


async def test_allow_settles_a_pending_request_so_an_old_reject_button_changes_nothing(world: World) -> None:
    told = await world.request_access(STRANGER)
    reject = next(
        b["callback_data"] for row in told["reply_markup"]["inline_keyboard"] for b in row if "⛔" in b["text"]
    )
    assert (await world.ask(ADMIN, f"/allow {STRANGER} 101")).startswith("✅")
    settled = world.tg.message(ADMIN, told["message_id"])
    assert settled is not None and settled.get("reply_markup") is None
    assert settled["text"] == "✅ Доступ выдан: Eve работает как Васильева Татьяна.\nРешение: Anna"
    answer = await world.press(ADMIN, told, data=reject)
    assert answer["show_alert"]
    assert world.user(STRANGER).is_active  # type: ignore[union-attr]
    assert world.services.storage.access_requests.pending() == []


# --- 10: an access request is never silently lost --------------------------------------------------------------


async def test_an_access_request_reaches_the_admins_while_new_tel_is_down(world: World) -> None:
    world.sandbox.faults.fail(status=503, times=50, methods=["company/get-members"])
    told = await world.request_access(STRANGER)
    assert "/allow 3003" in told["text"]  # how to let them in without the member buttons
    assert [[b["text"] for b in row] for row in told["reply_markup"]["inline_keyboard"]] == [["⛔ Отклонить"]]


async def test_a_stranger_is_told_when_no_admin_could_be_reached(world: World) -> None:
    offer, _ = await world.say_all(STRANGER, "/start", count=2)
    world.tg.faults.fail(status=403, times=1, methods={"sendMessage"})
    answer = await world.press(STRANGER, offer, "Запросить доступ")
    assert answer == {
        "text": "Не удалось передать запрос администраторам. Попробуйте ещё раз через несколько минут.",
        "show_alert": True,
    }
    assert world.services.storage.access_requests.pending() == []  # asking again works
    assert (await world.press(STRANGER, offer, "Запросить доступ"))["text"] == "Запрос отправлен"


# --- 11, 12: every argument read strictly; echoes never push a reply past Telegram's limit -----------------


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        ("/calls ²", "Использование: /calls [missed|in|out|active] [период] [N | номер]"),
        ("/record ²", "Использование: /record <номер строки из /calls или vpbxId>"),
        ("/allow ² 801", "«²» — не Telegram id пользователя"),
        (f"/deny {'9' * 30}", f"«{'9' * 30}» — не Telegram id пользователя"),
        ("/allow -100500 801", "«-100500» — не Telegram id пользователя"),
    ],
)
async def test_odd_digits_and_huge_ids_get_a_clear_message(
    world: World, manager: object, command: str, reply: str
) -> None:
    assert (await world.ask(ADMIN, command)).startswith(reply)
    assert world.user(-100500) is None and world.newtel_requests() == []


async def test_a_long_echo_still_gets_a_reply_under_telegrams_limit(world: World) -> None:
    text = await world.ask(ADMIN, "/subscribe " + "x" * 4000, chat_id=GROUP)
    assert text.startswith("Номер «xxx") and len(text) < 1000


# --- 18: strangers cost New-Tel little --------------------------------------------------------------------


async def test_strangers_requests_fetch_the_member_list_at_most_once_in_ten_minutes(world: World) -> None:
    await world.request_access(STRANGER)
    offer, _ = await world.say_all(STRANGER, "/start", count=2)
    for _ in range(3):  # the same stranger again: the pending request, no new traffic
        assert (await world.press(STRANGER, offer, "Запросить доступ"))["text"] == "Запрос уже отправлен"
    world.services.directory._members = None  # the cache went cold
    other = 3004
    offer, _ = await world.say_all(other, "/start", count=2)
    assert (await world.press(other, offer, "Запросить доступ"))["text"] == "Запрос отправлен"
    assert len(world.newtel_requests("company/get-members")) == 1
    (told,) = await world.replies(ADMIN)
    assert "/allow 3004" in told["text"]  # told without the member buttons rather than costing a request


# --- 19: company data only where an admin enabled the bot ---------------------------------------------------


async def test_manager_commands_in_a_group_nobody_enabled_point_to_a_private_chat(
    world: World, manager: object
) -> None:
    for command in ("/members", "/balance", "/calls", "/whoami", "/numbers"):
        assert (await world.ask(MANAGER, command, chat_id=GROUP)).startswith("В этой группе бот не включён"), command
    assert world.newtel_requests() == []
    assert (await world.ask(ADMIN, "/subscribe", chat_id=GROUP)).startswith("🔔 Чат подписан")
    assert (await world.ask(MANAGER, "/members", chat_id=GROUP)).startswith("Сотрудники")


# --- 20: a command's reply survives Telegram's 5xx storms -----------------------------------------------------


async def test_a_reply_is_retried_through_telegrams_5xx(world: World, manager: object) -> None:
    world.tg.faults.fail(status=502, times=2, methods={"sendMessage"})
    world.tg.faults.fail(status=500, times=1, methods={"sendMessage"})
    (reply,) = await world.say_all(MANAGER, "/whoami", count=1, timeout=10)
    assert reply["text"].startswith("Кто вы")
    assert [c.ok for c in world.sent("sendMessage", MANAGER)] == [False, False, False, True]


# --- 14: a person waiting gets an answer within a stated bound -----------------------------------------------


async def test_a_command_is_answered_within_the_deadline_while_new_tel_hangs(
    make_world: WorldFactory, sandbox: Sandbox
) -> None:
    async with make_world(own_clients=True, newtel_timeout=0.5, newtel_command_deadline=1.5) as world:
        world.make_manager()
        sandbox.faults.latency = 3  # longer than the deadline; the hung request ends before teardown
        started = time.monotonic()
        reply = await world.ask(MANAGER, "/balance")
        elapsed = time.monotonic() - started
        sandbox.faults.latency = 0
    assert reply == "⚠️ «Нью-Тел» сейчас не отвечает. Попробуйте через минуту."
    assert elapsed < 1.5 + 0.5, elapsed  # 4 attempts of 0.5 s and back-off between them would take 3.75 s or more


# --- 5: one malformed call does not stop every alert -----------------------------------------------------


async def test_a_malformed_call_in_the_history_does_not_stop_the_other_alerts(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    svc, sandbox = world.services, world.sandbox
    svc.storage.chats.subscribe(GROUP, "Sales", [], False, now=int(time.time()) - 60)
    watch = poller(world.app)
    await watch.poll_once(world.app.bot)  # the first poll: the history so far is known, not news
    now = sandbox.now()
    bad = sandbox.add_call(direction="in", clid="79031112233", status="no answer", start=now - 30, end=now - 2)
    sandbox.add_call(direction="in", clid=CUSTOMER, status="no answer", start=now - 20, end=now - 1)
    sandbox.faults.malform(bad.vpbx_id, clid=None)
    for _ in range(3):
        await watch.poll_once(world.app.bot)
        await watch.lanes.settled()
    (alert,) = [c for c in world.sent("sendMessage", GROUP) if c.ok]
    assert "+7 903 555-11-22" in alert.params["text"]
    assert len([r for r in caplog.records if bad.vpbx_id in r.getMessage()]) == 1  # logged once, not every poll


async def test_a_stale_press_hears_the_real_reason_not_a_forgery(world: World, manager: object) -> None:
    alert_message = await post_alert(world)
    done = next(
        b["callback_data"] for row in alert_message["reply_markup"]["inline_keyboard"] for b in row if "✅" in b["text"]
    )
    assert (await world.press(MANAGER, alert_message, data=done))["text"] == "Закрыто."
    # Someone else's app still shows the old buttons: the alert is closed, and that is what they are told.
    assert (await world.press(ADMIN, alert_message, data=done))["text"] == "Это уведомление уже закрыто."
