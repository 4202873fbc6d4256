"""The managers' commands against the sandbox: what they show, what they ask New-Tel, in which language."""

from __future__ import annotations

from typing import Any

import pytest

from bot.calllog import recordings
from bot.watch.poller import poller
from newtel.sandbox._calls import Call
from tests.bot.conftest import ADMIN, MANAGER, MANAGER2, STRANGER, World, WorldFactory

EXTERNAL = "74955325585"  # the demo company's first external number
START_CALL = "call/start-simple-call"


def keyboard(message: dict[str, Any]) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [button["text"] for row in rows for button in row]


def add_calls(world: World, count: int) -> list[Call]:
    """Only ``count`` finished, answered inbound calls, a minute apart, newest first; the n-th (1-based) is
    from +7 916 000-00-0n and is row n of /calls."""
    world.sandbox.company.clear_calls()
    now = world.sandbox.now()
    calls = [
        world.sandbox.add_call("in", clid=f"7916{n:07d}", status="answered", start=now - 600 - 60 * n)
        for n in range(1, count + 1)
    ]
    return calls


# --- /balance -------------------------------------------------------------------------------------------------
async def test_balance_shows_money_as_people_read_it(world: World, manager: object) -> None:
    world.sandbox.set_state(balance=12345.678, credit=500, day_traffic_cost=12.5, month_traffic_cost=3041.09)
    assert await world.ask(MANAGER, "/balance") == (
        "💰 Баланс: 12\u202f345,68\u00a0₽\nКредит: 500,00\u00a0₽\nРасходы за сутки: 12,50\u00a0₽\n"
        "Расходы за месяц: 3\u202f041,09\u00a0₽\nСтатус: активен"
    )
    assert [r.method for r in world.newtel_requests()] == ["company/get-members", "company/get-state"]  # access first


async def test_an_admin_uses_the_managers_commands_too(world: World) -> None:
    add_calls(world, 3)
    expected = {
        "/balance": "💰 Баланс: 12\u202f345,67\u00a0₽",
        "/calls": "📞 Звонки (все) — 1–3 из 3, новые сверху:",
        "/members": "Сотрудники\n",
        "/numbers": "Номера компании\n",
        "/whoami": "Кто вы\nTelegram id: 1001\nРоль: администратор\nСотрудник: —",
        "/phone +7 903 000-11-22": "✅ Теперь я буду звонить вам на +7 903 000-11-22.",
        "/call 8 916 555 44 33": "📞 Звоню: сначала зазвонит ваш телефон +7 903 000-11-22, затем соединю с",
        "/record 1": "🎧 Запись звонка",
        "/lang ru": "Язык: русский.",
        "/help": "Что я умею\n",
    }
    for command, start in expected.items():
        reply = await world.say(ADMIN, command)
        assert (reply.get("text") or reply["caption"]).startswith(start), command


# --- /calls ---------------------------------------------------------------------------------------------------
async def test_a_long_calls_list_is_paged_and_next_edits_the_message(world: World, manager: object) -> None:
    calls = add_calls(world, 25)
    first = await world.say(MANAGER, "/calls 25")
    assert first["text"].splitlines()[0] == "📞 Звонки (все) — 1–10 из 25, новые сверху:"
    assert first["text"].splitlines()[1].startswith(" 1 ")
    assert "+7 916 000-00-01 → +7 495 532-55-85 · 1:00" in first["text"].splitlines()[1]
    assert first["text"].splitlines()[-1] == "Запись разговора: /record <номер строки>"
    assert keyboard(first) == ["Далее ›"]

    await world.press(MANAGER, first, "Далее ›")
    second = await world.edited(first)
    assert second["text"].splitlines()[0] == "📞 Звонки (все) — 11–20 из 25, новые сверху:"
    assert keyboard(second) == ["‹ Назад", "Далее ›"]

    await world.press(MANAGER, second, "Далее ›")
    third = await world.edited(first)
    assert third["text"].splitlines()[0] == "📞 Звонки (все) — 21–25 из 25, новые сверху:"
    assert keyboard(third) == ["‹ Назад"]
    assert len(world.sent("sendMessage", chat_id=MANAGER)) == 1  # one message, edited in place

    # /record 12 is row 12 of the list, on page two.
    world.sandbox.requests.clear()
    reply = await world.say(MANAGER, "/record 12")
    assert reply["caption"].endswith("+7 916 000-00-12 → +7 495 532-55-85")
    (link,) = world.newtel_requests("vpbx/get-call-record-link")
    assert link.params == {"vpbxId": calls[11].vpbx_id}


async def test_every_page_of_a_full_days_history_fits_one_message(world: World, manager: object) -> None:
    message = await world.say(MANAGER, "/calls 100")
    rows = []
    while True:
        assert len(message["raw_text"]) < 4096
        lines = message["text"].splitlines()[1:-1]
        assert len(lines) % 2 == 0 and all(story.startswith(" ") for story in lines[1::2])  # the caller's story
        rows += lines[::2]
        if "Далее ›" not in keyboard(message):
            break
        await world.press(MANAGER, message, "Далее ›")
        message = await world.edited(message)
    assert [int(row.split()[0]) for row in rows] == list(range(1, 61))  # the sandbox's 60 calls


@pytest.mark.parametrize(
    ("command", "header", "rows"),
    [
        ("/calls missed", "📞 Звонки (пропущенные) — 1–1 из 1", ["❌ +7 916 111-22-33 → +7 495 532-55-85 · пропущен"]),
        ("/calls пропущенные", "📞 Звонки (пропущенные) — 1–1 из 1", ["❌"]),
        ("/calls in", "📞 Звонки (входящие) — 1–3 из 3", ["🔴", "❌", "⬅️ +7 916 000-00-02"]),
        ("/calls out", "📞 Звонки (исходящие) — 1–1 из 1", ["➡️ +7 495 532-55-85 → +7 916 000-00-03 · 1:00"]),
        (
            "/calls active",
            "📞 Звонки (идут сейчас) — 1–1 из 1",
            ["🔴 +7 916 000-00-04 → +7 495 532-55-85 · идёт сейчас"],
        ),
        ("/calls 2", "📞 Звонки (все) — 1–2 из 2", ["🔴", "❌"]),
        ("/calls 2 out", "📞 Звонки (исходящие) — 1–1 из 1", ["➡️"]),
        ("/calls in 2", "📞 Звонки (входящие) — 1–2 из 2", ["🔴", "❌"]),
    ],
)
async def test_calls_filters_by_kind_and_count(
    world: World, manager: object, command: str, header: str, rows: list[str]
) -> None:
    world.sandbox.company.clear_calls()
    now = world.sandbox.now()
    world.sandbox.add_call("in", start=now - 100)  # missed, from 79161112233
    world.sandbox.add_call("in", clid="79160000002", status="answered", start=now - 400)
    world.sandbox.add_call("out", dnid="79160000003", status="answered", start=now - 500)
    world.sandbox.add_call("in", clid="79160000004", status="answered", active=True, start=now - 30)
    await poller(world.app).poll_once(world.app.bot)  # the archive holds the day: the stories can be told
    lines = (await world.ask(MANAGER, command)).splitlines()
    assert lines[0].startswith(header)
    assert len(lines) == 2 * len(rows) + 2  # each row and its caller's story
    for line, expected in zip(lines[1:-1:2], rows, strict=True):
        assert expected in line
    assert all(story.strip() == "🆕 новый номер" for story in lines[2:-1:2])  # none of them called before


async def test_calls_says_when_there_are_none(world: World, manager: object) -> None:
    world.sandbox.company.clear_calls()
    assert await world.ask(MANAGER, "/calls missed") == "Звонков нет (пропущенные)."


@pytest.mark.parametrize("arguments", ["foo", "0", "101", "missed foo", "-5"])
async def test_calls_explains_its_usage_without_asking_new_tel(world: World, manager: object, arguments: str) -> None:
    assert await world.ask(MANAGER, f"/calls {arguments}") == (
        "Использование: /calls [missed|in|out|active] [период] [N | номер]\n"
        "Период: сегодня, вчера, 7д, 28.11, 25.11–28.11 или 28.11.2025.\n"
        "Например: /calls missed 20, /calls вчера, /calls 7д +7 916 123-45-67"
    )
    assert {r.method for r in world.newtel_requests()} == {"company/get-members"}  # only who the members are (access)


# --- /call ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "typed", ["+7 (916) 555-44-33", "8 916 555 44 33", "89165554433", "+79165554433", "79165554433", "+7 916 555-44-33"]
)
async def test_call_rings_the_managers_phone_then_the_number_typed_in_any_form(
    world: World, manager: object, typed: str
) -> None:
    assert await world.ask(MANAGER, f"/call {typed}") == (
        "📞 Звоню: сначала зазвонит ваш телефон +7 974 714-48-54, затем соединю с +7 916 555-44-33.\n"
        "Клиент увидит номер +7 495 532-55-85."
    )
    (start,) = world.newtel_requests(START_CALL)
    assert start.params == {"srcNumber": "79747144854", "dstNumber": "79165554433", "callerId": EXTERNAL}
    (entry,) = world.services.storage.audit.recent(action="call.start")
    assert (entry.actor_id, entry.target) == (MANAGER, "79165554433")
    assert entry.details["src"] == "79747144854" and entry.details["caller_id"] == EXTERNAL
    assert entry.details["origin"] == "command" and entry.details["call_id"]
    # New-Tel really placed it: an outbound call from the company number to the customer.
    placed = world.sandbox.company.calls[-1]
    assert (placed.direction, placed.clid, placed.dnid) == ("out", EXTERNAL, "79165554433")


async def test_editing_an_old_call_command_places_no_second_call(world: World, manager: object) -> None:
    update = world.tg.send_text(MANAGER, "/call +7 916 555-44-33")
    await world.replies(MANAGER)
    edited = {**update["message"], "edit_date": update["message"]["date"] + 60}
    world.tg.enqueue({"edited_message": edited})
    await world.ask(MANAGER, "/whoami")  # everything before it has been handled
    assert len(world.newtel_requests(START_CALL)) == 1


async def test_a_call_command_queued_while_the_bot_was_down_is_not_placed(world: World, manager: object) -> None:
    update = world.tg.send_text(MANAGER, "/balance")  # a real message, then the same one as if two hours old
    await world.replies(MANAGER)
    old = {**update["message"], "message_id": 9999, "text": "/call +7 916 555-44-33"}
    old["date"] -= 2 * 3600
    old["entities"] = [{"type": "bot_command", "offset": 0, "length": 5}]
    world.tg.enqueue({"message": old})
    (reply,) = await world.replies(MANAGER)
    assert reply["text"].startswith("Эта команда пришла, пока я был недоступен")
    assert world.newtel_requests(START_CALL) == []


async def test_call_rings_the_callback_phone_else_the_personal_else_the_internal_number(world: World) -> None:
    world.make_manager(MANAGER)  # 101, personal 79747144854
    world.make_manager(MANAGER2, internal="105")  # Иванов Иван has no personal number
    assert await world.ask(MANAGER, "/phone +7 903 000-11-22") == "✅ Теперь я буду звонить вам на +7 903 000-11-22."
    await world.ask(MANAGER, "/call 8 916 555 44 33")
    assert "сначала зазвонит ваш телефон 105," in await world.ask(MANAGER2, "/call 8 916 555 44 34")
    assert [r.params["srcNumber"] for r in world.newtel_requests(START_CALL)] == ["79030001122", "105"]


async def test_call_shows_the_default_caller_id_when_one_is_set(make_world: WorldFactory) -> None:
    async with make_world(default_caller_id="+7 (812) 037-45-02") as world:
        world.make_manager()
        assert (await world.ask(MANAGER, "/call 89165554433")).endswith("Клиент увидит номер +7 812 037-45-02.")
        (start,) = world.newtel_requests(START_CALL)
        assert start.params["callerId"] == "78120374502"


@pytest.mark.parametrize(
    ("typed", "reply"),
    [
        ("", "Использование: /call <номер>\nНапример: /call +7 916 123-45-67"),
        ("abc", "«abc» не похоже на номер телефона. Например: +7 916 123-45-67 или 8 916 123 45 67."),
        ("12345", "«12345» не похоже на номер телефона. Например: +7 916 123-45-67 или 8 916 123 45 67."),
        ("+7 916", "«+7 916» не похоже на номер телефона. Например: +7 916 123-45-67 или 8 916 123 45 67."),
        ("8 916 555 44 33; 8 916 555 44 34", "«8 916 555 44 33; 8 916 555 44 34» не похоже на номер телефона. "
         "Например: +7 916 123-45-67 или 8 916 123 45 67."),
        ("<b>", "«<b>» не похоже на номер телефона. Например: +7 916 123-45-67 или 8 916 123 45 67."),
        ("+7 974 714-48-54", "Номер совпадает с вашим телефоном — позвонить самому себе не получится."),
    ],
)  # fmt: skip
async def test_call_with_a_malformed_number_says_why_and_places_no_call(
    world: World, manager: object, typed: str, reply: str
) -> None:
    assert await world.ask(MANAGER, f"/call {typed}") == reply
    assert world.newtel_requests(START_CALL) == []


async def test_call_asks_an_admin_without_a_phone_to_set_one(world: World) -> None:
    assert await world.ask(ADMIN, "/call 89165554433") == (
        "Не знаю, на какой телефон вам звонить. Укажите его: /phone +7 916 123-45-67"
    )
    assert world.newtel_requests(START_CALL) == []


# --- /record --------------------------------------------------------------------------------------------------
async def test_record_uploads_the_recording_it_downloaded_in_reply_to_the_request(
    world: World, manager: object
) -> None:
    calls = add_calls(world, 3)
    await world.ask(MANAGER, "/calls")
    world.tg.send_text(MANAGER, "/record 2")
    request_id = world.tg.chat(MANAGER, include_user=True)[-1]["message_id"]
    (audio,) = await world.replies(MANAGER)
    (sent,) = world.sent("sendAudio")
    (file,) = sent.files.values()  # from memory: neither a link nor a path is handed on
    assert file.filename == f"{calls[1].vpbx_id}.wav"
    assert file.data[:4] == b"RIFF" and file.data[8:12] == b"WAVE"
    assert audio["audio"]["file_name"] == f"{calls[1].vpbx_id}.wav"
    assert audio["reply_to_message"]["message_id"] == request_id
    assert audio["caption"].startswith("🎧 Запись звонка ")
    assert audio["caption"].endswith(": +7 916 000-00-02 → +7 495 532-55-85")
    (entry,) = world.services.storage.audit.recent(action="record.fetch")
    assert (entry.actor_id, entry.target) == (MANAGER, calls[1].vpbx_id)


async def test_record_of_a_recording_too_big_to_upload_gives_new_tels_link(
    world: World, manager: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = add_calls(world, 1)
    monkeypatch.setattr(recordings, "MAX_UPLOAD", 1_000)  # the sandbox's recordings are some 24 kB
    reply = await world.ask(MANAGER, f"/record {calls[0].vpbx_id}")
    assert reply.startswith("🎧 Запись звонка ") and reply.endswith(
        f": +7 916 000-00-01 → +7 495 532-55-85\nФайл слишком большой для Telegram, вот ссылка:"
        f" {world.sandbox.url}/records/{calls[0].vpbx_id}.wav"
    )
    assert world.sent("sendAudio") == []


@pytest.mark.parametrize(
    ("arguments", "reply"),
    [
        ("", "Использование: /record <номер строки из /calls или vpbxId>"),
        ("1 2", "Использование: /record <номер строки из /calls или vpbxId>"),
        ("last", "Использование: /record <номер строки из /calls или vpbxId>"),
        ("7", "Нет звонка под номером 7. Сначала откройте список: /calls"),
        ("0", "Нет звонка под номером 0. Сначала откройте список: /calls"),
    ],
)
async def test_record_explains_a_bad_argument(world: World, manager: object, arguments: str, reply: str) -> None:
    add_calls(world, 3)
    await world.ask(MANAGER, "/calls")
    world.sandbox.requests.clear()
    assert await world.ask(MANAGER, f"/record {arguments}") == reply
    assert world.newtel_requests() == []


async def test_record_of_a_call_nobody_answered_says_there_is_none(world: World, manager: object) -> None:
    world.sandbox.company.clear_calls()
    world.sandbox.add_call("in")
    await world.ask(MANAGER, "/calls")
    assert await world.ask(MANAGER, "/record 1") == "У этого звонка нет записи разговора."
    assert world.sent("sendAudio") == []


async def test_record_of_an_unknown_call_says_new_tel_keeps_a_day(world: World, manager: object) -> None:
    assert await world.ask(MANAGER, "/record " + "ab" * 20) == (
        "Звонок не найден: «Нью-Тел» хранит звонки только за последние сутки."
    )


async def test_record_before_any_list_asks_for_one(world: World, manager: object) -> None:
    assert await world.ask(MANAGER, "/record 1") == "Нет звонка под номером 1. Сначала откройте список: /calls"


# --- /members, /numbers, /whoami, /phone ----------------------------------------------------------------------
async def test_members_shows_who_is_online_ringing_and_talking(world: World, manager: object) -> None:
    world.sandbox.company.clear_calls()
    world.sandbox.add_call("in", status="answered", active=True, answered_numbers=("102",))
    ringing = world.sandbox.add_call("in", active=True, start=world.sandbox.now() - 5)
    ringing.ringing_numbers = ("101",)
    assert await world.ask(MANAGER, "/members") == (
        "Сотрудники\n"
        "🟢 Попов Сергей — вн. 100, моб. +7 982 372-92-38 · в сети\n"
        "🔔 Васильева Татьяна — вн. 101, моб. +7 974 714-48-54 · звонит телефон\n"
        "📞 Орлова Наталья — вн. 102, моб. +7 928 597-02-56 · разговаривает\n"
        "🟢 Козлова Ольга — вн. 103, моб. +7 986 095-45-09 · в сети\n"
        "🟢 Волков Андрей — вн. 104, моб. +7 963 474-61-60 · в сети\n"
        "⚪️ Иванов Иван — вн. 105, моб. — · не в сети"
    )


async def test_a_big_company_gets_its_members_in_several_messages(world: World, manager: object) -> None:
    from newtel.sandbox import Member

    company = world.sandbox.company
    for n in range(150):
        number = str(200 + n)
        name = f"Сотрудник-с-очень-длинным-именем Номер {n}"
        company.members.append(Member(9000 + n, name, f"m{n}@example.com", number, f"7916{n:07d}", "Europe/Moscow"))
    world.tg.send_text(MANAGER, "/members")
    await world.tg.wait_for(
        "sendMessage", chat_id=MANAGER, ok=True, predicate=lambda c: "Номер 149" in c.params["text"]
    )
    texts = [c.params["text"] for c in world.sent("sendMessage", chat_id=MANAGER)]
    assert len(texts) >= 3 and all(len(text) <= 4096 for text in texts)
    rows = [line for text in texts for line in text.splitlines()]
    assert len(rows) == 1 + len(company.members)  # the header and every member, none lost


async def test_numbers_lists_the_company_numbers_as_people_write_them(world: World, manager: object) -> None:
    assert await world.ask(MANAGER, "/numbers") == (
        "Номера компании\nВнешние: +7 495 532-55-85, +7 800 051-32-14, +7 812 037-45-02\n"
        "Внутренние: 100, 101, 102, 103, 104, 105\nВиртуальные: —"
    )


async def test_whoami_and_phone_show_which_phone_rings_first(world: World, manager: object) -> None:
    whoami = (
        "Кто вы\nTelegram id: 2002\nРоль: менеджер\nСотрудник: Васильева Татьяна\nВнутренний номер: 101\n"
        "Личный номер: +7 974 714-48-54\nТелефон для обратных звонков: {callback}\nПри /call сначала зазвонит: {rings}"
    )
    assert await world.ask(MANAGER, "/whoami") == whoami.format(callback="—", rings="+7 974 714-48-54")
    assert await world.ask(MANAGER, "/phone 8 (903) 000-11-22") == "✅ Теперь я буду звонить вам на +7 903 000-11-22."
    assert world.user(MANAGER).callback_phone == "79030001122"  # type: ignore[union-attr]
    assert await world.ask(MANAGER, "/phone") == (
        "Использование: /phone <номер> — телефон, на который я звоню вам первым. /phone off — сбросить.\n"
        "Сейчас: +7 903 000-11-22"
    )
    assert await world.ask(MANAGER, "/whoami") == whoami.format(callback="+7 903 000-11-22", rings="+7 903 000-11-22")
    assert await world.ask(MANAGER, "/phone 104") == "✅ Теперь я буду звонить вам на 104."
    assert await world.ask(MANAGER, "/phone off") == (
        "✅ Свой номер сброшен: звоню на личный или внутренний номер сотрудника."
    )
    assert world.user(MANAGER).callback_phone is None  # type: ignore[union-attr]
    assert await world.ask(MANAGER, "/phone call me") == (
        "«call me» — на такой номер «Нью-Тел» позвонить не может: нужен номер телефона или внутренний номер компании. "
        "Например: /phone +7 916 123-45-67 или /phone 101"
    )
    # Who the members are (access), and the company's internal numbers (104 is one).
    assert {r.method for r in world.newtel_requests()} == {"company/get-members", "company/get-numbers"}


# --- language, help, menu -------------------------------------------------------------------------------------
async def test_russian_by_default_and_lang_en_switches_only_that_user(world: World, manager: object) -> None:
    world.make_manager(MANAGER2, internal="102")
    assert await world.ask(MANAGER, "/lang en") == "Language: English."
    assert await world.ask(MANAGER, "/balance") == (
        "💰 Balance: 12,345.67 RUB\nCredit: 0.00 RUB\nSpent today: 122.43 RUB\nSpent this month: 3,041.09 RUB\n"
        "Status: active"
    )
    assert (await world.ask(MANAGER2, "/balance")).startswith("💰 Баланс: 12\u202f345,67\u00a0₽")
    assert (await world.ask(MANAGER, "/call nope")).startswith("“nope” does not look like a phone number.")
    assert await world.ask(MANAGER, "/lang ru") == "Язык: русский."
    assert (await world.ask(MANAGER, "/help")).startswith("Что я умею\n/balance — баланс и расходы")


@pytest.mark.parametrize("arguments", ["", "de", "english"])
async def test_lang_explains_its_usage(world: World, manager: object, arguments: str) -> None:
    assert await world.ask(MANAGER, f"/lang {arguments}") == "Использование: /lang ru или /lang en"
    assert world.user(MANAGER).language is None  # type: ignore[union-attr]


async def test_help_lists_every_managers_command(world: World, manager: object) -> None:
    text = await world.ask(MANAGER, "/help")
    for command in (
        "/balance",
        "/app",
        "/calls",
        "/call",
        "/record",
        "/members",
        "/numbers",
        "/whoami",
        "/phone",
        "/lang",
    ):
        assert f"\n{command} " in text


async def test_the_command_menu_is_registered_in_both_languages(world: World) -> None:
    names = ["balance", "app", "calls", "call", "record", "report", "lost", "name", "contacts", "members", "numbers"]
    names += ["whoami", "phone", "notify", "lang", "help"]
    ru, en, default = (world.tg.my_commands(language_code=code) for code in ("ru", "en", ""))
    assert [c["command"] for c in ru] == [c["command"] for c in en] == names
    assert ru[0]["description"] == "Баланс и расходы"
    assert en[0]["description"] == "Balance and spend"
    assert default == ru  # BOT_LANGUAGE is Russian


# --- concurrency ----------------------------------------------------------------------------------------------
async def test_a_slow_new_tel_answer_does_not_hold_up_other_users(world: World, manager: object) -> None:
    world.sandbox.faults.latency = 1.0
    world.tg.send_text(MANAGER, "/balance")
    assert (await world.ask(STRANGER, "/help")).startswith("Извините")
    assert (await world.ask(ADMIN, "/whoami")).startswith("Кто вы")
    (balance,) = await world.replies(MANAGER)
    assert balance["text"].startswith("💰 Баланс:")
    # Both others were answered while New-Tel was still thinking about the manager's balance.
    replies = [c.chat_id for c in world.sent("sendMessage")]
    assert replies == [STRANGER, ADMIN, MANAGER]


async def test_record_whose_upload_telegram_fails_once_uploads_the_whole_file_again(
    world: World, manager: object
) -> None:
    calls = add_calls(world, 1)
    world.tg.faults.fail(status=502, methods={"sendAudio"}, times=1, description="Bad Gateway")
    audio = await world.say(MANAGER, f"/record {calls[0].vpbx_id}", timeout=15)
    failed, uploaded = world.sent("sendAudio")
    assert (failed.status, uploaded.status) == (502, 200)
    (file,) = uploaded.files.values()  # read from its start again, not from where the failed attempt stopped
    assert file.data[:4] == b"RIFF" and len(file.data) == audio["audio"]["file_size"] > 20_000
