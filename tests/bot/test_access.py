"""Who may use the bot: strangers are refused without a word to New-Tel, ask for access with /start,
and the admins approve or reject them with buttons; every button press re-checks the sender."""

from __future__ import annotations

import pytest

from tests.bot.conftest import (
    ADMIN,
    ADMIN2,
    GROUP,
    MANAGER,
    MEMBER_NAME,
    STRANGER,
    World,
    WorldFactory,
)

REFUSED = "Извините, этот бот работает только для сотрудников компании. Отправьте /start, чтобы запросить доступ."
EVERY_COMMAND = [
    "/balance",
    "/calls",
    "/calls missed 5",
    "/call +7 916 555-44-33",
    "/record 1",
    "/members",
    "/numbers",
    "/whoami",
    "/phone +7 916 555-44-33",
    "/phone off",
    "/lang en",
    "/help",
    "/allow 3003 101",
    "/deny 2002",
    "/users",
    "/subscribe",
    "/unsubscribe",
]


async def test_a_stranger_is_refused_every_command_politely_and_new_tel_is_never_asked(world: World) -> None:
    for command in EVERY_COMMAND:
        assert await world.ask(STRANGER, command) == REFUSED, command
    assert world.sandbox.requests == []
    assert world.user(STRANGER) is None  # asking does not register anyone


async def test_a_stranger_gets_nothing_in_a_group(world: World) -> None:
    for command in [*EVERY_COMMAND, "/start"]:
        world.tg.send_text(STRANGER, command, chat_id=GROUP)
    # The same stranger's /start in private is answered after all of those were handled.
    await world.say(STRANGER, "/start")
    assert world.sent(chat_id=GROUP) == []
    assert world.sandbox.requests == []


async def test_a_manager_asking_for_an_admin_command_is_told_it_is_for_admins(world: World, manager: object) -> None:
    for command in ("/allow 3003 101", "/deny 3003", "/users"):
        assert await world.ask(MANAGER, command) == "Эта команда доступна только администраторам."
    assert await world.ask(MANAGER, "/subscribe", chat_id=GROUP) == "Эта команда доступна только администраторам."
    assert world.sandbox.requests == []


async def test_start_offers_a_stranger_to_request_access_and_to_share_the_phone(world: World) -> None:
    offer, hint = await world.say_all(STRANGER, "/start", count=2)
    assert offer["text"].startswith("Здравствуйте! Этот бот помогает сотрудникам компании")
    assert [[b["text"] for b in row] for row in offer["reply_markup"]["inline_keyboard"]] == [["Запросить доступ"]]
    assert hint["text"] == "Можно также поделиться своим номером телефона: администратору будет проще вас узнать."
    assert hint["reply_markup"]["keyboard"] == [[{"text": "📱 Поделиться номером", "request_contact": True}]]
    assert world.sandbox.requests == []


async def test_start_greets_a_known_manager_by_the_member_name(world: World, manager: object) -> None:
    assert await world.ask(MANAGER, "/start") == (
        f"Здравствуйте, {MEMBER_NAME}! Я на связи с телефонией «Нью-Тел». /help — что я умею."
    )


async def test_requesting_access_notifies_the_admin_with_a_button_per_member_and_reject(world: World) -> None:
    told = await world.request_access(STRANGER)
    assert told["text"] == "🔑 Запрос доступа\nEve (@eve, id 3003)"
    buttons = [b["text"] for row in told["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons[0] == "✅ Как Попов Сергей (100)"
    assert f"✅ Как {MEMBER_NAME} (101)" in buttons
    assert buttons[-1] == "⛔ Отклонить"
    assert len(buttons) == len(world.sandbox.company.members) + 1
    # A second press does not bother the admin again.
    offer = world.tg.chat(STRANGER)[0]
    assert (await world.press(STRANGER, offer, "Запросить доступ"))["text"] == "Запрос уже отправлен"
    assert len(world.sent("sendMessage", chat_id=ADMIN)) == 1


async def test_a_shared_contact_matching_a_members_personal_number_is_shown_to_the_admin(world: World) -> None:
    world.tg.share_contact(STRANGER, "+7 974 714-48-54")
    (thanks,) = await world.replies(STRANGER)
    assert thanks["text"] == "Запрос отправлен администратору. Я напишу, когда он решит."
    assert thanks["reply_markup"] == {"remove_keyboard": True}
    (told,) = await world.replies(ADMIN)
    assert told["text"] == (
        "🔑 Запрос доступа\nEve (@eve, id 3003)\nТелефон: +7 974 714-48-54\nСовпадает с сотрудником: Васильева Татьяна"
    )
    buttons = [b["text"] for row in told["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons == [f"✅ Как {MEMBER_NAME} (101)", "⛔ Отклонить"]


async def test_sharing_the_contact_after_requesting_updates_the_admins_message(world: World) -> None:
    told = await world.request_access(STRANGER)
    world.tg.share_contact(STRANGER, "8 974 714 48 54")
    updated = await world.edited(told)
    assert "Совпадает с сотрудником: Васильева Татьяна" in updated["text"]


async def test_a_contact_shared_in_a_group_is_not_an_access_request(world: World, manager: object) -> None:
    world.tg.share_contact(STRANGER, "+7 974 714-48-54", chat_id=GROUP)
    world.tg.share_contact(MANAGER, "+7 974 714-48-54", chat_id=GROUP)
    await world.say(STRANGER, "/start")  # handled after both contacts
    assert world.sent(chat_id=GROUP) == []
    assert world.services.storage.access_requests.pending() == []
    assert world.sent(chat_id=ADMIN) == []


async def test_someone_elses_contact_is_not_taken(world: World) -> None:
    world.tg.share_contact(STRANGER, "+7 974 714-48-54", own=False)
    (reply,) = await world.replies(STRANGER)
    assert reply["text"] == ("Пожалуйста, поделитесь своим номером кнопкой «Поделиться номером», а не чужим контактом.")
    assert world.services.storage.access_requests.pending() == []


async def test_approving_makes_the_stranger_a_manager_acting_as_that_member(world: World) -> None:
    told = await world.request_access(STRANGER)
    await world.press(ADMIN, told, f"✅ Как {MEMBER_NAME} (101)")
    (notice,) = await world.replies(STRANGER)
    assert notice["text"] == f"✅ Доступ открыт: вы работаете как {MEMBER_NAME}. /help — что я умею."
    decided = world.tg.message(ADMIN, told["message_id"])
    assert decided is not None
    assert decided["text"] == f"✅ Доступ выдан: Eve работает как {MEMBER_NAME}.\nРешение: Anna"
    assert "reply_markup" not in decided  # no buttons left to press twice
    user = world.user(STRANGER)
    assert user is not None
    assert (user.role, user.status, user.member_name, user.internal_number) == ("manager", "active", MEMBER_NAME, "101")
    assert world.services.storage.audit.recent(action="user.allow")[0].target == str(STRANGER)
    assert "Васильева Татьяна" in await world.ask(STRANGER, "/whoami")


async def test_rejecting_tells_the_stranger_and_keeps_them_out(world: World) -> None:
    told = await world.request_access(STRANGER)
    await world.press(ADMIN, told, "⛔ Отклонить")
    (notice,) = await world.replies(STRANGER)
    assert notice["text"] == "К сожалению, администратор отклонил запрос доступа."
    decided = world.tg.message(ADMIN, told["message_id"])
    assert decided is not None and decided["text"] == "⛔ Запрос Eve отклонён.\nРешение: Anna"
    assert await world.ask(STRANGER, "/balance") == REFUSED
    assert world.newtel_requests("company/get-state") == []

    # Asking again at once does not pester the admins: the stranger is told to wait a day.
    offer, _ = await world.say_all(STRANGER, "/start", count=2)
    answer = await world.press(STRANGER, offer, "Запросить доступ")
    assert answer == {
        **answer,
        "text": "Администратор уже отклонил ваш запрос. Повторный запрос можно отправить через сутки.",
        "show_alert": True,
    }
    world.tg.share_contact(STRANGER, "+7 999 000-11-22")
    (cooldown,) = await world.replies(STRANGER)
    assert cooldown["text"].startswith("Администратор уже отклонил ваш запрос")
    await world.say(ADMIN, "/help")  # everything before it has been handled
    assert len(world.sent("sendMessage", chat_id=ADMIN)) == 2  # the one request, and the reply to /help


async def test_two_admins_deciding_at_once_make_one_decision(make_world: WorldFactory) -> None:
    async with make_world(admin_ids=f"{ADMIN},{ADMIN2}") as world:
        told = await world.request_access(STRANGER)
        (told2,) = await world.replies(ADMIN2)
        approve = world.tg.press(ADMIN, told, button=f"✅ Как {MEMBER_NAME} (101)")
        reject = world.tg.press(ADMIN2, told2, button="⛔ Отклонить")
        await world.tg.wait_for("answerCallbackQuery", count=2)
        answers = sorted(str(world.tg.callback_answer(u) or {}) for u in (approve, reject))
        assert sum("Этот запрос уже рассмотрен." in a for a in answers) == 1
        # The stranger hears one decision; both admins' messages show it.
        (notice,) = await world.replies(STRANGER)
        await world.say(ADMIN, "/help")  # everything before it has been handled
        assert len(world.sent("sendMessage", chat_id=STRANGER)) == 4  # start, hint, "request sent", the decision
        user = world.user(STRANGER)
        assert user is not None
        if notice["text"].startswith("✅"):
            assert user.status == "active"
        else:
            assert user.status == "denied"
        shown = {world.tg.message(c, m["message_id"])["text"] for c, m in ((ADMIN, told), (ADMIN2, told2))}  # type: ignore[index]
        assert len(shown) == 1


async def test_a_manager_revoked_after_opening_calls_cannot_use_the_old_buttons(world: World, manager: object) -> None:
    page = await world.say(MANAGER, "/calls 30")
    assert await world.ask(ADMIN, f"/deny {MANAGER}") == f"⛔ Доступ пользователя {MANAGER} отозван."
    before = len(world.sandbox.requests)
    answer = await world.press(MANAGER, page, "Далее ›")
    assert answer == {
        "text": "Нет доступа. Отправьте боту /start в личном чате, чтобы запросить его.",
        "show_alert": True,
    }
    assert len(world.sandbox.requests) == before
    assert world.tg.message(MANAGER, page["message_id"])["edit_count"] == 0  # type: ignore[index]
    assert await world.ask(MANAGER, "/calls") == REFUSED


@pytest.mark.parametrize("pressed", ["approve", "reject"])
async def test_a_manager_cannot_press_the_admins_buttons(world: World, manager: object, pressed: str) -> None:
    told = await world.request_access(STRANGER)
    button = f"✅ Как {MEMBER_NAME} (101)" if pressed == "approve" else "⛔ Отклонить"
    # The manager somehow got the message with its buttons (say, forwarded): the press is refused.
    answer = await world.press(MANAGER, told, button)
    assert answer["text"] == "Только для администраторов."
    assert world.services.storage.access_requests.pending() != []


async def test_each_admin_reads_the_request_and_the_decision_in_their_own_language(make_world: WorldFactory) -> None:
    async with make_world(admin_ids=f"{ADMIN},{ADMIN2}") as world:
        assert await world.ask(ADMIN2, "/lang en") == "Language: English."
        told = await world.request_access(STRANGER)
        (told2,) = await world.replies(ADMIN2)
        assert told2["text"] == "🔑 Access request\nEve (@eve, id 3003)"
        await world.press(ADMIN, told, "⛔ Отклонить")
        await world.replies(STRANGER)
        assert world.tg.message(ADMIN, told["message_id"])["text"] == "⛔ Запрос Eve отклонён.\nРешение: Anna"  # type: ignore[index]
        assert world.tg.message(ADMIN2, told2["message_id"])["text"] == "⛔ Request from Eve rejected.\nDecided by Anna"  # type: ignore[index]
