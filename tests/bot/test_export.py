"""/export end to end: the archive's calls of a period as an .xlsx, read back and compared row by row with the
calls seeded (the names, numbers, times and outcomes worked out here from the seeded calls alone)."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from openpyxl import load_workbook

from bot.formatting import format_for_people
from storage import CallRecord
from tests.bot.conftest import ADMIN, GROUP, MANAGER, STRANGER, World
from tests.bot.test_reports import COMPANY, ZONE, Seeded, archive, episodes, history, midnight, outcome, period_label
from tests.conftest import at_noon

HEADER = ("Время", "Направление", "Клиент", "Имя клиента", "Номер компании", "Статус", "Ожидание", "Разговор",
          "Сотрудник", "Итог")  # fmt: skip
NAMES = {"79160000001": "ООО Ромашка", "79160000002": "Пётр <Иванов>"}


def alert_some_misses(world: World, seeded: Seeded) -> dict[str, str]:
    """Three misses of different customers alerted in the team chat: closed by hand, called back, left open.
    Returns what the export should say of each (by vpbx id)."""
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
    return {done.vpbx_id: "закрыто вручную (Иванова)", called.vpbx_id: "перезвонил Попов", left.vpbx_id: "открыт"}


def expected_rows(seeded: Seeded, alerted: dict[str, str], names: dict[str, str]) -> list[tuple[Any, ...]]:
    decided: dict[str, str] = {}
    for _, misses, answer in episodes(seeded):
        kind = outcome(seeded, misses, answer)
        if kind == "called_back":
            assert answer is not None
            said = f"перезвонил {answer.member_name}" if answer.member_name else "перезвонили"
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
    assert {"перезвонил Попов", "закрыто вручную (Иванова)", "открыт", "потерян", "ответили позже"} <= {
        row[-1] for row in expected
    }
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == f"A1:J{len(expected) + 1}"
    assert sheet.column_dimensions["D"].width >= 20 and sheet.column_dimensions["J"].width >= 20

    first = today - timedelta(days=6)
    assert message["document"]["file_name"] == f"calls_{first:%Y-%m-%d}_{today:%Y-%m-%d}.xlsx"
    assert message["caption"] == f"📄 Звонки за {period_label(week)}: {len(expected)}"  # both years in early January
    actions = world.sent("sendChatAction", chat_id=ADMIN)
    assert actions and actions[0].params["action"] == "upload_document" and actions[0].seq < sent.seq
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
        "Такого периода нет: «30.02». Например: сегодня, вчера, 7д, 28.11 или 25.11-28.11."
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
