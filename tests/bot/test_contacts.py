"""The customer book end to end: /name and the card (its figures from the archive, call, rename, remove), /contacts,
a contact a manager passes on, and an admin's /import of CSV, XLSX and vCard files — previewed with the bad rows
by line, applied whole on confirm, once."""

from __future__ import annotations

import asyncio
import io
import random
import time
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from bot import callback_data as cd
from bot.contacts import commands as contact_commands
from bot.formatting import moment
from localchat._faults import DOWNLOAD
from storage import CallRecord
from tests.bot.conftest import ADMIN, GROUP, MANAGER, MANAGER2, MEMBER_INTERNAL, MEMBER_NAME, STRANGER, World
from tests.conftest import at_noon

IVAN, PETR, ANNA = "79161234567", "79035551122", "74951234567"
EXTERNAL = "74955325585"  # the demo company's first external number
START_CALL = "call/start-simple-call"


def buttons(message: dict[str, Any]) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [button["text"] for row in rows for button in row]


def book(world: World) -> dict[str, str]:
    storage = world.services.storage.contacts
    return {c.number: c.name for c in storage.search("", 1_000)}


async def upload(
    world: World, user: int, data: bytes, filename: str, caption: str = "/import", chat_id: int | None = None
) -> dict[str, Any]:
    """The user sends a file with a caption; returns the bot's reply."""
    world.tg.send_document(user, data, filename, caption=caption, chat_id=chat_id)
    (reply,) = await world.replies(user if chat_id is None else chat_id)
    return reply


def seed_archive(world: World) -> int:
    """IVAN's history: an answered inbound call two days ago (2:05, answered by the manager's member), an
    unanswered outbound one yesterday, then two misses. Returns when the talk started."""
    now = int(time.time())
    talked = now - 2 * 86_400
    calls = [
        CallRecord("a" * 40, "in", IVAN, EXTERNAL, "answered", False, talked, talked + 5, talked + 130),
        CallRecord("b" * 40, "out", EXTERNAL, IVAN, "no answer", False, now - 86_400, None, now - 86_380),
        CallRecord("c" * 40, "in", IVAN, EXTERNAL, "no answer", False, now - 3_600, None, now - 3_580),
        CallRecord("d" * 40, "in", IVAN, EXTERNAL, "no answer", False, now - 600, None, now - 580),
        CallRecord("e" * 40, "in", PETR, EXTERNAL, "answered", False, now - 500, now - 495, now - 400),
    ]
    storage = world.services.storage
    storage.calls.ingest(calls, now)
    storage.calls.set_who("a" * 40, MEMBER_INTERNAL, MEMBER_NAME)
    return talked


def when(started_at: int) -> str:
    now = datetime.now(UTC)
    return moment(datetime.fromtimestamp(started_at, UTC), ZoneInfo("Europe/Moscow"), "ru", now)


# --- /name and the card ----------------------------------------------------------------------------------------
@at_noon  # the card names its calls by the day they were on, as the test does: no midnight between
async def test_name_saves_a_customer_and_shows_the_card_with_the_archives_figures(
    world: World, manager: object
) -> None:
    talked = seed_archive(world)
    card = await world.say(MANAGER, "/name 8 916 123-45-67 Иван  Петров")
    assert card["text"] == (
        "✅ Записано: Иван Петров — +7 916 123-45-67.\n\n"
        "👤 Иван Петров\n+7 916 123-45-67\n"
        "Звонки: входящих 3, исходящих 1 (за 30 дней: 4)\n"
        f"Последний разговор: {when(talked)}, входящий, {MEMBER_NAME}, 2:05\n"
        "📵 Пропущенных без ответа: 2"
    )
    assert buttons(card) == ["📞 Позвонить", "✏️ Переименовать", "🗑 Удалить"]
    assert book(world) == {IVAN: "Иван Петров"}
    (entry,) = world.services.storage.audit.recent(action="contact.set")
    assert (entry.actor_id, entry.target) == (MANAGER, IVAN)
    assert entry.details == {"name": "Иван Петров", "before": None, "origin": "command"}
    # The card is the archive's: New-Tel is only asked who the members are (access).
    assert {r.method for r in world.newtel_requests()} == {"company/get-members"}


async def test_the_number_typed_any_way_is_one_customer_and_name_again_renames(world: World, manager: object) -> None:
    await world.say(MANAGER, "/name +7 (916) 123-45-67 Иван Петров")
    renamed = await world.ask(MANAGER, "/name 916 123 45 67 ООО «Ромашка» <b>")
    assert renamed.startswith("✅ Переименовано: Иван Петров → ООО «Ромашка» <b> (+7 916 123-45-67).\n\n👤 ООО")
    assert book(world) == {IVAN: "ООО «Ромашка» <b>"}
    card = await world.ask(MANAGER, "/name 79161234567")
    assert card == "👤 ООО «Ромашка» <b>\n+7 916 123-45-67\nЗвонков в архиве нет."
    entries = world.services.storage.audit.recent(action="contact.set")
    assert [e.details["before"] for e in entries] == ["Иван Петров", None]


async def test_the_card_of_a_number_not_in_the_book_offers_to_name_it(world: World, manager: object) -> None:
    seed_archive(world)
    card = await world.say(MANAGER, "/name 8 903 555 11 22")
    assert card["text"].startswith("👤 +7 903 555-11-22\nНет в книге клиентов.\nЗвонки: входящих 1, исходящих 0")
    assert buttons(card) == ["📞 Позвонить", "✏️ Назвать"]
    await world.press(MANAGER, card, "✏️ Назвать")
    (hint,) = await world.replies(MANAGER)
    assert hint["text"] == "Отправьте новое имя так:\n/name 79035551122 Новое Имя"
    assert book(world) == {}


async def test_bad_input_to_name_says_why_and_changes_nothing(world: World, manager: object) -> None:
    assert (await world.ask(MANAGER, "/name")).startswith("Использование: /name <номер> [имя]")
    assert await world.ask(MANAGER, "/name Иван Петров") == (
        "«Иван» не похоже на номер телефона. Например: +7 916 123-45-67 или 8 916 123 45 67."
    )
    assert await world.ask(MANAGER, "/name 8 916 12 Иван") == (
        "«8 916 12» не похоже на номер телефона. Например: +7 916 123-45-67 или 8 916 123 45 67."
    )
    assert await world.ask(MANAGER, f"/name 89161234567 {'Я' * 101}") == "Имя слишком длинное: не больше 100 символов."
    assert book(world) == {} and world.services.storage.audit.recent(action="contact.set") == []


async def test_a_name_that_starts_with_digits_is_not_read_as_more_of_the_number(world: World, manager: object) -> None:
    # "89161234567 007" would be a possible (not a valid) 15-digit number: the valid one before it is the number.
    card = await world.ask(MANAGER, "/name 89161234567 007 Агент")
    assert card.startswith("✅ Записано: 007 Агент — +7 916 123-45-67.\n\n👤 007 Агент\n+7 916 123-45-67\n")
    assert book(world) == {IVAN: "007 Агент"}
    # A name of digits only is odd, but it is what was typed after a valid number.
    renamed = await world.ask(MANAGER, "/name 8 916 123 45 67 123")
    assert renamed.startswith("✅ Переименовано: 007 Агент → 123 (+7 916 123-45-67).")
    assert book(world) == {IVAN: "123"}


async def test_name_again_under_the_same_name_says_so_and_writes_nothing(world: World, manager: object) -> None:
    world.services.storage.contacts.set(IVAN, "Иван Петров", by=ADMIN, now=100)
    card = await world.ask(MANAGER, "/name 8 916 123 45 67 Иван  Петров")
    assert card == (
        "Клиент уже в книге: Иван Петров — +7 916 123-45-67.\n\n👤 Иван Петров\n+7 916 123-45-67\nЗвонков в архиве нет."
    )
    contact = world.services.storage.contacts.get(IVAN)
    assert contact is not None and (contact.updated_by, contact.updated_at) == (ADMIN, 100)
    assert world.services.storage.audit.recent(action="contact.set") == []


async def test_the_cards_remove_button_removes_and_the_card_updates(world: World, manager: object) -> None:
    card = await world.say(MANAGER, "/name 89161234567 Иван Петров")
    answer = await world.press(MANAGER, card, "🗑 Удалить")
    assert answer["text"] == "Удалено из книги."
    updated = await world.edited(card)
    assert updated["text"] == (
        "🗑 Удалено из книги: Иван Петров (+7 916 123-45-67).\n\n"
        "👤 +7 916 123-45-67\nНет в книге клиентов.\nЗвонков в архиве нет."
    )
    assert buttons(updated) == ["📞 Позвонить", "✏️ Назвать", "↩️ Вернуть"]
    assert book(world) == {}
    (entry,) = world.services.storage.audit.recent(action="contact.remove")
    assert (entry.actor_id, entry.target, entry.details) == (MANAGER, IVAN, {"name": "Иван Петров"})


async def test_the_cards_call_button_places_one_call_through_new_tel(world: World, manager: object) -> None:
    card = await world.say(MANAGER, "/name 89161234567 Иван Петров")
    answer = await world.press(MANAGER, card, "📞 Позвонить")
    assert answer["text"] == "Звоню: сначала зазвонит ваш телефон."
    (calling,) = await world.replies(MANAGER)
    assert calling["text"] == (
        "📞 Звоню: сначала зазвонит ваш телефон +7 974 714-48-54, затем соединю с +7 916 123-45-67.\n"
        "Клиент увидит номер +7 495 532-55-85."
    )
    (start,) = world.newtel_requests(START_CALL)
    assert start.params == {"srcNumber": "79747144854", "dstNumber": IVAN, "callerId": EXTERNAL}
    (entry,) = world.services.storage.audit.recent(action="call.start")
    assert (entry.actor_id, entry.target, entry.details["origin"]) == (MANAGER, IVAN, "card")
    # A second press (a double tap) rings nobody again.
    again = await world.press(MANAGER, card, "📞 Позвонить")
    assert again == {"text": "С этой карточки уже звонили только что. Чтобы позвонить ещё раз, откройте её заново.",
                     "show_alert": True}  # fmt: skip
    assert len(world.newtel_requests(START_CALL)) == 1


async def test_in_a_group_only_the_manager_who_opened_the_card_may_call_from_it(world: World, manager: object) -> None:
    world.make_manager(MANAGER2, internal="105")
    world.services.storage.chats.subscribe(GROUP, "Sales", [], False, now=1)
    card = await world.say(MANAGER, "/name 89161234567 Иван", chat_id=GROUP)
    answer = await world.press(MANAGER2, card, "📞 Позвонить")
    assert answer["text"] == "Позвонить с карточки может тот, кто её открыл. Откройте свою: /name 79161234567"
    assert world.newtel_requests(START_CALL) == []
    # A forged payload (another asker) is not one of the card's buttons: refused before the handler.
    forged = await world.press(MANAGER2, card, data=cd.pack(cd.CardCall(IVAN, MANAGER2)))
    assert forged["text"] == "Эта кнопка не относится к этому сообщению."
    assert world.newtel_requests(START_CALL) == []


# --- /contacts -------------------------------------------------------------------------------------------------
async def test_contacts_searches_by_name_or_number_and_lists_the_latest_without_text(
    world: World, manager: object
) -> None:
    assert (await world.ask(MANAGER, "/contacts")).startswith("Книга клиентов пуста.")
    world.services.storage.contacts.set(IVAN, "Иван Ёлкин", by=MANAGER, now=100)
    world.services.storage.contacts.set(PETR, "Пётр", by=MANAGER, now=200)
    assert await world.ask(MANAGER, "/contacts елкин") == (
        "📒 Клиенты по запросу «елкин»: 1\n• Иван Ёлкин — +7 916 123-45-67\nКарточка клиента: /name <номер>"
    )
    assert "• Иван Ёлкин — +7 916 123-45-67" in await world.ask(MANAGER, "/contacts 8 916 123")
    assert "• Пётр — +7 903 555-11-22" in await world.ask(MANAGER, "/contacts +7 (903) 555-11-22")
    assert await world.ask(MANAGER, "/contacts") == (
        "📒 Клиенты, записанные последними: 2\n• Пётр — +7 903 555-11-22\n• Иван Ёлкин — +7 916 123-45-67\n"
        "Карточка клиента: /name <номер>"
    )
    assert await world.ask(MANAGER, "/contacts Сидоров") == "В книге никого не нашёл по запросу «Сидоров»."


async def test_contacts_by_digits_starting_with_8_finds_them_as_typed_and_as_a_russian_start(
    world: World, manager: object
) -> None:
    hotline, moscow = "78005553535", "74957005050"
    world.services.storage.contacts.apply([(hotline, "Горячая линия"), (moscow, "Офис"), (IVAN, "Иван")], by=1, now=1)
    assert await world.ask(MANAGER, "/contacts 8005") == (
        "📒 Клиенты по запросу «8005»: 2\n• Горячая линия — +7 800 555-35-35\n• Офис — +7 495 700-50-50\n"
        "Карточка клиента: /name <номер>"
    )
    assert "Иван" in await world.ask(MANAGER, "/contacts 8 916 123")


async def test_contacts_shows_at_most_thirty(world: World, manager: object) -> None:
    world.services.storage.contacts.apply([(f"7916{n:07d}", f"Клиент {n:02d}") for n in range(40)], by=1, now=1)
    listed = (await world.ask(MANAGER, "/contacts клиент")).splitlines()
    assert listed[0] == "📒 Клиенты по запросу «клиент»: 30" and len(listed) == 33
    assert listed[-2] == "Показаны первые 30: уточните запрос."


# --- a contact passed on ---------------------------------------------------------------------------------------
async def test_a_contact_a_manager_forwards_is_offered_and_saved(world: World, manager: object) -> None:
    world.tg.share_contact(
        MANAGER, "+7 916 123-45-67", own=False, first_name="Иван", last_name="Петров", forwarded_from=STRANGER
    )
    (offer,) = await world.replies(MANAGER)
    assert offer["text"] == "Записать клиента в книгу?\nИван Петров — +7 916 123-45-67"
    assert buttons(offer) == ["💾 Записать", "Не надо"]
    await world.press(MANAGER, offer, "💾 Записать")
    saved = await world.edited(offer)
    assert saved["text"] == "✅ Записано: Иван Петров — +7 916 123-45-67." and buttons(saved) == []
    assert book(world) == {IVAN: "Иван Петров"}
    (entry,) = world.services.storage.audit.recent(action="contact.set")
    assert entry.details == {"name": "Иван Петров", "before": None, "origin": "shared"}
    # The same button pressed again (a stale copy) saves nothing twice.
    again = await world.press(MANAGER, offer, data=cd.pack(cd.SaveShared(IVAN)))
    assert again["text"] == "Это предложение уже не действует."
    assert len(world.services.storage.audit.recent(action="contact.set")) == 1


async def test_a_shared_contact_of_a_known_customer_is_offered_as_a_rename_or_skipped(
    world: World, manager: object
) -> None:
    world.services.storage.contacts.set(IVAN, "Иван", by=1, now=1)
    world.tg.share_contact(MANAGER, "8 916 123 45 67", own=False, first_name="Иван", contact_user_id=STRANGER)
    (same,) = await world.replies(MANAGER)
    assert same["text"] == "Клиент уже в книге: Иван — +7 916 123-45-67." and buttons(same) == []
    world.tg.share_contact(MANAGER, "8 916 123 45 67", own=False, first_name="Иван Петров")
    (offer,) = await world.replies(MANAGER)
    assert offer["text"] == "Клиент +7 916 123-45-67 уже записан как Иван. Переименовать в Иван Петров?"
    await world.press(MANAGER, offer, "Не надо")
    assert (await world.edited(offer))["text"] == "Не записано: +7 916 123-45-67."
    assert book(world) == {IVAN: "Иван"}


async def test_a_shared_contact_that_is_not_a_phone_number_is_said_so(world: World, manager: object) -> None:
    world.tg.share_contact(MANAGER, "12345", own=False, first_name="Иван")
    (reply,) = await world.replies(MANAGER)
    assert reply["text"] == "«12345» не похоже на номер клиента — записать его не получится."


async def test_strangers_keep_their_own_contact_flow_and_a_managers_own_contact_is_not_offered(
    world: World, manager: object
) -> None:
    world.tg.share_contact(STRANGER, "+7 916 123-45-67", own=False, first_name="Иван")
    (reply,) = await world.replies(STRANGER)
    assert reply["text"] == "Пожалуйста, поделитесь своим номером кнопкой «Поделиться номером», а не чужим контактом."
    world.tg.share_contact(MANAGER, "+7 974 714-48-54")  # their own
    (own,) = await world.replies(MANAGER)
    assert own["text"] == "У вас уже есть доступ. /help — что я умею."
    # In a group the bot is not enabled in, a manager's forwarded contact is the group's business.
    world.tg.share_contact(MANAGER, "+7 916 123-45-67", own=False, first_name="Иван", chat_id=GROUP)
    await world.say(MANAGER, "/whoami")  # handled after the contact
    assert world.sent(chat_id=GROUP) == [] and book(world) == {}


# --- /import ---------------------------------------------------------------------------------------------------
async def test_a_utf8_csv_with_commas_is_previewed_with_bad_rows_by_line_and_applied_on_confirm(world: World) -> None:
    data = "name,phone\nIvan Petrov,+7 916 123-45-67\nBad,8 916 ABC\n,8 903 555 11 22\nPetr,8 903 555 11 22\n"
    preview = await upload(world, ADMIN, data.encode(), "clients.csv")
    assert preview["text"] == (
        "📥 Импорт «clients.csv»: строк с клиентами — 4\n"
        "Новых: 2\nСменят имя: 0\nУже в книге с тем же именем: 0\n"
        "Не прочитаны: 2\n"
        "• строка 3: буквы в номере — «8 916 ABC»\n"
        "• строка 4: нет имени — «8 903 555 11 22»\n\n"
        "Записать 2 в книгу? Применится всё сразу или ничего."
    )
    assert buttons(preview) == ["✅ Записать (2)", "✖ Отмена"]
    assert book(world) == {}  # nothing before the confirm
    assert (await world.press(ADMIN, preview, "✅ Записать (2)")) == {}
    applied = await world.edited(preview)
    assert applied["text"].endswith("Не прочитаны: 2\n• строка 3: буквы в номере — «8 916 ABC»\n"
                                    "• строка 4: нет имени — «8 903 555 11 22»\n\n"
                                    "✅ Импорт применён: новых 2, переименовано 0.")  # fmt: skip
    assert buttons(applied) == []
    assert book(world) == {IVAN: "Ivan Petrov", PETR: "Petr"}
    (entry,) = world.services.storage.audit.recent(action="contact.import")
    assert entry.actor_id == ADMIN and entry.details == {"added": 2, "updated": 0, "unchanged": 0}
    # A second press (a stale copy of the button) applies nothing.
    again = await world.press(ADMIN, preview, data=cd.pack(cd.ImportApply(int(entry.target or 0))))
    assert again["text"] == "Этот импорт уже применён."
    assert len(world.services.storage.audit.recent(action="contact.import")) == 1


async def test_a_cp1251_csv_with_semicolons_renames_the_known_and_adds_the_new(world: World) -> None:
    world.services.storage.contacts.set(PETR, "Пётр", by=1, now=1)
    world.services.storage.contacts.set(ANNA, "Анна", by=1, now=1)
    data = (
        "ФИО;Телефон;Город\r\n"
        "Иванов Иван;8 916 123-45-67;Москва\r\n"
        "Пётр Сидоров;8 (903) 555-11-22;Тверь\r\n"
        "Анна;+7 495 123-45-67;\r\n"
        "Без номера;;Казань\r\n"
    )
    preview = await upload(world, ADMIN, data.encode("cp1251"), "Клиенты.csv")
    assert preview["text"] == (
        "📥 Импорт «Клиенты.csv»: строк с клиентами — 4\n"
        "Новых: 1\nСменят имя: 1\nУже в книге с тем же именем: 1\n"
        "Не прочитаны: 1\n• строка 5: нет номера — «Без номера»\n\n"
        "Записать 2 в книгу? Применится всё сразу или ничего."
    )
    await world.press(ADMIN, preview, "✅ Записать (2)")
    assert (await world.edited(preview))["text"].endswith("✅ Импорт применён: новых 1, переименовано 1.")
    assert book(world) == {IVAN: "Иванов Иван", PETR: "Пётр Сидоров", ANNA: "Анна"}


async def test_an_xlsx_is_imported_from_its_first_sheet(world: World) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in (["Клиент", "Мобильный"], ["Иванов Иван", 79161234567], ["Нет номера", None], ["Пётр", "12-34"]):
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    preview = await upload(world, ADMIN, out.getvalue(), "book.xlsx")
    assert preview["text"].startswith("📥 Импорт «book.xlsx»: строк с клиентами — 3\nНовых: 1\n")
    assert "• строка 3: нет номера — «Нет номера»\n• строка 4: не номер телефона — «12-34»" in preview["text"]
    await world.press(ADMIN, preview, "✅ Записать (1)")
    await world.edited(preview)
    assert book(world) == {IVAN: "Иванов Иван"}


async def test_a_vcard_file_is_imported_with_every_phone_of_each_card(world: World) -> None:
    vcf = (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Иван Петров\r\nTEL;TYPE=CELL:+7 916 123-45-67\r\n"
        "TEL;TYPE=WORK:8 495 123 45 67\r\nEND:VCARD\r\n"
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Буквы\r\nTEL:8 9O3 555 11 22\r\nEND:VCARD\r\n"
    )
    preview = await upload(world, ADMIN, vcf.encode(), "contacts.vcf")
    assert "Новых: 2\n" in preview["text"]
    assert "• строка 10: буквы в номере — «8 9O3 555 11 22»" in preview["text"]
    await world.press(ADMIN, preview, "✅ Записать (2)")
    await world.edited(preview)
    assert book(world) == {IVAN: "Иван Петров", ANNA: "Иван Петров"}


async def test_a_cancelled_import_changes_nothing_and_cannot_be_applied_after(world: World) -> None:
    preview = await upload(world, ADMIN, b"89161234567;Ivan\n", "a.csv")
    await world.press(ADMIN, preview, "✖ Отмена")
    cancelled = await world.edited(preview)
    assert cancelled["text"].endswith("\n\n✖ Импорт отменён, ничего не изменилось.") and buttons(cancelled) == []
    staged = world.services.storage.contacts.imports.get(1)
    assert staged is not None and staged.state == "cancelled"
    late = await world.press(ADMIN, preview, data=cd.pack(cd.ImportApply(1)))
    assert late["text"] == "Этот импорт уже отменён."
    assert book(world) == {}


async def test_a_preview_confirmed_too_late_is_not_applied(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(contact_commands, "PREVIEW_TTL", -1)  # every preview is a day old already
    preview = await upload(world, ADMIN, b"89161234567;Ivan\n", "a.csv")
    await world.press(ADMIN, preview, "✅ Записать (1)")
    expired = await world.edited(preview)
    assert expired["text"].endswith(
        "\n\n⌛ Предпросмотр устарел (старше суток), ничего не изменилось. Пришлите файл ещё раз."
    )
    assert book(world) == {}


async def test_a_large_preview_lists_twenty_bad_rows_and_counts_the_rest(world: World) -> None:
    lines = ["Имя;Телефон", "Иван;89161234567"] + [f"Клиент {n};8 916 ABC {n}" for n in range(500)]
    preview = await upload(world, ADMIN, "\n".join(lines).encode(), "big.csv")
    text = preview["text"]
    assert "• строка 22: буквы в номере — «8 916 ABC 19»\n…и ещё 480\n\n" in text
    assert "строка 23:" not in text and len(text) < 4096


async def test_import_alone_says_how_and_in_reply_to_a_file_imports_it(world: World) -> None:
    assert await world.ask(ADMIN, "/import") == (
        "Пришлите файл .csv, .xlsx или .vcf с подписью /import — до 5 МБ и 20000 строк. В таблице нужны столбцы с "
        "номером и именем (подпишите их «Имя» и «Телефон»); CSV — в UTF-8 или Windows-1251, через «;» или «,»."
    )
    sent = world.tg.send_document(ADMIN, b"89161234567;Ivan\n", "a.csv")
    (hint,) = await world.replies(ADMIN)  # without the caption: how to import it
    assert hint["text"].startswith("Чтобы загрузить клиентов из этого файла, ответьте на него командой /import")
    world.tg.send_text(ADMIN, "/import", reply_to=sent["message"])
    (preview,) = await world.replies(ADMIN)
    assert preview["text"].startswith("📥 Импорт «a.csv»: строк с клиентами — 1\nНовых: 1\n")


async def test_malformed_files_get_a_clear_message_and_change_nothing(world: World) -> None:
    world.services.storage.contacts.set(IVAN, "Иван", by=1, now=1)
    junk = random.Random(7).randbytes(20_000)
    assert (await upload(world, ADMIN, junk, "junk.csv"))["text"] == (
        "Не могу прочитать «junk.csv»: это не текстовый файл в UTF-8 или Windows-1251. Ничего не изменилось."
    )
    assert (await upload(world, ADMIN, junk, "junk.xlsx"))["text"].startswith(
        "Не могу прочитать «junk.xlsx» как таблицу Excel (.xlsx)."
    )
    assert (await upload(world, ADMIN, b"\x89PNG\r\n", "photo.png"))["text"] == (
        "Файл «photo.png» не подходит: принимаю .csv, .xlsx и .vcf."
    )
    only_numbers = await upload(world, ADMIN, b"89161234567\n89035551122\n", "numbers.csv")
    assert only_numbers["text"].startswith("В «numbers.csv» не нашёл столбцов с номером и именем.")
    rows = "".join(f"8916{n:07d};Клиент {n}\n" for n in range(100_000)).encode()
    assert (await upload(world, ADMIN, rows, "100k.csv", chat_id=None))["text"] == (
        "В «100k.csv» больше 20000 строк. Разделите файл на части. Ничего не изменилось."
    )
    bad_names = await upload(world, ADMIN, "Имя;Телефон\n;89161234567\n".encode(), "noname.csv")
    assert bad_names["text"].endswith("• строка 2: нет имени — «89161234567»\n\nМенять в книге нечего.")
    assert buttons(bad_names) == []
    assert book(world) == {IVAN: "Иван"}
    assert world.services.storage.contacts.imports.get(1) is None  # nothing was even staged


async def test_a_file_over_the_limit_is_refused_before_it_is_downloaded(world: World) -> None:
    reply = await upload(world, ADMIN, b"\0" * (40 * 1024 * 1024), "huge.csv")
    assert reply["text"] == "Файл «huge.csv» слишком большой: принимаю до 5 МБ. Разделите его на части."
    assert world.sent("getFile") == []


@pytest.mark.parametrize("status", [302, 204, 206])
async def test_a_download_answered_other_than_200_is_not_taken_for_the_file(world: World, status: int) -> None:
    # A redirect is not followed, and its body (like a partial or empty answer's) is not the file.
    world.tg.faults.fail(status=status, methods=DOWNLOAD)
    reply = await upload(world, ADMIN, b"89161234567;Ivan\n", "clients.csv")
    assert reply["text"] == "Не удалось получить файл «clients.csv» от Telegram. Пришлите его ещё раз."
    assert world.services.storage.contacts.imports.get(1) is None
    assert (await upload(world, ADMIN, b"89161234567;Ivan\n", "clients.csv"))["text"].startswith("📥 Импорт")


async def test_only_an_admin_imports_and_only_the_admin_who_sent_it_confirms(world: World, manager: object) -> None:
    refused = await upload(world, MANAGER, b"89161234567;Ivan\n", "a.csv")
    assert refused["text"] == "Эта команда доступна только администраторам."
    stranger = await upload(world, STRANGER, b"89161234567;Ivan\n", "a.csv")
    assert stranger["text"].startswith("Извините, этот бот работает только для сотрудников компании.")
    assert world.sent("getFile") == []
    # In a team group, another admin's press does not apply this admin's import.
    world.make_manager(MANAGER2, internal="105", role="admin")
    world.services.storage.chats.subscribe(GROUP, "Sales", [], False, now=1)
    preview = await upload(world, ADMIN, b"89161234567;Ivan\n", "a.csv", chat_id=GROUP)
    answer = await world.press(MANAGER2, preview, "✅ Записать (1)")
    assert answer["text"] == "Применить импорт может только администратор, который прислал файл."
    assert (await world.press(MANAGER, preview, "✅ Записать (1)"))["text"] == "Только для администраторов."
    assert book(world) == {}


async def test_strangers_get_nothing_and_a_denied_manager_loses_access_at_once(world: World, manager: object) -> None:
    refused = "Извините, этот бот работает только для сотрудников компании. Отправьте /start, чтобы запросить доступ."
    assert await world.ask(STRANGER, "/name 89161234567 Иван") == refused
    assert await world.ask(STRANGER, "/contacts") == refused
    card = await world.say(MANAGER, "/name 89161234567 Иван")
    await world.say(ADMIN, f"/deny {MANAGER}")
    assert await world.ask(MANAGER, "/contacts") == refused
    assert await world.ask(MANAGER, "/name 89035551122 Пётр") == refused
    pressed = await world.press(MANAGER, card, "🗑 Удалить")
    assert pressed["text"] == "Нет доступа. Отправьте боту /start в личном чате, чтобы запросить его."
    world.tg.share_contact(MANAGER, "+7 903 555-11-22", own=False, first_name="Пётр")
    (stranger_reply,) = await world.replies(MANAGER)  # a stranger again: their own contact flow
    assert stranger_reply["text"].startswith("Пожалуйста, поделитесь своим номером")
    assert book(world) == {IVAN: "Иван"}


async def test_the_card_in_english(world: World, manager: object) -> None:
    await world.say(MANAGER, "/lang en")
    card = await world.say(MANAGER, "/name 89161234567 Ivan")
    assert card["text"] == ("✅ Saved: Ivan — +7 916 123-45-67.\n\n👤 Ivan\n+7 916 123-45-67\nNo calls in the archive.")
    assert buttons(card) == ["📞 Call", "✏️ Rename", "🗑 Remove"]


async def test_an_offer_nobody_pressed_for_a_day_is_forgotten_by_the_hourly_tidy(world: World, manager: object) -> None:
    world.tg.share_contact(MANAGER, "+7 916 123-45-67", own=False, first_name="Иван", forwarded_from=STRANGER)
    (offer,) = await world.replies(MANAGER)
    db = world.services.storage.db
    stored = "SELECT count(*) FROM kv WHERE key LIKE 'contact_offer:%'"
    async with asyncio.timeout(5):  # the offer is kept right after Telegram has taken it
        while db.execute(stored).fetchone() == (0,):
            await asyncio.sleep(0.01)
    db.execute(
        "UPDATE kv SET updated_at = updated_at - ? WHERE key LIKE 'contact_offer:%'", (contact_commands.OFFER_TTL + 1,)
    )
    db.conn.commit()
    # The job itself (the tests' bot runs no background jobs on its own), run now.
    job = world.app.job_queue.run_once(contact_commands.tidy, when=3600, name="tidy-now")
    await job.run(world.app)
    job.schedule_removal()
    assert db.execute(stored).fetchone() == (0,)
    late = await world.press(MANAGER, offer, "💾 Записать")
    assert late["text"] == "Это предложение уже не действует." and book(world) == {}
