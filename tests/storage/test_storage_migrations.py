import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from storage import Attempt, SchemaTooNew, Storage, latest_version, migrate
from storage import migrations as migrations_module


def schema(db: Database) -> list[tuple[str, str]]:
    return db.execute(
        "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name <> '_migrations' ORDER BY name"
    ).fetchall()


MIGRATION_NAMES = [
    "m001_initial",
    "m002_alerts",
    "m003_subscribed_at",
    "m004_calls",
    "m005_archive",
    "m006_reports",
    "m007_live",
    "m008_owners",
    "m009_attempts",
    "m010_ledger",
    "m011_board_pins",
    "m012_forgotten_calls",
    "m013_customer_notes",
]
WITHOUT_ROWID = {
    "alert_calls": "chat_id, vpbx_id",
    "record_posts": "chat_id, call_id",
    "contacts": "number",
    "call_hours": "hour, company, member",
    "ringing_cards": "vpbx_id, user_id",
    "phones": "internal",
    "reminders": "alert_id, kind, user_id",
    "forgotten_calls": "vpbx_id",
    "customer_notes": "number",
}


def dump(db: Database) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, generated columns included."""
    return {
        name: list(
            db.query(
                f"SELECT * FROM [{name}] ORDER BY rowid"
                if name not in WITHOUT_ROWID
                else f"SELECT * FROM [{name}] ORDER BY {WITHOUT_ROWID[name]}"
            )
        )
        for name in db.table_names()
        if name != "_migrations"
    }


def test_migrates_an_empty_database_and_records_each_step() -> None:
    db = Database(memory=True)
    assert migrate(db, now=1_000) == latest_version() == len(MIGRATION_NAMES)
    assert list(db["_migrations"].rows) == [
        {"number": n, "name": name, "applied_at": 1_000} for n, name in enumerate(MIGRATION_NAMES, start=1)
    ]
    assert set(db.table_names()) == {
        "_migrations",
        "users",
        "access_requests",
        "chats",
        "audit",
        "kv",
        "alerts",
        "alert_calls",
        "calls",
        "members_seen",
        "recordings",
        "record_posts",
        "contacts",
        "imports",
        "call_hours",
        "ringing_cards",
        "phones",
        "reminders",
        "ledger",
        "forgotten_calls",
        "customer_notes",
    }


def test_re_running_is_a_no_op() -> None:
    db = Database(memory=True)
    migrate(db, now=1_000)
    before = (schema(db), list(db["_migrations"].rows))
    assert migrate(db, now=2_000) == latest_version()
    assert Storage(db).schema_version == latest_version()
    assert (schema(db), list(db["_migrations"].rows)) == before


def test_migrate_upto_stops_at_that_version() -> None:
    db = Database(memory=True)
    assert migrate(db, upto=1, now=1) == 1
    assert "alerts" not in db.table_names()
    assert [row["name"] for row in db["_migrations"].rows] == ["m001_initial"]


def test_open_sets_wal_foreign_keys_and_busy_timeout(db_path: Path) -> None:
    with Storage.open(db_path) as storage:
        assert storage.db.journal_mode == "wal"
        assert storage.db.execute("PRAGMA foreign_keys").fetchone() == (1,)
        # A write waits briefly for another process (the event loop is held meanwhile); migrations waited longer.
        assert storage.db.execute("PRAGMA busy_timeout").fetchone() == (200,)
        assert storage.schema_version == latest_version()
    with Storage.open(db_path) as again:  # reopening an up-to-date file changes nothing
        assert [row["number"] for row in again.db["_migrations"].rows] == list(range(1, len(MIGRATION_NAMES) + 1))


# Data as each version's schema would hold it, written with that version's SQL.
V1_ROWS: dict[str, list[dict[str, Any]]] = {
    "users": [
        {
            "telegram_id": 1,
            "role": "admin",
            "status": "active",
            "display_name": "Boss",
            "username": "boss",
            "member_id": None,
            "member_name": None,
            "member_email": None,
            "internal_number": None,
            "personal_number": None,
            "callback_phone": None,
            "language": "en",
            "created_at": 10,
            "updated_at": 10,
        },
        {
            "telegram_id": 2,
            "role": "manager",
            "status": "active",
            "display_name": "Ann",
            "username": None,
            "member_id": "m-7",
            "member_name": "Anna",
            "member_email": "ann@example.com",
            "internal_number": "101",
            "personal_number": "79990000001",
            "callback_phone": "79990000002",
            "language": None,
            "created_at": 11,
            "updated_at": 12,
        },
    ],
    "access_requests": [
        {
            "id": 1,
            "telegram_id": 3,
            "first_name": "Olga",
            "username": None,
            "phone": "79990000003",
            "matched_member_id": None,
            "status": "pending",
            "admin_messages": "[[1,55]]",
            "created_at": 20,
            "decided_by": None,
            "decided_at": None,
        }
    ],
    "chats": [
        {
            "chat_id": -100,
            "title": "Sales",
            "subscribed": 1,
            "numbers": '["74950000000"]',
            "balance_alerts": 1,
            "digest_time": "09:00",
            "language": "ru",
            "created_at": 30,
            "updated_at": 30,
        }
    ],
    "audit": [
        {"id": 1, "at": 40, "actor_id": 1, "action": "user.allow", "target": "2", "details": '{"role":"manager"}'}
    ],
    "kv": [{"key": "baseline", "value": "true", "updated_at": 50}],
}
V2_ROWS: dict[str, list[dict[str, Any]]] = {
    **V1_ROWS,
    "chats": [{**V1_ROWS["chats"][0], "chat_id": -200, "subscribed": 0}, *V1_ROWS["chats"]],
}
V3_ROWS: dict[str, list[dict[str, Any]]] = {}  # V2's rows as m003 left them (filled below)
V4_ROWS: dict[str, list[dict[str, Any]]] = {}  # V3's, with two archived calls (filled below)
V5_ROWS: dict[str, list[dict[str, Any]]] = {}  # V4's as m005 left them, with an outbound call a member placed
V7_ROWS: dict[str, list[dict[str, Any]]] = {}  # V6's as m007 left them
V6_ROWS: dict[str, list[dict[str, Any]]] = {}  # V5's as m006 left them (its hours and answers are its triggers')
V8_ROWS: dict[str, list[dict[str, Any]]] = {}  # V7's as m008 left them
V9_ROWS: dict[str, list[dict[str, Any]]] = {}  # V8's as m009 left them
V10_ROWS: dict[str, list[dict[str, Any]]] = {}  # V9's as m010 left them
V11_ROWS: dict[str, list[dict[str, Any]]] = {}  # V10's as m011 left them
ROWS_BY_VERSION: dict[int, dict[str, list[dict[str, Any]]]] = {
    0: {},
    1: V1_ROWS,
    2: V2_ROWS,
    3: V3_ROWS,
    4: V4_ROWS,
    5: V5_ROWS,
    6: V6_ROWS,
    7: V7_ROWS,
    8: V8_ROWS,
    9: V9_ROWS,
    10: V10_ROWS,
    11: V11_ROWS,
    12: V11_ROWS,  # m012 added a table, changed no rows
}
V4_CALL = {
    "vpbx_id": "a" * 40,
    "direction": "in",
    "clid": "79161234567",
    "dnid": "74950000000",
    "status": "answered",
    "active": 0,
    "started_at": 100,
    "answered_at": 105,
    "ended_at": 160,
    "updated_at": 170,
}
V4_MISSED = {**V4_CALL, "vpbx_id": "b" * 40, "status": "no answer", "answered_at": None, "started_at": 90}


def upgraded(rows: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """The rows as the latest schema holds them: m003 dates a subscribed chat's subscription from its creation;
    m005 numbers the archived calls in the order they started and marks the answered one's "who" as due."""
    result = dict(rows)
    if "chats" in rows:
        result["chats"] = [
            {
                **chat,
                "subscribed_at": chat.get("subscribed_at", chat["created_at"] if chat["subscribed"] else None),
                "records": chat.get("records", 0),
                "digest_weekly": chat.get("digest_weekly"),
                "sip": 0,
                **{"sla_minutes": None, "hours": None, "min_ring": 0, "board_message_id": None},
            }
            for chat in rows["chats"]
        ]
    if "users" in rows:
        result["users"] = [{**user, "ringing_cards": 1} for user in rows["users"]]
    if "calls" in rows and "id" in rows["calls"][0]:  # already numbered by m005
        result["calls"] = [
            {**call, "customer": call["dnid" if call["direction"] == "out" else "clid"]} for call in rows["calls"]
        ]
    elif "calls" in rows:
        ordered = sorted(rows["calls"], key=lambda call: call["started_at"])
        result["calls"] = [
            {
                "id": number,
                **{key: call[key] for key in ("vpbx_id", "direction", "clid", "dnid")},
                "customer": call["clid"],
                **{key: call[key] for key in ("status", "active", "started_at", "answered_at", "ended_at")},
                "member_id": None,
                "who_due": call["updated_at"] if call["status"] == "answered" else None,
                "who_tries": 0,
                "pending": 0,
                "updated_at": call["updated_at"],
            }
            for number, call in enumerate(ordered, start=1)
        ]
    if "calls" in result:
        result["calls"] = answers_of(result["calls"])
        result["call_hours"] = hours_of(result["calls"])
    return result


def answers_of(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What m006 gives each missed call (and its triggers keep): the customer's first answered call after it."""
    order = sorted(calls, key=lambda call: (call["started_at"], call["id"]))

    def answer(miss: dict[str, Any]) -> int | None:
        later = order[order.index(miss) + 1 :]
        return next((c["id"] for c in later if c["customer"] == miss["customer"] and c["status"] == "answered"), None)

    missed = [c for c in calls if c["direction"] == "in" and not c["active"] and c["status"] != "answered"]
    return [{**call, "answer_id": answer(call) if call in missed else None} for call in calls]


def hours_of(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What m006 adds up (and its triggers keep): each hour's figures per company number and member."""
    found: dict[tuple[int, str, int], dict[str, Any]] = {}
    for call in calls:
        inbound = call["direction"] == "in"
        key = (call["started_at"] // 3600 * 3600, call["dnid" if inbound else "clid"], call["member_id"] or 0)
        hour = found.setdefault(
            key,
            dict(zip(("hour", "company", "member"), key, strict=True))
            | {"inbound": 0, "answered": 0, "missed": 0, "outbound": 0, "talk": 0},
        )
        answered = call["status"] == "answered"
        hour["inbound"] += inbound
        hour["answered"] += inbound and answered
        hour["missed"] += inbound and not call["active"] and not answered
        hour["outbound"] += not inbound
        if call["answered_at"] is not None and call["ended_at"] is not None:
            hour["talk"] += max(0, call["ended_at"] - call["answered_at"])
    return [found[key] for key in sorted(found)]


V3_ROWS.update(
    {
        **V2_ROWS,
        "chats": [
            {**chat, "subscribed_at": chat["created_at"] if chat["subscribed"] else None} for chat in V2_ROWS["chats"]
        ],
    }
)
V4_ROWS.update({**V3_ROWS, "calls": [V4_CALL, V4_MISSED]})
V5_PLACED = {
    **upgraded(V4_ROWS)["calls"][1],
    "id": 3,
    "vpbx_id": "c" * 40,
    "direction": "out",
    "clid": "74950000000",
    "dnid": "79161234567",
    "started_at": 7_300,
    "answered_at": 7_310,
    "ended_at": 7_400,
    "member_id": 1,
    "who_due": None,
}
M008_COLUMNS = {"sla_minutes", "hours", "min_ring", "board_message_id"}
# Generated, kept by triggers, or added after m005.
LATER_COLUMNS = {"customer", "answer_id", "ringing_cards", "sip", *M008_COLUMNS}
V5_ROWS.update(
    {
        table: [{key: value for key, value in row.items() if key not in LATER_COLUMNS} for row in rows]
        for table, rows in {
            **{table: rows for table, rows in upgraded(V4_ROWS).items() if table != "call_hours"},
            "members_seen": [{"id": 1, "internal": "101", "name": "Анна"}],
            "calls": [*upgraded(V4_ROWS)["calls"], V5_PLACED],
        }.items()
    }
)


V6_ROWS.update(
    {
        table: [
            {k: v for k, v in row.items() if k not in {"customer", "answer_id", "ringing_cards", "sip", *M008_COLUMNS}}
            for row in rows
        ]
        for table, rows in upgraded(V5_ROWS).items()
        if table != "call_hours"
    }
)
V7_ROWS.update(
    {
        table: [{k: v for k, v in row.items() if k not in {"customer", "answer_id", *M008_COLUMNS}} for row in rows]
        for table, rows in upgraded(V6_ROWS).items()
        if table != "call_hours"
    }
)
V8_ROWS.update(
    {
        table: [{k: v for k, v in row.items() if k not in {"customer", "answer_id"}} for row in rows]
        for table, rows in upgraded(V7_ROWS).items()
        if table != "call_hours"
    }
)
V9_ROWS.update(
    {
        table: [{k: v for k, v in row.items() if k not in {"customer", "answer_id"}} for row in rows]
        for table, rows in upgraded(V8_ROWS).items()
        if table != "call_hours"
    }
)
V10_ROWS.update(
    {
        table: [{k: v for k, v in row.items() if k not in {"customer", "answer_id"}} for row in rows]
        for table, rows in upgraded(V9_ROWS).items()
        if table != "call_hours"
    }
)
V11_ROWS.update(
    {
        table: [{k: v for k, v in row.items() if k not in {"customer", "answer_id"}} for row in rows]
        for table, rows in upgraded(V10_ROWS).items()
        if table != "call_hours"
    }
)


@pytest.mark.parametrize("start", range(latest_version()))
def test_upgrades_from_every_earlier_version_keeping_the_data(start: int, db_path: Path) -> None:
    db = Database(db_path)
    migrate(db, upto=start, now=1)
    for table, rows in ROWS_BY_VERSION[start].items():
        for row in rows:
            columns = ", ".join(row)
            db.execute(f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' * len(row))})", list(row.values()))

    migrate(db, now=2)

    expected = {
        "alerts": [],
        "alert_calls": [],
        "calls": [],
        **{
            t: []
            for t in (
                "members_seen",
                "recordings",
                "record_posts",
                "contacts",
                "imports",
                "call_hours",
                "ringing_cards",
                "phones",
                "reminders",
                "ledger",
                "forgotten_calls",
                "customer_notes",
            )
        },
        **{t: [] for t in V1_ROWS},
        **upgraded(ROWS_BY_VERSION[start]),
    }
    assert dump(db) == expected
    assert list(db["_migrations"].rows) == [
        {"number": n, "name": name, "applied_at": 1 if n <= start else 2}
        for n, name in enumerate(MIGRATION_NAMES, start=1)
    ]
    fresh = Database(memory=True)
    migrate(fresh)
    assert schema(db) == schema(fresh)
    # And the upgraded data is usable through the API.
    storage = Storage(db)
    if start >= 1:
        assert storage.users.get(2).member_id == "m-7"  # type: ignore[union-attr]
        assert storage.alerts.record_missed(-100, "c1", "7911", "74950000000", 100, 110, now=120).is_new


def test_a_failing_migration_rolls_back_and_keeps_the_version(monkeypatch: pytest.MonkeyPatch) -> None:
    def m099_broken(db: Database) -> None:
        db.execute("CREATE TABLE half_done (x INTEGER)")
        raise RuntimeError("boom")

    monkeypatch.setattr(migrations_module, "MIGRATIONS", [*migrations_module.MIGRATIONS, m099_broken])
    db = Database(memory=True)
    with pytest.raises(RuntimeError, match="boom"):
        migrate(db, now=1)
    assert migrations_module.schema_version(db) == len(MIGRATION_NAMES)
    assert "half_done" not in db.table_names()
    assert not db.conn.in_transaction


def test_refuses_a_database_from_a_newer_version() -> None:
    db = Database(memory=True)
    migrate(db, now=1)
    db.execute("INSERT INTO _migrations VALUES (99, 'm099_future', 1)")
    with pytest.raises(SchemaTooNew):
        Storage(db)


def test_a_migration_failing_after_its_first_statement_leaves_no_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    # sqlite3's executescript (sqlite-utils' before 4.0) would COMMIT before its first statement: the column would
    # stay without its _migrations row, and every later start would fail on "duplicate column name".
    def m099_half(db: Database) -> None:
        migrations_module._script(
            db,
            """
            ALTER TABLE users ADD COLUMN x INTEGER;  -- applied; then (a ';' in a comment is not an end):
            SELECT no_such_function();
            """,
        )

    def m099_half_fixed(db: Database) -> None:
        migrations_module._script(db, "ALTER TABLE users ADD COLUMN x INTEGER; -- done")

    m099_half_fixed.__name__ = m099_half.__name__
    monkeypatch.setattr(migrations_module, "MIGRATIONS", [*migrations_module.MIGRATIONS, m099_half])
    db = Database(memory=True)
    with pytest.raises(sqlite3.OperationalError, match="no such function"):
        migrate(db, now=1)
    assert migrations_module.schema_version(db) == len(MIGRATION_NAMES)
    assert "x" not in db["users"].columns_dict
    assert not db.conn.in_transaction

    monkeypatch.setattr(migrations_module, "MIGRATIONS", [*migrations_module.MIGRATIONS[:-1], m099_half_fixed])
    assert migrate(db, now=2) == 99
    assert "x" in db["users"].columns_dict
    assert db.execute("SELECT name, applied_at FROM _migrations WHERE number = 99").fetchone() == ("m099_half", 2)


def test_m009_keeps_the_attempt_an_alert_held_as_its_first() -> None:
    db = Database(memory=True)
    migrate(db, upto=8, now=1)
    alert = "INSERT INTO alerts (chat_id, clid, first_at, last_at, created_at, updated_at, callback_outcome,"
    db.execute(
        alert + " callback_started_at, callback_name) VALUES (-1, '7916', 10, 10, 10, 10, 'no answer', 40, 'Ann')"
    )
    db.execute(alert + " callback_started_at, callback_name) VALUES (-1, '7903', 10, 10, 10, 10, 'failed', 50, 'Bob')")
    migrate(db, now=2)
    rows = db.execute("SELECT clid, attempts FROM alerts ORDER BY id").fetchall()
    assert rows == [("7916", '[[40,"Ann"]]'), ("7903", "[]")]
    assert [a.attempts for a in Storage(db).alerts.open_for(-1)] == [(Attempt(40, "Ann"),), ()]


def test_m010_writes_down_the_boards_posted_and_a_summary_marked_before_a_crash() -> None:
    db = Database(memory=True)
    migrate(db, upto=9, now=1)
    chat = "INSERT INTO chats (chat_id, subscribed, created_at, updated_at, board_message_id) VALUES (?, 1, 1, ?, ?)"
    db.execute(chat, (-1, 5, 42))
    db.execute(chat, (-2, 6, None))
    kv = "INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?)"
    db.execute(kv, ("alerts.held_summary.-2", "[3,4]", 7))  # the held alerts of a summary its crash left unknown
    db.execute(kv, ("alerts.held_summary.-9", "[5]", 8))  # of a chat that is gone: nothing to tell
    db.execute(kv, ("alerts.baseline", '{"at":1,"known":[]}', 9))
    migrate(db, upto=10, now=2)
    assert list(db.query("SELECT * FROM ledger ORDER BY id")) == [
        {"id": 1, "chat_id": -1, "kind": "board", "alert_ids": "[]", "message_id": 42, "retired_at": None,
         "created_at": 5, "updated_at": 5},
        {"id": 2, "chat_id": -2, "kind": "summary", "alert_ids": "[3,4]", "message_id": None, "retired_at": None,
         "created_at": 7, "updated_at": 7},
    ]  # fmt: skip
    assert [key for (key,) in db.execute("SELECT key FROM kv")] == ["alerts.baseline"]


def test_m011_counts_the_boards_posted_so_far_as_pinned() -> None:
    db = Database(memory=True)
    migrate(db, upto=10, now=1)
    db.execute("INSERT INTO chats (chat_id, subscribed, created_at, updated_at) VALUES (-1, 1, 1, 1)")
    ledger = (
        "INSERT INTO ledger (chat_id, kind, alert_ids, message_id, created_at, updated_at) VALUES (-1, ?, ?, ?, 2, 2)"
    )
    db.execute(ledger, ("board", "[]", 42))  # posted, and pinned right after (or refused) by the code before
    db.execute(ledger, ("board", "[]", None))  # a kill or a lost answer: no message known
    db.execute(ledger, ("summary", "[3]", 43))
    migrate(db, now=3)
    assert db.execute("SELECT kind, message_id, pin FROM ledger ORDER BY id").fetchall() == [
        ("board", 42, "pinned"), ("board", None, None), ("summary", 43, None)
    ]  # fmt: skip
    assert Storage(db).ledger.board_to_pin(-1) is None  # an upgrade pins nothing again
