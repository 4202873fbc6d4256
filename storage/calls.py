"""The call archive: every call the bot observed, past New-Tel's 24 hours. Written only where a call changed.

Each write marks the call ``pending``: the features (alerts, callbacks, recordings) take the pending calls and
settle them once they have recorded what they decided, so a crash in between makes them take the call again
(their own records are exactly-once) rather than lose it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import Any

from sqlite_utils import Database

from storage._db import dumps, write

WHO_TRIES = 5  # asking New-Tel who answered a call: attempts before the call is left without a name


@dataclass(frozen=True, slots=True)
class CallRecord:
    """A call as the archive keeps it (times in Unix seconds). ``member``/``member_name`` (who answered or placed
    it, the name as it was then) come from the archive, not from New-Tel's list, so they take no part in
    comparing an observed call with the archived one."""

    vpbx_id: str
    direction: str  # "in" or "out"
    clid: str
    dnid: str
    status: str  # "answered" or "no answer"
    active: bool
    started_at: int
    answered_at: int | None
    ended_at: int | None
    member: str | None = field(default=None, compare=False)  # an internal number
    member_name: str | None = field(default=None, compare=False)

    @property
    def customer(self) -> str:
        """The outside side of the call."""
        return self.dnid if self.direction == "out" else self.clid

    @property
    def company(self) -> str:
        """The company's side of the call: the number dialled for inbound, the caller id for outbound."""
        return self.clid if self.direction == "out" else self.dnid

    @property
    def is_missed(self) -> bool:
        return self.direction == "in" and not self.active and self.status != "answered"

    @property
    def talk_seconds(self) -> int:
        if self.answered_at is None or self.ended_at is None:
            return 0
        return max(0, self.ended_at - self.answered_at)

    @property
    def needs_who(self) -> bool:
        """Ended, and somebody of the company answered or placed it."""
        return not self.active and (self.direction == "out" or self.status == "answered")


@dataclass(frozen=True, slots=True)
class CallChange:
    """What the ingest found: a call new to the archive (``before`` None) or one that changed since."""

    call: CallRecord
    before: CallRecord | None

    @property
    def ended(self) -> bool:
        """It ended with this change (or was first seen already over)."""
        return not self.call.active and (self.before is None or self.before.active)


@dataclass(frozen=True, slots=True)
class CustomerSummary:
    """One customer's calls in the archive, at a glance: the card, the caller's story."""

    number: str
    calls_in: int
    calls_out: int
    recent: int  # calls (either way) that started at or after the ``since`` asked for
    first_at: int | None
    last_talk: CallRecord | None  # the latest answered call, either way
    unreturned: int  # inbound misses since the last talk (all of them if they never talked)

    @property
    def is_new(self) -> bool:
        return self.calls_in + self.calls_out == 0


JOURNAL_SCAN = 20_000  # calls a journal page looks through at most for a filter no index serves (~15 ms)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """A call as the journal lists it, with the customer's name."""

    call: CallRecord
    name: str | None  # from the customer book


@dataclass(frozen=True, slots=True)
class JournalPage:
    entries: list[JournalEntry]
    resume: tuple[int, int] | None  # (started_at, row id) to go on from; None: nothing older matches


def _entries(rows: Sequence[Sequence[Any]]) -> list[JournalEntry]:
    return [JournalEntry(_record(row[:-2]), row[-1]) for row in rows]


def _resume(rows: Sequence[Sequence[Any]], limit: int) -> tuple[int, int] | None:
    """After a full page, its last call: the next page starts below it."""
    return (rows[-1][6], rows[-1][-2]) if len(rows) == limit else None


_OBSERVED = [f.name for f in fields(CallRecord) if f.compare]
_observed = attrgetter(*_OBSERVED)  # a call's observed values in column order (astuple deep-copies: 100 µs a call)
_SELECT = ", ".join(f"c.{name}" for name in _OBSERVED) + ", m.internal, m.name"
_FROM = "calls c LEFT JOIN members_seen m ON m.id = c.member_id"
# "This call is missed" in SQL, over ``calls c`` (the one rule, as CallRecord.is_missed says it in Python).
MISSED_SQL = "c.direction = 'in' AND NOT c.active AND c.status <> 'answered'"
_KINDS: dict[str, str] = {
    "all": "1",
    "missed": MISSED_SQL,
    "in": "c.direction = 'in'",
    "out": "c.direction = 'out'",
    "active": "c.active",
}


def _forgotten(conn: sqlite3.Connection, ids: str) -> set[str]:
    """Those of ``ids`` (a JSON array) that are calls of a forgotten customer."""
    rows = conn.execute("SELECT vpbx_id FROM forgotten_calls WHERE vpbx_id IN (SELECT value FROM json_each(?))", (ids,))
    return {row[0] for row in rows}


def _record(row: Sequence[Any]) -> CallRecord:
    # Positional, in _SELECT's order: a customer's whole history is a thousand of these.
    vpbx_id, direction, clid, dnid, status, active, started_at, answered_at, ended_at, member, member_name = row
    return CallRecord(
        vpbx_id, direction, clid, dnid, status, bool(active), started_at, answered_at, ended_at, member, member_name
    )


class Calls:
    def __init__(self, db: Database) -> None:
        self._db = db

    def ingest(self, records: Sequence[CallRecord], now: int) -> list[CallChange]:
        """Write the ``records`` that differ from what the archive holds, in one transaction, each marked pending
        (and, once ended, due for "who"); returns those. A call of a customer an admin had forgotten is not taken
        back (``forgotten_calls``)."""
        if not records:
            return []
        ids = dumps([r.vpbx_id for r in records])
        query = f"SELECT {_SELECT} FROM {_FROM} WHERE c.vpbx_id IN (SELECT value FROM json_each(?))"
        stored = {row[0]: _record(row) for row in self._db.execute(query, (ids,))}
        forgotten = _forgotten(self._db.conn, ids)
        if all(stored.get(r.vpbx_id) == r or r.vpbx_id in forgotten for r in records):
            return []  # the usual poll: nothing changed, no write transaction at all
        with write(self._db) as conn:  # compared again under the write lock: another writer may have been first
            stored = {row[0]: _record(row) for row in conn.execute(query, (ids,))}
            forgotten = _forgotten(conn, ids)
            changes = [
                CallChange(r, stored.get(r.vpbx_id))
                for r in records
                if stored.get(r.vpbx_id) != r and r.vpbx_id not in forgotten
            ]
            columns = ", ".join(_OBSERVED)
            conn.executemany(
                f"INSERT INTO calls ({columns}, who_due, pending, updated_at)"
                f" VALUES ({', '.join('?' * len(_OBSERVED))}, ?, 1, ?)"
                " ON CONFLICT (vpbx_id) DO UPDATE SET "
                + ", ".join(f"{c} = excluded.{c}" for c in _OBSERVED[1:])
                + ", who_due = CASE WHEN member_id IS NULL THEN excluded.who_due END"
                ", pending = 1, updated_at = excluded.updated_at",
                [(*_observed(c.call), now if c.call.needs_who else None, now) for c in changes],
            )
        return changes

    def ended_since(self, since: int) -> list[str]:
        """The ids of the calls that started since ``since`` and are over, and of the calls forgotten (``ingest``
        never takes them back): the ingest need not look at any of them again."""
        rows = self._db.execute(
            "SELECT vpbx_id FROM calls WHERE started_at >= ? AND NOT active UNION SELECT vpbx_id FROM forgotten_calls",
            (since,),
        )
        return [row[0] for row in rows]

    def active_since(self, since: int) -> list[CallRecord]:
        """The calls that started since ``since`` and were still going on when last seen."""
        rows = self._db.execute(f"SELECT {_SELECT} FROM {_FROM} WHERE c.started_at >= ? AND c.active", (since,))
        return [_record(row) for row in rows]

    def pending(self, limit: int) -> list[CallRecord]:
        """Calls changed since the features last settled them, in the order they were first archived."""
        rows = self._db.execute(f"SELECT {_SELECT} FROM {_FROM} WHERE c.pending ORDER BY c.id LIMIT ?", (limit,))
        return [_record(row) for row in rows]

    def settle(self, vpbx_ids: Iterable[str]) -> None:
        """The features have recorded what these calls meant to them."""
        ids = dumps(list(vpbx_ids))
        with write(self._db) as conn:
            conn.execute(
                "UPDATE calls SET pending = 0 WHERE pending AND vpbx_id IN (SELECT value FROM json_each(?))", (ids,)
            )

    def who_due(self, now: int, limit: int) -> list[CallRecord]:
        """Ended calls whose member New-Tel should be asked about now, newest first (they matter most)."""
        rows = self._db.execute(
            f"SELECT {_SELECT} FROM {_FROM} WHERE c.who_due <= ? ORDER BY c.who_due DESC, c.id DESC LIMIT ?",
            (now, limit),
        )
        return [_record(row) for row in rows]

    def set_who(self, vpbx_id: str, internal: str, name: str) -> None:
        """Who answered or placed the call, with the member's name as it is now (so, as it was then)."""
        with write(self._db) as conn:
            conn.execute("INSERT OR IGNORE INTO members_seen (internal, name) VALUES (?, ?)", (internal, name))
            conn.execute(
                "UPDATE calls SET who_due = NULL,"
                " member_id = (SELECT id FROM members_seen WHERE internal = ? AND name = ?) WHERE vpbx_id = ?",
                (internal, name, vpbx_id),
            )

    def who_failed(self, vpbx_id: str, retry_at: int | None) -> None:
        """Asking failed: try again at ``retry_at``; after WHO_TRIES attempts (or ``retry_at`` None) give up."""
        with write(self._db) as conn:
            conn.execute(
                "UPDATE calls SET who_tries = who_tries + 1,"
                " who_due = CASE WHEN ? IS NULL OR who_tries + 1 >= ? THEN NULL ELSE ? END WHERE vpbx_id = ?",
                (retry_at, WHO_TRIES, retry_at, vpbx_id),
            )

    def who_tries(self, vpbx_id: str) -> int:
        row = self._db.execute("SELECT who_tries FROM calls WHERE vpbx_id = ?", (vpbx_id,)).fetchone()
        return 0 if row is None else int(row[0])

    def get(self, vpbx_id: str) -> CallRecord | None:
        row = self._db.execute(f"SELECT {_SELECT} FROM {_FROM} WHERE c.vpbx_id = ?", (vpbx_id,)).fetchone()
        return None if row is None else _record(row)

    def find(
        self,
        *,
        number: str | None = None,
        start: int | None = None,
        end: int | None = None,
        kind: str = "all",
        limit: int,
    ) -> list[CallRecord]:
        """Calls of one customer (``number``, international digits: either side of the call) and/or that started in
        [start, end), of one ``kind`` (all, missed, in, out, active), newest first."""
        window = {
            "number": number,
            "start": start if start is not None else 0,
            "end": end if end is not None else 2**62,
            "limit": limit,
        }
        where = f"c.started_at >= :start AND c.started_at < :end AND {_KINDS[kind]}"
        if number is not None:
            where += " AND c.customer = :number"
        rows = self._db.execute(
            f"SELECT {_SELECT} FROM {_FROM} WHERE {where} ORDER BY c.started_at DESC, c.id DESC LIMIT :limit", window
        )
        return [_record(row) for row in rows]

    def journal(
        self,
        *,
        kind: str = "all",
        start: int | None = None,
        end: int | None = None,
        member: str | None = None,
        customers: Sequence[str] | None = None,
        digits: Sequence[str] = (),
        before: tuple[int, int] | None = None,
        limit: int,
    ) -> JournalPage:
        """A page of calls, newest first: of one ``kind``, started in [start, end), answered or placed by the member
        with this internal number, of these ``customers`` (numbers) or whose number holds any of these ``digits``.

        Keyset paging: ``before`` is a page's ``resume`` (the (started_at, row id) it stopped at), so calls archived
        meanwhile neither repeat nor push any out. A filter no index serves (``member``, ``digits``) is applied to
        the next ``JOURNAL_SCAN`` calls at most: a page may then hold fewer than ``limit`` entries, and ``resume``
        says where to go on (a rare member's calls are not searched for through the whole archive at once)."""
        bounds, bound = ["1"], dict[str, Any](limit=limit, scan=JOURNAL_SCAN)
        if start is not None:
            bounds.append("c.started_at >= :start")
            bound["start"] = start
        if end is not None:
            bounds.append("c.started_at < :end")
            bound["end"] = end
        if before is not None:
            bounds.append("(c.started_at, c.id) < (:before_at, :before_id)")
            bound["before_at"], bound["before_id"] = before
        where = [*bounds, _KINDS[kind]]
        if member is not None:
            where.append("c.member_id IN (SELECT id FROM members_seen WHERE internal = :member)")
            bound["member"] = member
        if digits:
            where.append("(" + " OR ".join(f"instr(c.customer, :d{i}) > 0" for i in range(len(digits))) + ")")
            bound.update({f"d{i}": part for i, part in enumerate(digits)})
        select = f"SELECT {_SELECT}, c.id, k.name FROM {_FROM} LEFT JOIN contacts k ON k.number = c.customer"
        order = "ORDER BY c.started_at DESC, c.id DESC"
        if customers is not None:
            # Each customer's newest from their own index, merged: one IN list would sort all their calls.
            parts = []
            for index, number in enumerate(sorted(set(customers))):
                bound[f"n{index}"] = number
                parts.append(
                    f"SELECT * FROM ({select} WHERE {' AND '.join(where)} AND c.customer = :n{index} {order}"
                    " LIMIT :limit)"
                )
            if not parts:
                return JournalPage([], None)
            sql = " UNION ALL ".join(parts) + " ORDER BY 7 DESC, 12 DESC LIMIT :limit"  # started_at, id
            rows = self._db.execute(sql, bound).fetchall()
            return JournalPage(_entries(rows), _resume(rows, limit))
        if member is None and not digits:
            rows = self._db.execute(f"{select} WHERE {' AND '.join(where)} {order} LIMIT :limit", bound).fetchall()
            return JournalPage(_entries(rows), _resume(rows, limit))
        floor = self._db.execute(  # the last call this page may look at
            f"SELECT c.started_at, c.id FROM calls c WHERE {' AND '.join(bounds)} {order} LIMIT 1 OFFSET :scan - 1",
            bound,
        ).fetchone()
        if floor is not None:
            where.append("(c.started_at, c.id) >= (:floor_at, :floor_id)")
            bound["floor_at"], bound["floor_id"] = floor
        rows = self._db.execute(f"{select} WHERE {' AND '.join(where)} {order} LIMIT :limit", bound).fetchall()
        if len(rows) == limit or floor is None:
            return JournalPage(_entries(rows), _resume(rows, limit))
        return JournalPage(_entries(rows), (floor[0], floor[1]))  # the window ran out: go on below it

    def customer(self, number: str, since: int, before: int | None = None) -> CustomerSummary:
        """What the archive knows of one customer; ``before`` leaves out calls from then on (the call being
        alerted, say, so that its own story is about the calls before it)."""
        bound = {"number": number, "since": since, "before": before if before is not None else 2**62}
        mine = "c.customer = :number AND c.started_at < :before"
        # Each count from an index alone: a customer with 20,000 calls costs no table reads here.
        mine_in, mine_out = f"{mine} AND c.direction = 'in'", f"{mine} AND c.direction = 'out'"
        calls_in, calls_out, recent, first_at = self._db.execute(
            f"SELECT (SELECT count(*) FROM calls c WHERE {mine_in}), (SELECT count(*) FROM calls c WHERE {mine_out}),"
            f" (SELECT count(*) FROM calls c WHERE {mine} AND c.started_at >= :since),"
            f" (SELECT min(c.started_at) FROM calls c WHERE {mine})",
            bound,
        ).fetchone()
        talk = self._db.execute(
            f"SELECT {_SELECT} FROM {_FROM} WHERE {mine} AND c.answered_at IS NOT NULL AND NOT c.active"
            " ORDER BY c.started_at DESC LIMIT 1",
            bound,
        ).fetchone()
        last_talk = None if talk is None else _record(talk)
        (unreturned,) = self._db.execute(
            f"SELECT count(*) FROM calls c WHERE {mine} AND {_KINDS['missed']} AND c.started_at > :talked",
            {**bound, "talked": last_talk.started_at if last_talk else -1},
        ).fetchone()
        return CustomerSummary(number, calls_in, calls_out, recent, first_at, last_talk, unreturned)

    def prune(self, before: int, batch: int = 500) -> int:
        """Forget at most ``batch`` calls that started before ``before`` (small steps: the loop stays free)."""
        with write(self._db) as conn:
            return conn.execute(
                "DELETE FROM calls WHERE id IN (SELECT id FROM calls WHERE started_at < ? ORDER BY started_at LIMIT ?)",
                (before, batch),
            ).rowcount

    def let_go_of_forgotten(self, now: int) -> int:
        """Forget the ids of forgotten calls that New-Tel no longer has (``until`` passed): nothing can bring those
        back."""
        with write(self._db) as conn:
            return conn.execute("DELETE FROM forgotten_calls WHERE until <= ?", (now,)).rowcount

    def count(self) -> int:
        (found,) = self._db.execute("SELECT count(*) FROM calls").fetchone()
        return int(found)
