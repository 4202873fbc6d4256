"""Forgetting a customer (``storage.erasure``): every table that could hold their number is emptied of it, everyone
else's rows stay as they were, and the calls New-Tel still has are not taken back until it no longer has them."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

from storage import CallRecord, Storage
from storage.erasure import CALLS_PER_TRANSACTION, KEEP_IDS, Footprint, erase, footprint

CUSTOMER, OTHER, COMPANY = "79035551122", "79161234567", "74955325585"
NOW = 2_000_000_000
ADMIN = 7


def calls_of(customer: str, count: int, rng: random.Random, first_id: int) -> list[CallRecord]:
    """A customer's calls over the last ten days, in and out, answered and missed, oldest first."""
    found = []
    for n in range(count):
        started = NOW - 10 * 86_400 + n * (10 * 86_400 // count) + rng.randrange(60)
        direction = rng.choice(["in", "out"])
        talked = rng.random() < 0.6
        clid, dnid = (customer, COMPANY) if direction == "in" else (COMPANY, customer)
        found.append(
            CallRecord(f"{first_id + n:040x}", direction, clid, dnid, "answered" if talked else "no answer", False,
                       started, started + 5 if talked else None, started + 65)
        )  # fmt: skip
    return found


def rows(db: Any, table: str, where: str = "1", params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    return sorted(db.execute(f"SELECT * FROM [{table}] WHERE {where}", params).fetchall(), key=repr)


def call_hours_from_calls(db: Any) -> list[tuple[Any, ...]]:
    """``call_hours`` as the remaining calls add up (the triggers keep it so)."""
    found = db.execute(
        "SELECT started_at - started_at % 3600, CASE direction WHEN 'out' THEN clid ELSE dnid END,"
        " coalesce(member_id, 0), sum(direction = 'in'), sum(direction = 'in' AND status = 'answered'),"
        " sum(direction = 'in' AND NOT active AND status <> 'answered'), sum(direction = 'out'),"
        " sum(CASE WHEN ended_at > answered_at THEN ended_at - answered_at ELSE 0 END) FROM calls GROUP BY 1, 2, 3"
    ).fetchall()
    return sorted(found, key=repr)


def holding(db: Any, number: str) -> list[tuple[str, tuple[Any, ...]]]:
    tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return [(t, row) for t in tables for row in db.execute(f"SELECT * FROM [{t}]") if number[1:] in repr(row)]


def test_erase_takes_the_number_out_of_every_table_and_leaves_everyone_else(db_path: Path) -> None:
    rng = random.Random(5)
    storage = Storage.open(db_path)
    mine = calls_of(CUSTOMER, 2 * CALLS_PER_TRANSACTION + 17, rng, 0)  # three transactions' worth
    others = calls_of(OTHER, 300, rng, 10_000)
    storage.calls.ingest([*mine, *others], now=NOW)
    for call in rng.sample([c for c in mine + others if c.needs_who], 100):
        storage.calls.set_who(call.vpbx_id, "101", "Попов Сергей")
    mine_answered = next(c for c in mine if c.status == "answered")
    storage.recordings.keep(mine_answered.vpbx_id, "file-of-mine", now=NOW)
    storage.recordings.keep(next(c for c in others if c.status == "answered").vpbx_id, "file-of-other", now=NOW)
    storage.chats.subscribe(-1, "Sales", [], False, now=1)
    missed = [c for c in mine if c.is_missed]
    closed = storage.alerts.record_missed(-1, missed[0].vpbx_id, CUSTOMER, COMPANY, NOW - 60, NOW - 40, now=NOW)
    assert closed.alert_id is not None
    storage.alerts.close(closed.alert_id, "done", ADMIN, "Анна", now=NOW)
    live = storage.alerts.record_missed(-1, missed[-1].vpbx_id, CUSTOMER, COMPANY, NOW - 30, NOW - 10, now=NOW)
    assert live.alert_id is not None
    storage.reminders.rearm(live.alert_id, "callback", ADMIN, NOW + 600, NOW)
    theirs = storage.alerts.record_missed(-1, others[-1].vpbx_id, OTHER, COMPANY, NOW - 60, NOW - 40, now=NOW)
    assert theirs.alert_id is not None
    storage.reminders.rearm(theirs.alert_id, "callback", ADMIN, NOW + 600, NOW)
    storage.alerts.mark_known(-1, [mine[1].vpbx_id, others[1].vpbx_id])  # the first start's baseline
    storage.contacts.set(CUSTOMER, "Иван Петров", by=ADMIN, now=NOW)
    storage.contacts.set(OTHER, "Ольга", by=ADMIN, now=NOW)
    previewed = storage.contacts.imports.create(ADMIN, ADMIN, [(OTHER, "Ольга"), (CUSTOMER, "Иван")], now=NOW)
    applied = storage.contacts.imports.create(ADMIN, ADMIN, [(CUSTOMER, "Иван")], now=NOW)
    storage.contacts.imports.apply(applied.id, now=NOW)
    storage.kv.set(f"calls.asked:abroad:{ADMIN}:{CUSTOMER}", {"at": NOW, "about": CUSTOMER}, now=NOW)
    storage.kv.set("contact_offer:7:11", {"number": CUSTOMER, "name": "Иван"}, now=NOW)
    storage.kv.set("contact_removed:7:12", {"number": CUSTOMER, "name": "Иван", "created_at": 1}, now=NOW)
    storage.kv.set("contact_offer:7:13", {"number": OTHER, "name": "Ольга"}, now=NOW)
    storage.kv.set("calls.asked:abroad:7:790355511220", {"at": NOW, "about": "790355511220"}, now=NOW)  # a longer one
    request, _ = storage.access_requests.create_or_get_pending(99, "Eve", None, now=NOW)
    storage.access_requests.attach_phone(request.id, CUSTOMER, None)
    storage.audit.log("contact.set", actor_id=ADMIN, target=CUSTOMER, details={"name": "Иван", "before": None,
                      "origin": "command"}, now=NOW)  # fmt: skip
    storage.audit.log("call.start", actor_id=ADMIN, target=CUSTOMER, details={"src": "79160000000",
                      "caller_id": COMPANY, "origin": "card", "outcome": "started"}, now=NOW)  # fmt: skip
    storage.audit.log("something", actor_id=ADMIN, details={"numbers": [OTHER, CUSTOMER]}, now=NOW)
    storage.audit.log("contact.set", actor_id=ADMIN, target=OTHER, details={"name": "Ольга"}, now=NOW)
    db = storage.db
    others_ids = tuple(c.vpbx_id for c in others)

    def everyone_elses() -> dict[str, object]:
        return {
            "calls": rows(db.conn, "calls", f"vpbx_id IN ({','.join('?' * len(others))})", others_ids),
            "recordings": rows(db.conn, "recordings", "file_id = 'file-of-other'"),
            "alerts": rows(db.conn, "alerts", "clid = ?", (OTHER,)),
            "reminders": rows(db.conn, "reminders", "alert_id = ?", (theirs.alert_id,)),
            "contacts": rows(db.conn, "contacts", "number = ?", (OTHER,)),
            "kv": rows(db.conn, "kv", "key IN ('contact_offer:7:13', 'calls.asked:abroad:7:790355511220')"),
            "audit": rows(db.conn, "audit", "target = ?", (OTHER,)),
        }

    theirs_before = everyone_elses()
    first_at, last_at = mine[0].started_at, mine[-1].started_at
    expected = Footprint(len(mine), first_at, last_at, "Иван", 1, 2, 1, 1, 3 + 3 + 2 + 1)
    assert footprint(db_path, CUSTOMER) == expected

    assert erase(db_path, CUSTOMER, by=ADMIN, now=NOW) == expected

    assert holding(db, CUSTOMER) == [
        ("kv", ("calls.asked:abroad:7:790355511220", '{"about":"790355511220","at":2000000000}', NOW))
    ]  # another number that only begins with it
    assert footprint(db_path, CUSTOMER) == Footprint(0, None, None, None, 0, 0, 0, 0, 0)
    assert theirs_before == everyone_elses()
    assert rows(db.conn, "alert_calls") == [(-1, others[1].vpbx_id, None, None), (-1, others[-1].vpbx_id,
                                             theirs.alert_id, NOW - 60)]  # fmt: skip
    assert rows(db.conn, "recordings") == theirs_before["recordings"]
    assert rows(db.conn, "call_hours", "inbound OR answered OR missed OR outbound OR talk") == call_hours_from_calls(
        db.conn
    )
    assert [json.loads(r) for (r,) in db.execute("SELECT rows FROM imports ORDER BY id")] == [[[OTHER, "Ольга"]], []]
    assert storage.contacts.imports.get(previewed.id).size == 1  # type: ignore[union-attr]
    assert db.execute("SELECT phone FROM access_requests").fetchall() == [(None,)]
    redacted = [(e.action, e.target, dict(e.details)) for e in reversed(storage.audit.recent())]
    assert redacted == [
        ("contact.set", None, {"origin": "command", "forgotten": True}),
        ("call.start", None, {"src": "79160000000", "caller_id": COMPANY, "origin": "card", "outcome": "started",
                              "forgotten": True}),
        ("something", None, {"numbers": [OTHER], "forgotten": True}),
        ("contact.set", OTHER, {"name": "Ольга"}),
        ("customer.forget", None, {"calls": len(mine), "recordings": 1, "alerts": 2, "open_alerts": 1, "reminders": 1,
                                   "mentions": 9, "named": True, "noted": False, "done": True}),
    ]  # fmt: skip
    # Only the ids of the calls New-Tel may still have (two days), and for no longer than that.
    kept = dict(db.execute("SELECT vpbx_id, until FROM forgotten_calls").fetchall())
    assert kept == {c.vpbx_id: c.started_at + KEEP_IDS for c in mine if c.started_at + KEEP_IDS > NOW}
    assert 0 < len(kept) < len(mine)
    assert erase(db_path, CUSTOMER, by=ADMIN, now=NOW) == Footprint(0, None, None, None, 0, 0, 0, 0, 0)
    assert len(storage.audit.recent(action="customer.forget")) == 1  # nothing forgotten, nothing audited
    storage.close()


def test_the_calls_of_a_forgotten_customer_are_not_taken_back_until_new_tel_forgot_them(db_path: Path) -> None:
    storage = Storage.open(db_path)
    recent = CallRecord("a" * 40, "in", CUSTOMER, COMPANY, "no answer", False, NOW - 3_600, None, NOW - 3_580)
    older = replace(recent, vpbx_id="b" * 40, started_at=NOW - 3 * 86_400, ended_at=NOW - 3 * 86_400 + 20)
    ringing = replace(recent, vpbx_id="c" * 40, active=True, started_at=NOW - 10, ended_at=None)
    storage.calls.ingest([recent, older, ringing], now=NOW)
    erase(db_path, CUSTOMER, by=ADMIN, now=NOW)
    assert sorted(storage.calls.ended_since(NOW - 86_400)) == ["a" * 40, "c" * 40]  # the ingest's cache: not again
    ended = replace(ringing, active=False, ended_at=NOW + 5)
    assert storage.calls.ingest([recent, ended], now=NOW + 10) == []
    (later,) = storage.calls.ingest([replace(recent, vpbx_id="d" * 40, started_at=NOW + 20)], now=NOW + 30)
    assert later.before is None  # a call after the forget is a new one
    assert storage.calls.let_go_of_forgotten(NOW + KEEP_IDS - 3_601) == 0  # New-Tel may still have them
    assert storage.calls.let_go_of_forgotten(NOW + KEEP_IDS) == 2
    assert storage.db.execute("SELECT count(*) FROM forgotten_calls").fetchone() == (0,)
    storage.close()


def test_erase_forgets_the_note_on_a_customers_card_and_its_words_in_the_audit(db_path: Path) -> None:
    storage = Storage.open(db_path)
    storage.contacts.edit(CUSTOMER, name="", note="Просил счёт", by=ADMIN, now=NOW, origin="app")
    storage.contacts.edit(CUSTOMER, name="", note="Просил счёт, оплатит в пятницу", by=ADMIN, now=NOW, origin="app")
    storage.contacts.edit(OTHER, name="Ольга", note="VIP", by=ADMIN, now=NOW, origin="app")
    assert footprint(db_path, CUSTOMER) == Footprint(0, None, None, None, 0, 0, 0, 0, 2, noted=True)

    assert erase(db_path, CUSTOMER, by=ADMIN, now=NOW) == Footprint(0, None, None, None, 0, 0, 0, 0, 2, noted=True)

    assert holding(storage.db, CUSTOMER) == [] and storage.contacts.note(CUSTOMER) is None
    redacted = [(e.action, e.target, dict(e.details)) for e in reversed(storage.audit.recent())]
    assert redacted == [
        ("contact.note", None, {"origin": "app", "forgotten": True}),
        ("contact.note", None, {"origin": "app", "forgotten": True}),
        ("contact.set", OTHER, {"name": "Ольга", "before": None, "origin": "app"}),
        ("contact.note", OTHER, {"note": "VIP", "before": None, "origin": "app"}),
        ("customer.forget", None, {"calls": 0, "recordings": 0, "alerts": 0, "open_alerts": 0, "reminders": 0,
                                   "mentions": 2, "named": False, "noted": True, "done": True}),
    ]  # fmt: skip
    assert storage.contacts.note(OTHER) is not None
    assert footprint(db_path, CUSTOMER).empty
    storage.close()
