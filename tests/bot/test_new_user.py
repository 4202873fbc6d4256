"""What a new user trips on (issue 18): what costs money is asked first, what cannot be undone can be, and the
smaller surprises (an empty report, /whoami in a group, a list's pages that move). End to end, in Russian and in
English where the words differ."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from bot import callback_data as cd
from bot import keyboards
from bot.calls import calling, listing
from bot.texts import Texts
from storage import CallRecord
from tests.bot.conftest import ADMIN, GROUP, MANAGER, World, WorldFactory
from tests.bot.test_owner import eventually, staffed, starts

START_CALL = "call/start-simple-call"
ABROAD, ABROAD_SHOWN = "12125550100", "+1 212-555-0100"  # New York: not the company's country (Russia)
EXTERNAL = "74955325585"  # the demo company's first external number, which customers see


def keyboard(message: dict[str, Any]) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [button["text"] for row in rows for button in row]


@contextlib.contextmanager
def answered_after(monkeypatch: pytest.MonkeyPatch, seconds: float) -> Iterator[None]:
    """Presses count as a considered answer only ``seconds`` after the question (the real 1.5 s would make a test
    wait, or race a loaded machine): 60 makes every press a double tap, 0 every press an answer."""
    with monkeypatch.context() as patch:
        patch.setattr(calling, "CONFIRM_AFTER", seconds)
        yield


# --- 8: a call abroad is asked first --------------------------------------------------------------------------
ASKED_RU = (
    f"🌍 {ABROAD_SHOWN} — номер в другой стране, звонок туда дороже обычного.\n"
    "Позвонить? Нажмите «📞 Позвонить» в течение 15 с."
)
POPUP_RU = (
    f"🌍 {ABROAD_SHOWN} — номер в другой стране, звонок туда дороже обычного. Чтобы позвонить, нажмите кнопку ещё "
    "раз в течение 15 с."
)


async def missed_from_abroad(world: World) -> dict[str, Any]:
    """A customer abroad misses the group: its alert, as the group sees it."""
    now = world.sandbox.now()
    world.sandbox.add_call(direction="in", clid=ABROAD, status="no answer", start=now - 20, end=now)
    sent = await world.tg.wait_for(
        "sendMessage", chat_id=GROUP, ok=True, since=0, timeout=10,
        predicate=lambda c: c.params.get("text", "").startswith("📵") and ABROAD_SHOWN in c.params["text"],
    )  # fmt: skip
    alert = world.tg.message(GROUP, sent.result["message_id"])
    assert alert is not None
    return alert


async def test_call_to_another_country_asks_first_and_its_button_places_one_call(
    world: World, manager: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = await world.say(MANAGER, "/call +1 212 555 0100")
    assert asked["text"] == ASKED_RU
    assert keyboard(asked) == ["📞 Позвонить"]
    assert world.newtel_requests(START_CALL) == []
    with answered_after(monkeypatch, 60):
        double = await world.press(MANAGER, asked, "📞 Позвонить")  # a tap on the heels of the question
    assert double == {"text": POPUP_RU, "show_alert": True}
    assert world.newtel_requests(START_CALL) == []

    with answered_after(monkeypatch, 0):
        answer = await world.press(MANAGER, asked, "📞 Позвонить")
    assert answer["text"] == "Звоню: сначала зазвонит ваш телефон."
    (placed,) = await world.replies(MANAGER)
    assert placed["text"] == (
        f"📞 Звоню: сначала зазвонит ваш телефон +7 974 714-48-54, затем соединю с {ABROAD_SHOWN}.\n"
        "Клиент увидит номер +7 495 532-55-85."
    )
    (start,) = world.newtel_requests(START_CALL)
    assert start.params == {"srcNumber": "79747144854", "dstNumber": ABROAD, "callerId": EXTERNAL}
    again = await world.press(MANAGER, asked, "📞 Позвонить")  # placed once, however often it is pressed
    assert again["text"].startswith("С этой карточки уже звонили только что.")
    assert len(world.newtel_requests(START_CALL)) == 1


async def test_call_abroad_in_english_and_the_same_command_again_is_the_answer(
    world: World, manager: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    await world.say(MANAGER, "/lang en")
    assert await world.ask(MANAGER, "/call +1 (212) 555-01-00") == (
        f"🌍 {ABROAD_SHOWN} is in another country: a call there costs more than usual.\n"
        "Call anyway? Press «📞 Call» within 15 s."
    )
    with answered_after(monkeypatch, 0):
        assert (await world.ask(MANAGER, "/call +12125550100")).startswith(
            f"📞 Calling: your phone +7 974 714-48-54 rings first, then I connect {ABROAD_SHOWN}."
        )
    assert [r.params["dstNumber"] for r in world.newtel_requests(START_CALL)] == [ABROAD]
    # A number at home, another kind of Russian number included, is called at once.
    assert (await world.ask(MANAGER, "/call 8 800 555-35-35")).startswith("📞 Calling:")
    assert len(world.newtel_requests(START_CALL)) == 2


async def test_a_cards_call_to_another_country_asks_in_its_popup(
    world: World, manager: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    card = await world.say(MANAGER, "/name +1 212 555 0100 John Smith")
    with answered_after(monkeypatch, 60):
        asked = await world.press(MANAGER, card, "📞 Позвонить")
    assert asked == {"text": POPUP_RU, "show_alert": True}
    assert world.newtel_requests(START_CALL) == []
    with answered_after(monkeypatch, 0):
        assert (await world.press(MANAGER, card, "📞 Позвонить"))["text"] == "Звоню: сначала зазвонит ваш телефон."
    (placed,) = await world.replies(MANAGER)  # said once New-Tel has started it
    assert placed["text"].startswith("📞 Звоню:")
    assert [r.params["dstNumber"] for r in world.newtel_requests(START_CALL)] == [ABROAD]


async def test_call_back_to_a_customer_abroad_asks_first_in_english_too(
    make_world: WorldFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with staffed(make_world) as world:
        world.services.storage.chats.set_language(GROUP, "en", now=1)  # a group's popups speak the group's language
        alert = await missed_from_abroad(world)
        with answered_after(monkeypatch, 60):
            asked = await world.press(MANAGER, alert, "📞 Call back")
        assert asked == {
            "text": f"🌍 {ABROAD_SHOWN} is in another country: a call there costs more than usual. To call anyway, "
            "press the button again within 15 s.",
            "show_alert": True,
        }
        assert starts(world) == [] and world.services.storage.alerts.by_message(GROUP, alert["message_id"]) is not None
        with answered_after(monkeypatch, 0):
            calling_now = await world.press(MANAGER, alert, "📞 Call back")
        assert calling_now["text"].startswith("Calling")
        await eventually(lambda: len(starts(world)) == 1)
        assert starts(world)[0]["dstNumber"] == ABROAD


# --- 8: a removed contact can be put back ---------------------------------------------------------------------
IVAN = "79161234567"


async def test_a_removed_contact_comes_back_with_undo_once(world: World, manager: object) -> None:
    card = await world.say(MANAGER, "/name 8 916 123-45-67 Иван Петров")
    created = world.services.storage.contacts.get(IVAN)
    assert (await world.press(MANAGER, card, "🗑 Удалить"))["text"] == "Удалено из книги."
    removed = await world.edited(card)
    assert keyboard(removed) == ["📞 Позвонить", "✏️ Назвать", "↩️ Вернуть"]
    assert world.services.storage.contacts.get(IVAN) is None

    assert (await world.press(MANAGER, removed, "↩️ Вернуть"))["text"] == "Возвращено в книгу."
    back = await world.edited(card)
    assert back["text"] == (
        "↩️ Снова в книге: Иван Петров — +7 916 123-45-67.\n\n👤 Иван Петров\n+7 916 123-45-67\nЗвонков в архиве нет."
    )
    assert keyboard(back) == ["📞 Позвонить", "✏️ Переименовать", "🗑 Удалить"]
    restored = world.services.storage.contacts.get(IVAN)
    assert created is not None and restored is not None
    assert (restored.name, restored.created_by, restored.created_at) == ("Иван Петров", MANAGER, created.created_at)
    (entry,) = world.services.storage.audit.recent(action="contact.restore")
    assert (entry.actor_id, entry.target, entry.details) == (MANAGER, IVAN, {"name": "Иван Петров"})
    # A second press of the same Undo (a double tap, arriving after the button went) changes nothing.
    again = await world.press(MANAGER, back, data=cd.pack(cd.CardRestore(IVAN, MANAGER)))
    assert again == {"text": "Это удаление уже не отменить.", "show_alert": True}
    assert len(world.services.storage.audit.recent(action="contact.restore")) == 1


async def test_undo_keeps_a_name_given_meanwhile_in_english(world: World, manager: object) -> None:
    await world.say(MANAGER, "/lang en")
    card = await world.say(MANAGER, "/name 8 916 123-45-67 Ivan")
    assert (await world.press(MANAGER, card, "🗑 Remove"))["text"] == "Removed from the book."
    removed = await world.edited(card)
    assert keyboard(removed) == ["📞 Call", "✏️ Name", "↩️ Undo"]
    await world.say(MANAGER, "/name 8 916 123-45-67 Ivan Petrov")  # named again in the meantime
    late = await world.press(MANAGER, removed, "↩️ Undo")
    assert late == {"text": "The customer has been named again meanwhile: Ivan Petrov. That name stays.",
                    "show_alert": True}  # fmt: skip
    assert world.services.storage.contacts.get(IVAN).name == "Ivan Petrov"  # type: ignore[union-attr]
    assert world.services.storage.audit.recent(action="contact.restore") == []


# --- 10: a report of a day without calls is said in words ---------------------------------------------------------
async def test_a_report_of_a_day_without_calls_says_so_without_a_chart(world: World, manager: object) -> None:
    today = datetime.now(world.settings.zone).strftime("%d.%m.%Y")
    assert await world.ask(MANAGER, "/report") == f"📊 Звонки за {today}\nЗвонков нет."
    await world.say(MANAGER, "/lang en")
    assert await world.ask(MANAGER, "/report today") == f"📊 Calls, {today}\nNo calls."
    assert world.sent("sendPhoto") == []
    # A day with a call is a chart again.
    now = int(time.time())
    world.services.storage.calls.ingest(
        [CallRecord("f" * 40, "in", IVAN, EXTERNAL, "answered", False, now - 3, now - 2, now - 1)], now=now
    )
    world.tg.send_text(MANAGER, "/report")
    sent = await world.tg.wait_for("sendPhoto", chat_id=MANAGER, ok=True, timeout=20)
    assert sent.params["caption"].startswith(f"📊 <b>Calls, {today}</b>\nInbound 1 · answered 1")


# --- 10: /whoami in a group shows nobody's numbers --------------------------------------------------------------
async def test_whoami_in_a_group_leaves_out_the_numbers_and_the_id(world: World, manager: object) -> None:
    world.services.storage.chats.subscribe(GROUP, "Sales", [], False, now=1)
    shown = await world.ask(MANAGER, "/whoami", chat_id=GROUP)
    assert shown == (
        "Кто вы\nРоль: менеджер\nСотрудник: Васильева Татьяна\nНомера и Telegram id в группе не показываю — их "
        "увидели бы все. Напишите мне /whoami в личном чате."
    )
    private = await world.ask(MANAGER, "/whoami")  # in private, all of it
    assert f"Telegram id: {MANAGER}\n" in private and "Личный номер: +7 974 714-48-54" in private

    await world.say(MANAGER, "/lang en")
    world.services.storage.chats.set_language(GROUP, "en", now=1)  # the group's language, and the sender's
    shown = await world.ask(MANAGER, "/whoami", chat_id=GROUP)
    assert shown == (
        "Who you are\nRole: manager\nMember: Васильева Татьяна\nYour numbers and Telegram id are not shown in a "
        "group, where everyone would read them. Send me /whoami in a private chat."
    )
    for text in (m["text"] for m in world.tg.chat(GROUP)):
        assert str(MANAGER) not in text and "974" not in text


# --- 10: a list's pages keep to the calls it showed ------------------------------------------------------------
async def test_a_call_arriving_between_two_pages_moves_no_row(world: World, manager: object) -> None:
    world.sandbox.company.clear_calls()
    now = world.sandbox.now()
    for n in range(1, 16):  # row n is from +7 916 000-00-nn
        world.sandbox.add_call("in", clid=f"7916{n:07d}", status="answered", start=now - 600 - 60 * n)
    first = await world.say(MANAGER, "/calls 20")
    lines = first["text"].splitlines()
    assert lines[0] == "📞 Звонки (все) — 1–10 из 15, новые сверху:"
    assert "+7 916 000-00-10 →" in lines[-3]  # the last row of the page (each row has its story under it)

    world.sandbox.clock_offset = 5  # a few seconds on, without waiting them out
    world.sandbox.add_call("in", clid="79169999999", status="answered", start=world.sandbox.now())  # meanwhile
    await world.press(MANAGER, first, "Далее ›")
    second = (await world.edited(first))["text"].splitlines()
    assert second[0] == "📞 Звонки (все) — 11–15 из 15, новые сверху:"
    assert second[1].startswith("11 ") and "+7 916 000-00-11 →" in second[1]
    await world.press(MANAGER, await world.edited(first), "‹ Назад")
    back = (await world.edited(first))["text"].splitlines()
    assert back[:2] == lines[:2] and "+7 916 999-99-99" not in "\n".join(back)
    # /record follows the rows as shown: row 11 is the eleventh call of the list, not the new one.
    world.sandbox.requests.clear()
    assert (await world.say(MANAGER, "/record 11"))["caption"].endswith("+7 916 000-00-11 → +7 495 532-55-85")


def test_a_page_button_keeps_its_time_while_it_fits_and_an_older_button_still_parses() -> None:
    query = listing.Query("missed", 100, "79161234567", "25.11-28.11", until=1_796_600_483)
    (button,) = keyboards.calls_pages(Texts("ru"), query, 0, 2).inline_keyboard[0]
    assert cd.parse(button.callback_data) == cd.CallsPage("missed", 100, 1, "79161234567", "25.11-28.11", 1_796_600_483)
    longest = dataclasses.replace(query, number="491701234567890", period="25.11.2025-28.11.2025")
    (button,) = keyboards.calls_pages(Texts("ru"), longest, 0, 2).inline_keyboard[0]
    assert cd.parse(button.callback_data) == cd.CallsPage("missed", 100, 1, longest.number, longest.period, 0)
    assert cd.parse("v1:calls:all:25:1::") == cd.CallsPage("all", 25, 1)  # sent before the time was kept


async def test_call_back_on_someone_elses_alert_from_abroad_asks_each_question_once(
    make_world: WorldFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with staffed(make_world) as world:
        alert = await missed_from_abroad(world)
        await world.press(MANAGER, alert, "🙋 Беру")
        await eventually(lambda: "👤 Взял(а)" in (world.tg.message(GROUP, alert["message_id"]) or {})["text"])
        with answered_after(monkeypatch, 0):  # every press a considered one: each answers the question before it
            owner = await world.press(ADMIN, alert, "📞 Перезвонить")
            abroad = await world.press(ADMIN, alert, "📞 Перезвонить")
            assert starts(world) == []
            placed = await world.press(ADMIN, alert, "📞 Перезвонить")
        assert owner["text"].startswith("Васильева Татьяна взял(а) это уведомление.")
        assert abroad["text"] == POPUP_RU
        assert placed["text"].startswith("Звоню")
        await eventually(lambda: len(starts(world)) == 1)
        assert starts(world)[0]["dstNumber"] == ABROAD
