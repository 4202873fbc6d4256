"""A customer's name with characters that cannot be stored or would not show as themselves (Hardening II, finding 9):
control characters (U+0000 cuts SQLite's text short and failed its CHECK), lone surrogates, and invisible format
characters such as U+202E (turns the rest of a line around) are refused before storage wherever a name comes in —
/name, a contact passed on, an /import row — with a clear message, and nothing changes."""

from __future__ import annotations

import pytest

from bot.contacts.names import hidden_character
from tests.bot.conftest import ADMIN, MANAGER, World
from tests.bot.test_contacts import IVAN, book, buttons, upload

TROUBLEMAKERS = {
    "NUL and SOH": ("\x00\x01", "U+0000"),
    "DEL": ("Иван\x7f", "U+007F"),
    "a C1 control": ("Иван\x9b", "U+009B"),
    "right-to-left override": ("Иван \u202eвортеП", "U+202E"),
    "zero-width space alone": ("\u200b", "U+200B"),
    "byte order mark": ("\ufeffИван", "U+FEFF"),
    "a lone surrogate": ("Иван \ud800", "U+D800"),
}


@pytest.mark.parametrize(("name", "code"), TROUBLEMAKERS.values(), ids=TROUBLEMAKERS)
def test_hidden_character_finds_the_first_one(name: str, code: str) -> None:
    found = hidden_character(name)
    assert found is not None and f"U+{ord(found):04X}" == code


@pytest.mark.parametrize(
    "name",
    ["Иван Петров", "ООО «Ромашка» <b>", "Иван 👨\u200d💻", "می\u200cخواهم", "José Ñúñez", "李小龙", "Иван 🇷🇺"],
)
def test_names_people_write_are_kept(name: str) -> None:
    assert hidden_character(name) is None  # joiners (U+200C, U+200D) belong to emoji and words


@pytest.mark.parametrize(("name", "code"), TROUBLEMAKERS.values(), ids=TROUBLEMAKERS)
async def test_name_with_a_hidden_character_is_refused_and_nothing_is_written(
    world: World, manager: object, name: str, code: str
) -> None:
    reply = await world.ask(MANAGER, f"/name 8 916 123-45-67 {name}")
    assert reply == f"В имени есть невидимый или управляющий символ ({code}). Напишите имя обычным текстом."
    assert book(world) == {}
    assert world.services.storage.audit.recent(action="contact.set") == []


async def test_a_name_with_joiners_is_saved_as_typed(world: World, manager: object) -> None:
    reply = await world.ask(MANAGER, "/name 8 916 123-45-67 Иван 👨\u200d💻")
    assert reply.startswith("✅ Записано: Иван 👨\u200d💻 — +7 916 123-45-67.")
    assert book(world) == {IVAN: "Иван 👨\u200d💻"}


async def test_a_contact_passed_on_with_a_hidden_character_is_not_offered(world: World, manager: object) -> None:
    world.tg.share_contact(MANAGER, "+7 916 123-45-67", own=False, first_name="Иван", last_name="\u202eвортеП")
    (reply,) = await world.replies(MANAGER)
    assert reply["text"] == (
        "В имени контакта есть невидимый или управляющий символ (U+202E). Записать клиента: /name 79161234567 <имя>"
    )
    assert buttons(reply) == [] and book(world) == {}


async def test_an_import_refuses_the_rows_with_a_hidden_character_and_applies_the_others(world: World) -> None:
    # One control character in a text file (a NUL, or more than one in a hundred, make it no text file at all).
    data = (
        "Имя клиента;Телефон;Комментарий\n"
        "Иван\x01;8 916 123-45-67;позвонить после обеда\n"
        "Пётр \u202eвортеП;8 903 555-11-22;постоянный клиент\n"
        "Анна;8 495 123-45-67;новая, пришла с сайта\n"
    )
    preview = await upload(world, ADMIN, data.encode(), "clients.csv")
    assert preview["text"] == (
        "📥 Импорт «clients.csv»: строк с клиентами — 3\n"
        "Новых: 1\nСменят имя: 0\nУже в книге с тем же именем: 0\n"
        "Не прочитаны: 2\n"
        "• строка 2: невидимый или управляющий символ в имени — «U+0001»\n"
        "• строка 3: невидимый или управляющий символ в имени — «U+202E»\n\n"
        "Записать 1 в книгу? Применится всё сразу или ничего."
    )
    await world.press(ADMIN, preview, "✅ Записать (1)")
    await world.edited(preview)
    assert book(world) == {"74951234567": "Анна"}
