"""The customer card in the Mini App: the story /calls tells, the whole history a page at a time, and a name and note a
manager edits by the book's rules (audited as the book's edits are), which the book then shows and /forget forgets."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import pytest

from bot.watch.poller import poller
from storage import CallRecord
from tests.bot.conftest import ADMIN, MANAGER, STRANGER, World
from tests.bot.test_forget import holding_the_number
from tests.miniapp.conftest import MiniApp

CUSTOMER, SHOWN, COMPANY = "79035551122", "+7 903 555-11-22", "74955325585"


def dump(path: str) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(path)
    try:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {table: sorted(conn.execute(f"SELECT * FROM [{table}]").fetchall(), key=repr) for table in tables}
    finally:
        conn.close()


async def a_customer_with_calls(world: World) -> list[str]:
    """Three calls of CUSTOMER at the sandbox (answered, missed, placed), taken in by a poll; their ids, newest
    first."""
    sandbox, now = world.sandbox, world.sandbox.now()
    made = [
        sandbox.add_call(direction="in", clid=CUSTOMER, status="answered", start=now - 900, answer=now - 890,
                         end=now - 700, answered_numbers=["101"]),
        sandbox.add_call(direction="in", clid=CUSTOMER, status="no answer", start=now - 600, end=now - 580),
        sandbox.add_call(direction="out", dnid=CUSTOMER, status="no answer", start=now - 300, end=now - 280),
    ]  # fmt: skip
    assert await poller(world.app).poll_once(world.app.bot)
    return [call.vpbx_id for call in reversed(made)]


async def test_the_card_tells_the_story_and_lists_the_calls_newest_first(miniapp: MiniApp) -> None:
    world = miniapp.world
    world.make_manager(MANAGER)
    ids = await a_customer_with_calls(world)
    got = await miniapp.get(f"/app/api/customer/{CUSTOMER}", as_user=MANAGER)
    assert got.status == 200 and got.headers["Cache-Control"] == "no-store"
    card = got.json
    assert (card["number"], card["shown"], card["name"], card["note"], card["may_edit"]) == (
        CUSTOMER, SHOWN, None, None, True,
    )  # fmt: skip
    # The story /calls tells above the customer's list, word for word (as a sentence: the card's heading is the name).
    listed = await world.ask(MANAGER, f"/calls {CUSTOMER}")
    assert card["story"].startswith("Звонков за 7 дн.: 3") and "з" + card["story"][1:] in listed.split("\n")
    assert [row["id"] for row in card["calls"]] == ids and card["next"] is None
    out, missed, answered = card["calls"]
    assert (out["direction"], out["missed"], missed["direction"], missed["missed"]) == ("out", False, "in", True)
    assert answered["customer"] == {"number": CUSTOMER, "shown": SHOWN, "name": None}
    assert (answered["talk"], answered["recording"], missed["talk"], missed["recording"]) == ("3:10", True, None, False)
    assert list(card["recordings"]) == [answered["id"]]
    assert card["tel"] == f"+{CUSTOMER}"  # a phone number: the page links it
    internal = await miniapp.get("/app/api/customer/101", as_user=MANAGER)
    assert (internal.json["shown"], internal.json["tel"]) == ("101", None)  # "tel:+101" would dial nobody

    stranger = await miniapp.get(f"/app/api/customer/{CUSTOMER}", as_user=STRANGER)
    assert (stranger.status, stranger.json["error"]) == (403, "stranger")
    for bad in ("abc", "12", "7903555112%2B2", "1" * 21):
        refused = await miniapp.get(f"/app/api/customer/{bad}")
        assert (refused.status, refused.json["error"]) == (400, "bad_input"), bad


async def test_the_whole_history_pages_newest_first_without_a_gap_or_a_repeat(miniapp: MiniApp) -> None:
    now = int(time.time())
    calls = [
        CallRecord(
            f"{n:040x}",
            "in",
            CUSTOMER,
            COMPANY,
            "no answer",
            False,
            now - 86_400 * 300 + (n // 3) * 600,
            None,
            now - 86_400 * 300 + (n // 3) * 600 + 20,
        )
        for n in range(1, 124)
    ]  # fmt: skip  (three calls to a second: the pages split ties by the call's id)
    miniapp.world.services.storage.calls.ingest(calls, now=now)
    expected = [c.vpbx_id for c in sorted(calls, key=lambda c: (c.started_at, c.vpbx_id), reverse=True)]
    card = (await miniapp.get(f"/app/api/customer/{CUSTOMER}")).json
    seen, pages, cursor = [row["id"] for row in card["calls"]], 1, card["next"]
    while cursor is not None:
        page = await miniapp.get(f"/app/api/customer/{CUSTOMER}/calls", params={"before": cursor})
        assert page.status == 200
        seen += [row["id"] for row in page.json["calls"]]
        pages, cursor = pages + 1, page.json["next"]
    assert seen == expected and pages == 3
    for cursor in ("", "x", "1-zz", "-1-ab"):
        bad = await miniapp.get(f"/app/api/customer/{CUSTOMER}/calls", params={"before": cursor})
        assert (bad.status, bad.json["error"]) == (400, "bad_input")


async def test_a_manager_names_and_notes_a_customer_and_the_book_has_it(miniapp: MiniApp) -> None:
    world = miniapp.world
    world.make_manager(MANAGER)
    await a_customer_with_calls(world)
    edited = await miniapp.request(
        "PUT", f"/app/api/customer/{CUSTOMER}", as_user=MANAGER,
        body={"name": "  Иван   Петров ", "note": "Просил счёт\r\n\tоплатит в пятницу\n"},
    )  # fmt: skip
    assert edited.status == 200
    assert (edited.json["name"], edited.json["note"]) == ("Иван Петров", "Просил счёт\n оплатит в пятницу")
    # The name heads the card: the story goes on without it.
    assert edited.json["story"].startswith("Звонков за 7 дн.: ") and "Иван Петров" not in edited.json["story"]
    again = await miniapp.get(f"/app/api/customer/{CUSTOMER}", as_user=ADMIN)
    # Links are the asker's own, and so is the call (this admin has no phone of their own).
    mine = ("recordings", "may_call", "no_call_reason")
    assert again.json == {**edited.json, **{key: again.json[key] for key in mine}}
    assert (await world.ask(MANAGER, f"/name {CUSTOMER}")).startswith(f"👤 Иван Петров\n{SHOWN}\n")
    entries = [(e.action, e.actor_id, e.target, dict(e.details)) for e in world.services.storage.audit.recent(limit=2)]
    assert entries == [
        (
            "contact.note",
            MANAGER,
            CUSTOMER,
            {"note": "Просил счёт\n оплатит в пятницу", "before": None, "origin": "app"},
        ),
        ("contact.set", MANAGER, CUSTOMER, {"name": "Иван Петров", "before": None, "origin": "app"}),
    ]
    cleared = await miniapp.request("PUT", f"/app/api/customer/{CUSTOMER}", body={"name": "Иван Петров", "note": " "})
    assert (cleared.json["name"], cleared.json["note"]) == ("Иван Петров", None)


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"name": "Иван\u202e", "note": ""}, "В имени есть невидимый или управляющий символ (U+202E)."),
        ({"name": "Я" * 101, "note": ""}, "Имя слишком длинное: не больше 100 символов."),
        ({"name": "Иван", "note": "ж" * 501}, "Заметка слишком длинная: не больше 500 символов."),
        ({"name": "Иван", "note": "счёт\u200bоплачен"}, "В заметке есть невидимый или управляющий символ (U+200B)."),
        ({"name": "Иван", "note": "a\x00b"}, "В заметке есть невидимый или управляющий символ (U+0000)."),
        ({"name": "Иван"}, "Не получилось разобрать запрос."),
        ({"name": 5, "note": ""}, "Не получилось разобрать запрос."),
        (["Иван", ""], "Не получилось разобрать запрос."),
    ],
)
async def test_bad_input_is_said_and_changes_nothing(miniapp: MiniApp, body: Any, said: str) -> None:
    await miniapp.request("PUT", f"/app/api/customer/{CUSTOMER}", body={"name": "Пётр", "note": "VIP"})
    before = dump(str(miniapp.world.settings.database_path))
    refused = await miniapp.request("PUT", f"/app/api/customer/{CUSTOMER}", body=body)
    assert (refused.status, refused.json["error"]) == (400, "bad_input")
    assert refused.json["message"].startswith(said)
    assert dump(str(miniapp.world.settings.database_path)) == before


async def test_a_note_that_is_not_json_changes_nothing(miniapp: MiniApp) -> None:
    refused = await miniapp.request(
        "PUT", f"/app/api/customer/{CUSTOMER}", headers={"Content-Type": "application/json"}, body=None
    )
    assert (refused.status, refused.json["error"]) == (400, "bad_input")
    assert miniapp.world.services.storage.contacts.note(CUSTOMER) is None


async def test_forget_forgets_the_note_too(miniapp: MiniApp) -> None:
    world = miniapp.world
    world.make_manager(MANAGER)
    await a_customer_with_calls(world)
    card = await miniapp.request(
        "PUT", f"/app/api/customer/{CUSTOMER}", as_user=MANAGER, body={"name": "", "note": "Звонить после 18:00"}
    )
    recording = next(iter(card.json["recordings"].values()))
    question = await world.say(ADMIN, f"/forget {CUSTOMER}")
    assert "Заметка в карточке клиента" in question["text"].split("\n")
    await world.press(ADMIN, question, "🗑 Забыть")
    done = await world.edited(question)
    assert "упоминаний: 1. Заметка удалена." in done["text"]  # the note's audit entry

    assert holding_the_number(str(world.settings.database_path)) == []
    assert "Звонить после 18:00" not in repr(dump(str(world.settings.database_path)))
    after = await miniapp.get(f"/app/api/customer/{CUSTOMER}", as_user=MANAGER)
    assert (after.json["name"], after.json["note"], after.json["calls"], after.json["recordings"]) == (
        None, None, [], {},
    )  # fmt: skip
    gone = await miniapp.get(recording, as_user=None)  # a link given before: the call is forgotten
    assert (gone.status, gone.json["error"]) == (404, "not_found")
