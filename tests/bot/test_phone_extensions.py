"""A number typed with an extension ("доб. 5", "ext. 5", "x5", "#5"): the number is kept, and the answer says so."""

from __future__ import annotations

import time

import pytest

from bot.calls import listing
from bot.contacts import importing
from newtel import phones
from tests.bot.conftest import ADMIN, MANAGER, World

OFFICE, SHOWN = "74951112233", "+7 495 111-22-33"
MOBILE = "79161234567"
START_CALL = "call/start-simple-call"
KEPT = {
    "ru": "ℹ️ Добавочный {extension} бот не хранит и не набирает: беру номер {number}.",
    "en": "ℹ️ The bot neither keeps nor dials extension {extension}: taking the number {number}.",
}


@pytest.mark.parametrize(
    "typed",
    ["+7 495 111 22 33 доб. 5", "+7 495 111-22-33 ext. 5", "8 495 111 22 33 x5", "8 (495) 111-22-33 #5",
     "+7 495 111 22 33, доб. 5", "74951112233 (доб. 5)"],
)  # fmt: skip
def test_an_extension_is_read_apart_from_its_number(typed: str) -> None:
    number, extension = phones.split_extension(typed)
    assert (phones.destination(number), extension) == (OFFICE, "5")


def test_a_number_without_one_or_with_letters_is_left_as_typed() -> None:
    for typed in ("+7 495 111 22 33", "8 916 ABC-45-67", "+7 495 111 22 33 Иван", "доб. 5"):
        assert phones.split_extension(typed) == (typed, None)
    words = ["+7", "495", "111", "22", "33", "доб.", "5", "Иван", "Петров"]
    assert phones.leading_number_and_extension(words) == (OFFICE, "5", 7)
    assert phones.leading_number_and_extension(["8", "916", "123", "45", "67", "Иван"]) == (MOBILE, None, 5)


def test_an_imported_line_keeps_the_number_and_names_the_extension_it_left_out() -> None:
    parsed = importing.parse("a.csv", "Имя;Телефон\nИван;+7 495 111 22 33 доб. 5\nПётр;8 916 123-45-67\n".encode())
    assert parsed.rows == [(OFFICE, "Иван"), (MOBILE, "Пётр")] and parsed.unreadable == []
    assert parsed.extensions == [importing.Extension(2, OFFICE, "5")]
    headless = importing.parse("b.csv", "Иван;+7 495 111 22 33 доб. 5\nПётр;8 916 123-45-67 x12\n".encode())
    assert headless.rows == [(OFFICE, "Иван"), (MOBILE, "Пётр")] and len(headless.extensions) == 2


def speaking(world: World, user: int, language: str) -> None:
    world.services.storage.users.set_language(user, language, now=int(time.time()))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("language", "preview"),
    [
        ("ru", "📥 Импорт «clients.csv»: строк с клиентами — 2\n"
               "Новых: 2\nСменят имя: 0\nУже в книге с тем же именем: 0\n"
               "Без добавочного: 2 — записан номер, добавочный бот не хранит и не набирает\n"
               "• строка 2: +7 495 111-22-33 (доб. 5)\n"
               "• строка 3: +7 916 123-45-67 (доб. 12)\n\n"
               "Записать 2 в книгу? Применится всё сразу или ничего."),
        ("en", "📥 Import “clients.csv”: 2 rows with customers\n"
               "New: 2\nRenamed: 0\nAlready in the book under that name: 0\n"
               "Without the extension: 2 — the number is kept; the bot neither keeps nor dials extensions\n"
               "• row 2: +7 495 111-22-33 (ext. 5)\n"
               "• row 3: +7 916 123-45-67 (ext. 12)\n\n"
               "Save 2 in the book? All of it applies at once, or none."),
    ],
)  # fmt: skip
async def test_an_import_keeps_numbers_typed_with_an_extension_and_says_which(
    world: World, language: str, preview: str
) -> None:
    speaking(world, ADMIN, language)
    data = "Имя;Телефон\nИван;+7 495 111 22 33 доб. 5\nПётр;8 916 123-45-67 ext. 12\n".encode()
    world.tg.send_document(ADMIN, data, "clients.csv", caption="/import")
    (shown,) = await world.replies(ADMIN)
    assert shown["text"] == preview
    await world.press(ADMIN, shown, 0)
    await world.edited(shown)
    book = world.services.storage.contacts
    assert {c.number: c.name for c in book.search("", 10)} == {OFFICE: "Иван", MOBILE: "Пётр"}


@pytest.mark.parametrize(
    ("language", "saved"),
    [("ru", "✅ Записано: Иван Петров — +7 495 111-22-33."), ("en", "✅ Saved: Иван Петров — +7 495 111-22-33.")],
)
async def test_name_keeps_a_number_typed_with_an_extension_and_says_so(
    world: World, manager: object, language: str, saved: str
) -> None:
    speaking(world, MANAGER, language)
    card = await world.ask(MANAGER, "/name +7 495 111 22 33 доб. 5 Иван Петров")
    assert card.startswith(KEPT[language].format(extension="5", number=SHOWN) + "\n" + saved + "\n\n")
    assert world.services.storage.contacts.get(OFFICE).name == "Иван Петров"  # type: ignore[union-attr]


@pytest.mark.parametrize("language", ["ru", "en"])
async def test_call_rings_the_number_typed_with_an_extension_and_says_the_extension_is_not_dialled(
    world: World, manager: object, language: str
) -> None:
    speaking(world, MANAGER, language)
    reply = await world.ask(MANAGER, "/call 8 495 111-22-33 ext. 5")
    assert reply.startswith(KEPT[language].format(extension="5", number=SHOWN) + "\n📞 ")
    (start,) = world.newtel_requests(START_CALL)
    assert start.params["dstNumber"] == OFFICE


@pytest.mark.parametrize(
    ("language", "saved"),
    [
        ("ru", "✅ Теперь я буду звонить вам на +7 495 111-22-33."),
        ("en", "✅ I'll ring you at +7 495 111-22-33 from now on."),
    ],
)
async def test_phone_keeps_the_number_typed_with_an_extension_and_says_the_extension_is_not_rung(
    world: World, manager: object, language: str, saved: str
) -> None:
    speaking(world, MANAGER, language)
    reply = await world.ask(MANAGER, "/phone +7 495 111 22 33 доб. 5")
    assert reply == KEPT[language].format(extension="5", number=SHOWN) + "\n" + saved
    user = world.services.storage.users.get(MANAGER)
    assert user is not None and user.callback_phone == OFFICE


def test_calls_finds_a_customers_history_by_a_number_typed_with_an_extension() -> None:
    for typed in ("+7 495 111 22 33 доб. 5", "missed 8 (495) 111-22-33 ext. 5", "7d +7 495 111-22-33 #5"):
        query = listing.parse_query(typed.split())
        assert query is not None and query.number == OFFICE, typed
