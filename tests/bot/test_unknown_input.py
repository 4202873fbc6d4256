"""Input no command takes: a hint in a private chat (the closest command, /help, how to import a file); in a group,
silence unless the bot is addressed."""

from __future__ import annotations

import time

import pytest

from bot.profile.unknown import closest
from tests.bot.conftest import ADMIN, GROUP, MANAGER, STRANGER, World

HINTS = {
    "ru": {
        "/balanse": "Команды /balanse нет. Может быть, /balance? Всё, что я умею: /help",
        "/баланс": "Команды /баланс нет. Может быть, /balance? Всё, что я умею: /help",
        "/unknowncmd": "Команды /unknowncmd нет. Всё, что я умею: /help",
        "привет": "Я отвечаю на команды — они начинаются с «/». Всё, что я умею: /help",
    },
    "en": {
        "/balanse": "There is no command /balanse. Did you mean /balance? What I can do: /help",
        "/баланс": "There is no command /баланс. Did you mean /balance? What I can do: /help",
        "/unknowncmd": "There is no command /unknowncmd. What I can do: /help",
        "привет": "I answer commands, which start with “/”. What I can do: /help",
    },
}
FILE_HINTS = {
    "ru": (
        "Чтобы загрузить клиентов из этого файла, ответьте на него командой /import (или пришлите его с подписью "
        "/import). Подходят .csv, .xlsx и .vcf.",
        "Файлы я принимаю только для загрузки клиентов, а её делает администратор. Всё, что я умею: /help",
    ),
    "en": (
        "To import customers from this file, reply to it with /import (or send it again with the caption /import). "
        ".csv, .xlsx and .vcf will do.",
        "I take files only to import customers, which an admin does. What I can do: /help",
    ),
}


def test_the_closest_command_is_found_by_spelling_or_by_its_russian_name() -> None:
    known = ["balance", "call", "calls", "help", "report"]
    assert [closest(typed, known) for typed in ("balanse", "calss", "hepl", "Баланс", "отчет", "zzz")] == [
        "balance", "calls", "help", "balance", "report", None,
    ]  # fmt: skip


@pytest.mark.parametrize("language", ["ru", "en"])
async def test_unknown_input_in_a_private_chat_gets_a_hint(world: World, manager: object, language: str) -> None:
    for user in (ADMIN, MANAGER):
        world.services.storage.users.set_language(user, language, now=int(time.time()))  # type: ignore[arg-type]
    for typed, hint in HINTS[language].items():
        assert await world.ask(MANAGER, typed) == hint, typed
    for user, hint in zip((ADMIN, MANAGER), FILE_HINTS[language], strict=True):
        world.tg.send_document(user, b"89161234567;Ivan\n", "clients.csv")  # no /import caption
        (reply,) = await world.replies(user)
        assert reply["text"] == hint
    assert world.services.storage.contacts.search("", 10) == []  # nothing imported
    assert (await world.ask(STRANGER, "привет")).startswith("Извините, этот бот работает только для сотрудников")


@pytest.mark.parametrize("language", ["ru", "en"])
async def test_in_a_group_the_bot_is_quiet_unless_addressed(world: World, manager: object, language: str) -> None:
    await world.ask(ADMIN, "/subscribe", chat_id=GROUP)
    world.services.storage.chats.set_language(GROUP, language, now=int(time.time()))  # type: ignore[arg-type]
    for typed in ("привет", "/balanse", "/баланс", "/balance@other_bot"):
        world.tg.send_text(MANAGER, typed, chat_id=GROUP)  # the team's talk, or another bot's command
    world.tg.send_text(STRANGER, f"/balanse@{world.tg.bot_user['username']}", chat_id=GROUP)  # nobody the bot knows
    before = len(world.sent("sendMessage", chat_id=GROUP))
    await world.ask(MANAGER, "/help", chat_id=GROUP)  # everything before it has been handled
    assert len(world.sent("sendMessage", chat_id=GROUP)) == before + 1

    addressed = await world.ask(MANAGER, f"/balanse@{world.tg.bot_user['username']}", chat_id=GROUP)
    assert addressed == HINTS[language]["/balanse"]
    mentioned = await world.ask(MANAGER, f"@{world.tg.bot_user['username']} привет", chat_id=GROUP)
    assert mentioned == HINTS[language]["привет"]
