"""Forgetting a customer (``/forget``; 152-ФЗ and the GDPR's erasure on request): every row that holds their number.

Each table, and what becomes of its rows about the customer (the number as the archive writes it: international
digits):

- ``calls`` on the customer's side: deleted, oldest first (a delete's triggers then find none of the customer's calls
  before it to re-point), ``CALLS_PER_TRANSACTION`` to a transaction. The triggers take them out of ``call_hours``, as
  the retention's prune does, so reports stay the sums of the archive's calls. ``recordings`` (Telegram's file ids)
  and ``record_posts`` go with them (ON DELETE CASCADE), and so do each chat's ``alert_calls`` of them.
- ``forgotten_calls``: New-Tel's ids of those calls, until two days after each began, so the reconcile does not bring
  back what New-Tel keeps (a day of calls). Neither the number nor a digest of it is kept: ten digits are soon tried.
- ``alerts`` about the customer, open or closed: deleted, and their ``reminders`` and ``alert_calls`` with them, so no
  reminder or deadline comes about them and the board leaves them out at its next refresh.
- ``contacts``: the name; ``customer_notes``: the note on their card. ``imports``: the customer's rows in previews
  and applied files.
- ``kv``: every entry naming the number in its key or as a value (a save offer, an Undo, a question before a call
  abroad). ``access_requests``: a phone a stranger shared, blanked (the request stays).
- ``audit``: an entry about the number keeps what was done, by whom and when, without the number or the customer's
  name. The erasure itself is audited as ``customer.forget`` with what it counted, never the number.
- Nothing else holds a customer's number: ``users`` (the staff's own phones), ``chats`` and ``call_hours`` (company
  numbers), ``phones``, ``members_seen``, ``ringing_cards`` (call ids and a digest), ``ledger`` (alert ids). A staff
  member's or the company's own number is no customer's (``company_side``): ``/forget`` refuses it.

It runs in a worker thread on a connection of its own, with ``secure_delete`` on: what it deletes is overwritten in the
database file, not left in free space (the write-ahead log keeps older copies of those pages until a checkpoint
overwrites them). A crash or a lock past the timeout leaves part of it done; running it again does the rest.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storage import audit
from storage._db import dumps, immediate
from storage.contacts import WRITER_BUSY_TIMEOUT_MS
from storage.reports import reading

CALLS_PER_TRANSACTION = 200  # ~30 ms of deletes and their triggers: the loop's writes wait less than their 200 ms
# Between two transactions: a write of the loop's waiting meanwhile retries within 50 ms (SQLite's busy handler backs
# off 1, 2, 5, … 25, 50 ms), so it gets the lock here rather than lose the race to the next transaction.
PAUSE = 0.05
KEEP_IDS = 2 * 86_400  # seconds from a forgotten call's start during which the reconcile might bring it back

# The audit entries about the number: by their target, or a value of their details (a JSON string that is the number).
_AUDIT_ABOUT = (
    "(target = :number OR (instr(details, :quoted) > 0"
    " AND EXISTS (SELECT 1 FROM json_tree(audit.details) WHERE atom = :number)))"
)
_KV_ABOUT = (
    "((':' || key || ':') LIKE '%:' || :number || ':%'"
    " OR EXISTS (SELECT 1 FROM json_tree(kv.value) WHERE atom = :number))"
)
_IMPORT_NUMBER = "json_extract(value, '$[0]')"  # of a [number, name] row of an import
_IMPORT_ROWS = f"SELECT count(*) FROM imports, json_each(imports.rows) WHERE {_IMPORT_NUMBER} = :number"
# In an audit entry about the customer (contact.set, contact.note, …): their name or note.
_CUSTOMER_WORDS = ("name", "before", "note")


@dataclass(frozen=True, slots=True)
class Footprint:
    """What the bot holds of one customer (``footprint``), or what it forgot of them (``erase``)."""

    calls: int
    first_at: int | None  # when the first and the last of those calls began
    last_at: int | None
    name: str | None
    recordings: int
    alerts: int
    open_alerts: int
    reminders: int  # still to be sent
    mentions: int  # audit entries, import rows, other records naming the number
    noted: bool = False  # a note on their card

    @property
    def empty(self) -> bool:
        return not (self.calls or self.name or self.noted or self.alerts or self.reminders or self.mentions)


@dataclass(frozen=True, slots=True)
class CompanySide:
    """A number that is the company's own, not a customer's (``company_side``): erasing it would rewrite the company's
    records of its own work (which phone a call rang first, which number customers saw) and leave it where it is."""

    staff: str | None  # the name of the bot's user whose own phone it is; None: a number of the company


def company_side(path: str | Path, number: str) -> CompanySide | None:
    """Whose it is when ``number`` is not a customer's: a bot user's own phone (New-Tel's or the one they set with
    /phone), or a number of the company (dialled by its customers or shown to them). None for a customer."""
    with reading(path) as conn:
        params = _params(number)
        staff = conn.execute(
            "SELECT coalesce(member_name, display_name, CAST(telegram_id AS TEXT)) FROM users"  # as User.name
            " WHERE :number IN (personal_number, callback_phone) ORDER BY status <> 'active', telegram_id LIMIT 1",
            params,
        ).fetchone()
        if staff is not None:
            return CompanySide(staff[0])
        # call_hours holds the company's side of every archived call: a few rows an hour.
        if conn.execute("SELECT 1 FROM call_hours WHERE company = :number LIMIT 1", params).fetchone():
            return CompanySide(None)
    return None


def footprint(path: str | Path, number: str) -> Footprint:
    """What ``erase`` would forget now. For a worker thread: the audit is read whole."""
    with reading(path) as conn:
        params = _params(number)
        calls, first_at, last_at = conn.execute(
            "SELECT count(*), min(started_at), max(started_at) FROM calls WHERE customer = :number", params
        ).fetchone()
        (recordings,) = conn.execute(
            "SELECT count(*) FROM recordings r JOIN calls c ON c.id = r.call_id WHERE c.customer = :number", params
        ).fetchone()
        name = conn.execute("SELECT name FROM contacts WHERE number = :number", params).fetchone()
        noted = conn.execute("SELECT 1 FROM customer_notes WHERE number = :number", params).fetchone()
        alerts, open_alerts, reminders = _alerts(conn, params)
        return Footprint(
            calls, first_at, last_at, name[0] if name else None, recordings, alerts, open_alerts, reminders,
            _mentions(conn, params), noted is not None,
        )  # fmt: skip


def erase(path: str | Path, number: str, *, by: int, now: int) -> Footprint:
    """Forget the customer ``number`` (international digits) everywhere, audited as ``by``'s; returns what went.
    For a worker thread; ``DatabaseBusy`` when the lock is held past the timeout (what was done by then stays done)."""
    conn = sqlite3.connect(str(path), timeout=WRITER_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA secure_delete = ON")
        return _Erasure(conn, number, by, now).run()
    finally:
        conn.close()


def _params(number: str) -> dict[str, Any]:
    return {"number": number, "quoted": json.dumps(number)}


def _alerts(conn: sqlite3.Connection, params: dict[str, Any]) -> tuple[int, int, int]:
    """(alerts, those still open, reminders still to be sent) about the customer."""
    alerts, open_alerts = conn.execute(
        "SELECT count(*), coalesce(sum(state <> 'closed'), 0) FROM alerts WHERE clid = :number", params
    ).fetchone()
    (reminders,) = conn.execute(
        "SELECT count(*) FROM reminders r JOIN alerts a ON a.id = r.alert_id"
        " WHERE a.clid = :number AND r.state = 'due'",
        params,
    ).fetchone()
    return alerts, open_alerts, reminders


def _mentions(conn: sqlite3.Connection, params: dict[str, Any]) -> int:
    (found,) = conn.execute(
        f"SELECT (SELECT count(*) FROM audit WHERE {_AUDIT_ABOUT}) + (SELECT count(*) FROM kv WHERE {_KV_ABOUT})"
        f" + ({_IMPORT_ROWS})"
        " + (SELECT count(*) FROM access_requests WHERE phone = :number)",
        params,
    ).fetchone()
    return int(found)


def _without(value: Any, number: str) -> Any:
    """``value`` (an audit entry's details) without the number wherever it stands."""
    if isinstance(value, dict):
        return {key: _without(item, number) for key, item in value.items() if item != number}
    if isinstance(value, list):
        return [_without(item, number) for item in value if item != number]
    return value


class _Erasure:
    def __init__(self, conn: sqlite3.Connection, number: str, by: int, now: int) -> None:
        self._conn, self._number, self._by, self._now = conn, number, by, now
        self._params = _params(number)
        self._entry: int | None = None  # the customer.forget audit entry, written with the first change
        self._counts: dict[str, Any] = {"calls": 0, "recordings": 0}
        self._first_at: int | None = None
        self._last_at: int | None = None

    def run(self) -> Footprint:
        while self._calls():
            time.sleep(PAUSE)  # a worker thread's: the loop's writes go in between
        # Read before the last transaction (the audit is read whole, nobody's writes waiting on it); entries written
        # since are looked for again under the lock.
        mentioned, seen = self._audit_entries(since=0)
        with immediate(self._conn) as conn:
            name = conn.execute("DELETE FROM contacts WHERE number = :number RETURNING name", self._params).fetchall()
            noted = conn.execute("DELETE FROM customer_notes WHERE number = :number", self._params).rowcount > 0
            alerts, open_alerts, reminders = _alerts(conn, self._params)
            conn.execute("DELETE FROM alerts WHERE clid = :number", self._params)  # reminders, alert_calls: cascade
            mentions = self._mentions(conn, mentioned + self._audit_entries(since=seen)[0])
            counts = {"alerts": alerts, "open_alerts": open_alerts, "reminders": reminders, "mentions": mentions}
            if name or noted or any(counts.values()) or self._entry is not None:
                self._audit(conn, {**counts, "named": bool(name), "noted": noted, "done": True})
        return Footprint(
            self._counts["calls"], self._first_at, self._last_at, name[0][0] if name else None,
            self._counts["recordings"], alerts, open_alerts, reminders, mentions, noted,
        )  # fmt: skip

    def _calls(self) -> bool:
        """Delete the customer's oldest calls, one transaction's worth; whether there may be more."""
        with immediate(self._conn) as conn:
            rows = conn.execute(
                "SELECT id, vpbx_id, started_at FROM calls WHERE customer = :number ORDER BY started_at, id LIMIT :n",
                {**self._params, "n": CALLS_PER_TRANSACTION},
            ).fetchall()
            if not rows:
                return False
            ids = dumps([row[0] for row in rows])
            (recordings,) = conn.execute(
                "SELECT count(*) FROM recordings WHERE call_id IN (SELECT value FROM json_each(?))", (ids,)
            ).fetchone()
            conn.executemany("DELETE FROM calls WHERE id = ?", [(row[0],) for row in rows])  # in that order
            kept = [(vpbx_id, started_at + KEEP_IDS) for _, vpbx_id, started_at in rows]
            conn.executemany(
                "INSERT INTO forgotten_calls (vpbx_id, until) VALUES (?, ?) ON CONFLICT DO NOTHING",
                [(vpbx_id, until) for vpbx_id, until in kept if until > self._now],  # older: New-Tel has them no more
            )
            conn.execute(
                "DELETE FROM alert_calls WHERE vpbx_id IN (SELECT value FROM json_each(?))",
                (dumps([row[1] for row in rows]),),
            )
            self._first_at = rows[0][2] if self._first_at is None else self._first_at
            self._last_at = rows[-1][2]
            self._counts["calls"] += len(rows)
            self._counts["recordings"] += recordings
            self._audit(conn, {})
            return len(rows) == CALLS_PER_TRANSACTION

    def _audit_entries(self, since: int) -> tuple[list[int], int]:
        """The audit entries about the number after entry ``since``, and the last entry looked at."""
        (last,) = self._conn.execute("SELECT coalesce(max(id), 0) FROM audit").fetchone()
        rows = self._conn.execute(
            f"SELECT id FROM audit WHERE id > :since AND id <= :last AND {_AUDIT_ABOUT}",
            {**self._params, "since": since, "last": last},
        ).fetchall()
        return [row[0] for row in rows], last

    def _mentions(self, conn: sqlite3.Connection, entries: list[int]) -> int:
        """Take the number out of the audit ``entries``, the import rows, kv and the access requests; how many."""
        found = 0
        for entry_id, target, details in conn.execute(
            "SELECT id, target, details FROM audit WHERE id IN (SELECT value FROM json_each(?))", (dumps(entries),)
        ).fetchall():
            kept = _without(json.loads(details), self._number)
            if target == self._number:  # about the customer: their name goes too
                kept = {key: value for key, value in kept.items() if key not in _CUSTOMER_WORDS}
            conn.execute(
                "UPDATE audit SET target = ?, details = ? WHERE id = ?",
                (None if target == self._number else target, dumps({**kept, "forgotten": True}), entry_id),
            )
            found += 1
        (rows,) = conn.execute(_IMPORT_ROWS, self._params).fetchone()
        conn.execute(
            "UPDATE imports SET rows = (SELECT json_group_array(json(value)) FROM json_each(imports.rows)"
            f" WHERE {_IMPORT_NUMBER} IS NOT :number)"
            f" WHERE EXISTS (SELECT 1 FROM json_each(imports.rows) WHERE {_IMPORT_NUMBER} = :number)",
            self._params,
        )
        found += int(rows)
        found += conn.execute(f"DELETE FROM kv WHERE {_KV_ABOUT}", self._params).rowcount
        found += conn.execute("UPDATE access_requests SET phone = NULL WHERE phone = :number", self._params).rowcount
        return found

    def _audit(self, conn: sqlite3.Connection, more: dict[str, Any]) -> None:
        """The customer.forget entry, written with the first change and brought up to date with each."""
        details = {**self._counts, **more}
        if self._entry is None:
            self._entry = audit.append(conn, "customer.forget", actor_id=self._by, details=details, now=self._now)
        else:
            audit.amend(conn, self._entry, details)
