"""The admins' commands: /allow by internal number, name or email, /deny, /users, and /subscribe,
/unsubscribe and /lang in the team's group chat."""

from __future__ import annotations

import pytest

from newtel.sandbox._company import Member
from tests.bot.conftest import ADMIN, GROUP, MANAGER, MEMBER_NAME, STRANGER, World

ALLOW_USAGE = (
    "Использование: /allow <telegram id> <сотрудник>\n"
    "Сотрудника можно указать внутренним номером, именем или email. Пример: /allow 123456789 101"
)


@pytest.mark.parametrize(
    "member",
    [
        "102",
        "Орлова Наталья",
        "орлова  наталья",
        "Орлова",
        "Наталья",
        "n.orlova@tehsnabplus.ru",
        "N.Orlova@TehSnabPlus.ru",
    ],
)
async def test_allow_finds_the_member_by_internal_number_name_or_email(world: World, member: str) -> None:
    reply = await world.ask(ADMIN, f"/allow {STRANGER} {member}")
    assert reply == f"✅ Пользователь {STRANGER} работает как Орлова Наталья (вн. 102)."
    user = world.user(STRANGER)
    assert user is not None
    assert (user.role, user.status, user.member_name, user.internal_number, user.personal_number) == (
        "manager",
        "active",
        "Орлова Наталья",
        "102",
        "79285970256",
    )
    (entry,) = world.services.storage.audit.recent(action="user.allow")
    assert (entry.actor_id, entry.target) == (ADMIN, str(STRANGER))
    # Now they use the bot as that member.
    assert "Сотрудник: Орлова Наталья" in await world.ask(STRANGER, "/whoami")


async def test_allow_tells_unknown_and_ambiguous_members_apart(world: World) -> None:
    world.sandbox.company.members.append(
        Member(20001, "Попова Анна", "a.popova@tehsnabplus.ru", "106", "79160000106", "Europe/Moscow")
    )
    assert await world.ask(ADMIN, f"/allow {STRANGER} Сидоров") == "Сотрудник «Сидоров» не найден. Список — /members."
    assert await world.ask(ADMIN, f"/allow {STRANGER} Поп") == (
        "Под «Поп» подходят несколько сотрудников: Попов Сергей (100), Попова Анна (106). Укажите внутренний номер."
    )
    assert world.user(STRANGER) is None
    # A whole surname is not ambiguous because another one starts with it.
    assert await world.ask(ADMIN, f"/allow {STRANGER} Попов") == (
        f"✅ Пользователь {STRANGER} работает как Попов Сергей (вн. 100)."
    )


@pytest.mark.parametrize("arguments", ["", "3003", "eve 101", "@eve 101"])
async def test_allow_explains_its_usage(world: World, arguments: str) -> None:
    assert await world.ask(ADMIN, f"/allow {arguments}") == ALLOW_USAGE
    assert world.newtel_requests() == []


async def test_an_admin_acting_as_a_member_stays_an_admin(world: World) -> None:
    await world.ask(ADMIN, f"/allow {ADMIN} 100")
    user = world.user(ADMIN)
    assert user is not None and (user.role, user.member_name) == ("admin", "Попов Сергей")
    assert "Роль: администратор\nСотрудник: Попов Сергей" in await world.ask(ADMIN, "/whoami")


async def test_deny_revokes_a_manager(world: World, manager: object) -> None:
    assert await world.ask(ADMIN, f"/deny {MANAGER}") == f"⛔ Доступ пользователя {MANAGER} отозван."
    user = world.user(MANAGER)
    assert user is not None and user.status == "revoked"
    assert world.services.storage.audit.recent(action="user.deny")[0].target == str(MANAGER)
    assert (await world.ask(MANAGER, "/balance")).startswith("Извините, этот бот работает только для сотрудников")
    assert world.newtel_requests("company/get-state") == []


async def test_deny_of_someone_unknown_keeps_them_out_and_allow_lets_them_back(world: World) -> None:
    assert await world.ask(ADMIN, f"/deny {STRANGER}") == f"⛔ Пользователь {STRANGER} не сможет пользоваться ботом."
    assert world.user(STRANGER).status == "denied"  # type: ignore[union-attr]
    await world.ask(ADMIN, f"/allow {STRANGER} 101")
    assert world.user(STRANGER).status == "active"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("arguments", "reply"),
    [
        ("", "Использование: /deny <telegram id>"),
        ("eve", "Использование: /deny <telegram id>"),
        ("1 2", "Использование: /deny <telegram id>"),
        (str(ADMIN), "Этот администратор задан в ADMIN_IDS; уберите его оттуда, чтобы отозвать доступ."),
    ],
)
async def test_deny_refuses_what_it_cannot_do(world: World, arguments: str, reply: str) -> None:
    assert await world.ask(ADMIN, f"/deny {arguments}") == reply
    assert world.user(ADMIN).is_admin  # type: ignore[union-attr]


async def test_users_lists_everyone_and_the_pending_requests(world: World, manager: object) -> None:
    await world.ask(ADMIN, "/deny 4004")
    world.tg.share_contact(STRANGER, "+7 916 000-00-01")
    await world.replies(ADMIN)  # the admin heard about the request
    assert await world.ask(ADMIN, "/users") == (
        "Пользователи бота\n"
        "• 1001 — администратор, активен\n"
        "• 4004 — менеджер, отклонён\n"
        f"• {MANAGER} — менеджер, активен; {MEMBER_NAME} (вн. 101)\n"
        "\n"
        "Ожидают решения: 1."
    )


async def test_subscribe_in_a_group_to_all_numbers_some_numbers_and_the_balance(world: World) -> None:
    chats = world.services.storage.chats
    assert await world.ask(ADMIN, "/subscribe", chat_id=GROUP) == (
        "🔔 Чат подписан на пропущенные звонки: все номера компании."
    )
    stored = chats.get(GROUP)
    assert stored is not None and (stored.subscribed, stored.numbers, stored.balance_alerts) == (True, (), False)
    # Numbers as people write them, spaces and all, with "balance" anywhere.
    assert await world.ask(ADMIN, "/subscribe +7 495 532-55-85 balance 8 800 051 32 14", chat_id=GROUP) == (
        "🔔 Чат подписан на пропущенные звонки: +7 495 532-55-85, +7 800 051-32-14.\n💰 И на уведомления о балансе."
    )
    stored = chats.get(GROUP)
    assert stored is not None and (stored.numbers, stored.balance_alerts) == (("74955325585", "78000513214"), True)
    entry = world.services.storage.audit.recent(action="chat.subscribe")[0]
    assert entry.details == {"numbers": ["74955325585", "78000513214"], "balance": True}


async def test_subscribe_names_a_number_the_company_does_not_have(world: World) -> None:
    assert await world.ask(ADMIN, "/subscribe 74955325585 +7 916 555-44-33", chat_id=GROUP) == (
        "Номер «+7 916 555-44-33» не принадлежит компании. "
        "Номера компании: +7 495 532-55-85, +7 800 051-32-14, +7 812 037-45-02."
    )
    assert world.services.storage.chats.get(GROUP) is None


async def test_unsubscribe_stops_the_alerts_once(world: World) -> None:
    assert await world.ask(ADMIN, "/unsubscribe", chat_id=GROUP) == "Чат и так не подписан."
    await world.ask(ADMIN, "/subscribe", chat_id=GROUP)
    assert await world.ask(ADMIN, "/unsubscribe", chat_id=GROUP) == "🔕 Чат отписан от уведомлений."
    assert world.services.storage.chats.get(GROUP).subscribed is False  # type: ignore[union-attr]
    assert await world.ask(ADMIN, "/unsubscribe", chat_id=GROUP) == "Чат и так не подписан."


@pytest.mark.parametrize("command", ["/subscribe", "/unsubscribe"])
async def test_subscriptions_are_made_in_the_group_not_in_private(world: World, command: str) -> None:
    assert await world.ask(ADMIN, command) == "Эта команда работает в групповом чате команды."


async def test_lang_in_a_group_sets_the_alert_language_for_an_admin_and_the_own_one_for_a_manager(
    world: World, manager: object
) -> None:
    assert await world.ask(ADMIN, "/lang en", chat_id=GROUP) == (
        "Язык группы задаётся вместе с её оповещениями — сначала подпишите её: /subscribe"
    )
    await world.ask(ADMIN, "/subscribe", chat_id=GROUP)
    assert await world.ask(ADMIN, "/lang en", chat_id=GROUP) == (
        "This chat is in English now: its alerts, its board and every answer here."
    )
    assert world.services.storage.chats.get(GROUP).language == "en"  # type: ignore[union-attr]
    assert world.user(ADMIN).language is None  # type: ignore[union-attr]
    assert await world.ask(MANAGER, "/lang en", chat_id=GROUP) == (
        "Done: in our private chat I write to you in English. In the group, in the group's language, which an admin "
        "chooses."
    )
    assert world.user(MANAGER).language == "en"  # type: ignore[union-attr]
    assert (await world.ask(MANAGER, "/help")).startswith("What I can do")


async def test_the_admin_help_lists_the_admin_commands_too(world: World, manager: object) -> None:
    admin_help = await world.ask(ADMIN, "/help")
    manager_help = await world.ask(MANAGER, "/help")
    assert admin_help.startswith(manager_help + "\n\nАдминистратору\n/allow <id> <сотрудник> — выдать доступ")
    assert "/subscribe" not in manager_help


async def test_users_shows_names_from_telegram_escaped(world: World) -> None:
    world.tg.user(STRANGER, first_name="Eve <3", username="eve")
    told = await world.request_access(STRANGER)
    await world.press(ADMIN, told, f"✅ Как {MEMBER_NAME} (101)")
    await world.replies(STRANGER)
    listed = await world.say(ADMIN, "/users")
    assert f"• {STRANGER} Eve <3 @eve — менеджер, активен; {MEMBER_NAME} (вн. 101)" in listed["text"].splitlines()
    assert "Eve &lt;3" in listed["raw_text"]
