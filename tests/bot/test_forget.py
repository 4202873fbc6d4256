"""/forget end to end: a customer with calls in the sandbox and the archive, alerts posted, a call back nobody answered
and its reminder pending, a name and a recording kept; then an admin forgets them. Afterwards no table holds their
number in any form, the audit says who forgot how much but not whom, and neither a reconcile nor a restart brings
the calls back."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from bot import callback_data as cd
from bot.contacts import forget as forget_module
from bot.formatting import format_for_people
from bot.watch.poller import poller
from storage import CallRecord, erasure
from tests.bot.conftest import ADMIN, GROUP, MANAGER, MEMBER_NAME, MEMBER_PERSONAL, World, WorldFactory, database_locked
from tests.conftest import at_noon

pytestmark = at_noon  # the alerts' times of day are the test's: no midnight inside it
CUSTOMER, OTHER = "79035551122", "79161234567"
SHOWN = "+7 903 555-11-22"
# The number as it may be written anywhere: its national digits inside any run of phone characters.
NATIONAL = CUSTOMER[1:]
_PHONE_RUN = re.compile(r"\+?[0-9][0-9 ()\-.]*[0-9]")


def holding_the_number(path: str, national: str = NATIONAL) -> list[tuple[str, str, object]]:
    """Every (table, column, value) of the database that holds the number in any form (79…, +7…, 8…, formatted)."""
    found = []
    conn = sqlite3.connect(path)
    try:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            cursor = conn.execute(f"SELECT * FROM [{table}]")
            columns = [d[0] for d in cursor.description]
            for row in cursor:
                for column, value in zip(columns, row, strict=True):
                    runs = _PHONE_RUN.findall(str(value))
                    if any(national in re.sub(r"\D", "", run) for run in runs):
                        found.append((table, column, value))
    finally:
        conn.close()
    return found


def dump(path: str) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(path)
    try:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {table: sorted(conn.execute(f"SELECT * FROM [{table}]").fetchall(), key=repr) for table in tables}
    finally:
        conn.close()


async def poll(world: World) -> None:
    """One poll by hand, and what it had the chats' lanes deliver."""
    assert await poller(world.app).poll_once(world.app.bot)
    await poller(world.app).lanes.settled()


async def poll_until(world: World, condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll by hand until ``condition`` holds (the sandbox's calls progress on the clock, not by polls)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await poll(world)
            await asyncio.sleep(0.02)


def group_messages(world: World, starts: str) -> list[dict[str, Any]]:
    found = [world.tg.message(GROUP, c.result["message_id"]) for c in world.sent("sendMessage", GROUP) if c.ok]
    return [m for m in found if m is not None and m["text"].startswith(starts)]


def alert_of(world: World, number: str) -> dict[str, Any]:
    shown = f"+7 {number[1:4]} {number[4:7]}-{number[7:9]}-{number[9:11]}"
    (message,) = [m for m in group_messages(world, "📵") if shown in m["text"]]
    return message


def board(world: World) -> str:
    chat = world.services.storage.chats.get(GROUP)
    assert chat is not None and chat.board_message_id is not None
    message = world.tg.message(GROUP, chat.board_message_id)
    assert message is not None
    return str(message["text"])


def buttons(message: dict[str, Any]) -> list[list[str]]:
    return [[b["text"] for b in row] for row in (message.get("reply_markup") or {}).get("inline_keyboard", [])]


def day(world: World, seconds: int) -> str:
    return datetime.fromtimestamp(seconds, world.settings.zone).strftime("%d.%m.%Y")


async def a_customer_the_bot_knows(world: World) -> int:
    """CUSTOMER as the bot comes to know them: an answered call three days ago (archive only) and one today whose
    recording was fetched, two misses alerted in the group (beside OTHER's), a call back nobody answered with its
    reminder pending, and a name. Returns when the first of those calls began."""
    world.make_manager(MANAGER, internal="101")
    await world.ask(ADMIN, "/subscribe", chat_id=GROUP)
    await poll(world)  # the baseline: the sandbox's history before it is not news
    sandbox, storage = world.sandbox, world.services.storage
    old = int(time.time()) - 3 * 86_400
    storage.calls.ingest(
        [CallRecord("0" * 39 + "1", "in", CUSTOMER, sandbox.company.external_numbers[0], "answered", False,
                    old, old + 5, old + 65)],
        now=int(time.time()),
    )  # fmt: skip
    now = sandbox.now()
    talked = sandbox.add_call(direction="in", clid=CUSTOMER, status="answered", start=now - 300, answer=now - 290,
                              end=now - 200)  # fmt: skip
    await poll(world)
    assert (await world.say(MANAGER, f"/record {talked.vpbx_id}"))["audio"]
    sandbox.outcomes[CUSTOMER] = "no answer"
    for ago in (0.5, 0):  # both after the baseline
        now = sandbox.now()
        sandbox.add_call(direction="in", clid=CUSTOMER, status="no answer", start=now - ago - 20, end=now - ago)
    now = sandbox.now()
    sandbox.add_call(direction="in", clid=OTHER, status="no answer", start=now - 20, end=now)
    await poll_until(world, lambda: len(group_messages(world, "📵")) == 2)
    alert = alert_of(world, CUSTOMER)
    world.tg.press(MANAGER, alert, button="📞 Перезвонить")
    await poll_until(world, lambda: f"☎️ {MEMBER_NAME}: клиент не ответил, " in alert_of(world, CUSTOMER)["text"])
    answer = await world.press(MANAGER, alert_of(world, CUSTOMER), "⏰ Напомнить позже")
    assert answer["text"].startswith("⏰ Напомню в личном чате через ")
    assert (await world.ask(MANAGER, f"/name {CUSTOMER} Иван Петров")).startswith("✅ Записано: Иван Петров")
    assert SHOWN in board(world) and "+7 916 123-45-67" in board(world)
    return old


@pytest.fixture
async def world(make_world: WorldFactory) -> Any:
    async with make_world(alert_board=True) as started:
        yield started


async def test_only_an_admin_in_private_with_a_number_and_cancel_changes_nothing(world: World) -> None:
    await a_customer_the_bot_knows(world)
    path = str(world.settings.database_path)
    assert await world.ask(MANAGER, f"/forget {CUSTOMER}") == "Эта команда доступна только администраторам."
    assert (await world.ask(ADMIN, f"/forget {CUSTOMER}", chat_id=GROUP)).startswith(
        "Эта команда работает только в личном чате с ботом"
    )
    assert (await world.ask(ADMIN, "/forget")).startswith("Использование: /forget <номер>")
    assert await world.ask(ADMIN, "/forget 12345 Иван") == (
        "«12345 Иван» не похоже на номер телефона. Например: +7 916 123-45-67 или 8 916 123 45 67."
    )
    before = dump(path)
    question = await world.say(ADMIN, "/forget 8 (903) 555-11-22")
    assert buttons(question) == [["🗑 Забыть", "✖ Отмена"]]
    await world.press(ADMIN, question, "✖ Отмена")
    assert (await world.edited(question))["text"] == "✖ Отменено, ничего не изменилось."
    assert dump(path) == before
    # A press counts only as a button of its own question, and only an admin's.
    other = await world.say(ADMIN, f"/forget {CUSTOMER}")
    forged = cd.pack(cd.Forget(OTHER))
    assert (await world.press(ADMIN, other, data=forged))["text"] == "Эта кнопка не относится к этому сообщению."
    assert (await world.press(MANAGER, other, "🗑 Забыть"))["text"] == "Только для администраторов."
    assert dump(path) == before


async def test_forget_leaves_no_trace_of_the_number_and_the_calls_do_not_come_back(make_world: WorldFactory) -> None:
    async with make_world(alert_board=True) as world:
        alerts = await forget_in(world)
    async with make_world(alert_board=True) as again:  # the same database, a new process
        await poll(again)
        await poll(again)
        assert again.services.storage.calls.find(number=CUSTOMER, limit=100) == []
        assert holding_the_number(str(again.settings.database_path)) == []
        assert len(group_messages(again, "📵")) == alerts  # nothing alerted again
        assert (await again.ask(ADMIN, f"/forget {CUSTOMER}")) == (
            f"О номере {SHOWN} бот ничего не хранит — забывать нечего."
        )


async def forget_in(world: World) -> int:
    """The whole of it in a running bot; returns how many alerts the group has had by the end."""
    first_at = await a_customer_the_bot_knows(world)
    storage, path = world.services.storage, str(world.settings.database_path)
    assert holding_the_number(path)  # calls, alerts, the name, the audit, …
    calls = len(storage.calls.find(number=CUSTOMER, limit=100))
    last_at = storage.calls.find(number=CUSTOMER, limit=1)[0].started_at

    question = await world.say(ADMIN, f"/forget {SHOWN}")
    assert question["text"] == "\n".join(
        [
            f"🗑 Забыть клиента {SHOWN}?",
            "Имя в книге: Иван Петров",
            f"Звонков в архиве: {calls} ({day(world, first_at)} – {day(world, last_at)})",
            "Записей разговоров, сохранённых ботом: 1",
            "Уведомлений о пропущенных: 1, из них открытых: 1",
            "Напоминаний, которые ещё не пришли: 1",
            "Упоминаний в журнале действий и других записях: 2",  # /name and the call back, audited
            "",
            "Всё это удалится без возврата. Уведомления и записи, уже отправленные в Telegram, останутся там: "
            "сообщения в группах бот не удаляет.",
        ]
    )
    answer = await world.press(ADMIN, question, "🗑 Забыть")
    assert answer["text"] == "Забываю…"
    done = await world.edited(question)
    assert done["text"] == (
        f"✅ Клиент забыт. Удалено звонков: {calls}, записей разговоров: 1, уведомлений: 1, напоминаний: 1, "
        "упоминаний: 2. Имя удалено из книги.\n\n"
        "Уведомления и записи, уже отправленные в Telegram, остались там, где были: сообщения в группах бот не "
        "удаляет. У «Нью-Тел» свои данные: звонки за последние 24 часа и записи разговоров — сколько их хранит "
        "«Нью-Тел»; эти звонки бот обратно не возьмёт. Резервные копии базы, сделанные раньше, хранят клиента, "
        "пока их не сменят новые."
    )
    assert buttons(done) == []

    assert holding_the_number(path) == []
    # What holds no number but was theirs: the reminder (nothing comes about them later), the kept recording.
    assert storage.reminders.due(2**40) == []
    assert storage.db.execute("SELECT count(*) FROM recordings").fetchone() == (0,)
    (entry,) = storage.audit.recent(action="customer.forget")
    assert (entry.actor_id, entry.target) == (ADMIN, None)
    assert entry.details == {
        "calls": calls, "recordings": 1, "alerts": 1, "open_alerts": 1, "reminders": 1, "mentions": 2,
        "named": True, "noted": False, "done": True,
    }  # fmt: skip
    # Everyone else stays: OTHER's alert, on the board too (refreshed without CUSTOMER).
    assert [a.clid for a in storage.alerts.open_for(GROUP)] == [OTHER]
    await poller(world.app).lanes.settled()
    assert SHOWN not in board(world) and "+7 916 123-45-67" in board(world)
    # The calls New-Tel still has are not taken back, by the reconcile or after a restart; only their ids are kept,
    # and not the one of three days ago, which New-Tel no longer has.
    kept = storage.db.execute("SELECT count(*) FROM forgotten_calls").fetchone()[0]
    assert kept == calls - 1
    await poll(world)
    assert storage.calls.find(number=CUSTOMER, limit=100) == []
    assert (
        await world.ask(ADMIN, f"/forget {CUSTOMER}")
    ) == f"О номере {SHOWN} бот ничего не хранит — забывать нечего."
    return len(group_messages(world, "📵"))


async def test_a_question_answered_too_late_changes_nothing(world: World, time_machine: Any) -> None:
    await a_customer_the_bot_knows(world)
    path = str(world.settings.database_path)
    question = await world.say(ADMIN, f"/forget {CUSTOMER}")
    before = dump(path)
    time_machine.shift(timedelta(seconds=forget_module.CONFIRM_WITHIN + 1))
    await world.press(ADMIN, question, "🗑 Забыть")
    assert (await world.edited(question))["text"] == (
        "⌛ Этот вопрос устарел (старше 15 мин), ничего не изменилось. Пришлите /forget ещё раз."
    )
    assert dump(path) == before


async def test_a_database_locked_elsewhere_forgets_nothing_yet_and_the_question_stays(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    await a_customer_the_bot_knows(world)
    path = str(world.settings.database_path)
    question = await world.say(ADMIN, f"/forget {CUSTOMER}")
    before = dump(path)
    monkeypatch.setattr(erasure, "WRITER_BUSY_TIMEOUT_MS", 100)  # not the 5 s a worker thread's write waits
    with database_locked(path):
        world.tg.press(ADMIN, question, button="🗑 Забыть")
        (told,) = await world.replies(ADMIN)
    assert told["text"] == "⏳ Бот сейчас занят: клиент забыт не полностью. Нажмите «🗑 Забыть» ещё раз через минуту."
    assert dump(path) == before
    assert buttons(world.tg.message(ADMIN, question["message_id"]) or {}) == [["🗑 Забыть", "✖ Отмена"]]
    await world.press(ADMIN, question, "🗑 Забыть")
    assert (await world.edited(question))["text"].startswith("✅ Клиент забыт.")
    assert holding_the_number(path) == []


async def test_a_staff_members_or_the_companys_own_number_is_refused_and_nothing_changes(world: World) -> None:
    # The manager places a call: the audit keeps which of their phones rang first and which number the customer saw.
    world.make_manager(MANAGER, internal="101")
    assert (await world.ask(MANAGER, f"/call {CUSTOMER}")).startswith("📞 Звоню: сначала зазвонит ваш телефон")
    await poll(world)  # the company's calls, its numbers with them, in the archive
    path = str(world.settings.database_path)
    before = dump(path)
    assert await world.ask(ADMIN, f"/forget {MEMBER_PERSONAL}") == (
        f"+7 974 714-48-54 — номер сотрудника ({MEMBER_NAME}), а не клиента: /forget забывает только клиентов. "
        "Ничего не изменилось."
    )
    company = world.sandbox.company.external_numbers[0]
    assert await world.ask(ADMIN, f"/forget +{company}") == (
        f"{format_for_people(company)} — номер самой компании, а не клиента: /forget забывает только клиентов. "
        "Ничего не изменилось."
    )
    assert dump(path) == before
    assert (await world.say(ADMIN, f"/forget {CUSTOMER}"))["text"].startswith(f"🗑 Забыть клиента {SHOWN}?")
