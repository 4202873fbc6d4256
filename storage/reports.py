"""What reports, digests and exports ask of the call archive.

Plain functions of a ``sqlite3.Connection``, not a repository on ``Storage``: a month of calls takes a few hundred
milliseconds to add up, so a worker thread asks them on its own read connection (``reading``) while the bot's
loop goes on with its own.

The definitions every report, digest and export shares (decided once, here):

- A call's **customer** is the outside side of it (``calls.customer``); its **member** (``members_seen``) is the
  person who answered (inbound) or placed (outbound) it, None when not known. A number no member had (kept by the
  "who" step under the number itself: a /phone that is no member's) is nobody known: reports count people.
- **Answered**: status ``answered``. **Missed**: inbound, ended, not answered.
- A period's calls are those that started in [start, end); with company ``numbers`` given, only those through
  one of them (dialled by an inbound call, shown by an outbound one).
- Misses are grouped per customer into **episodes**: a customer's consecutive misses in the period that no
  answered call with them (either way) separates. An episode's outcome is decided by the first answered call
  with that customer after its last miss, looking past the period's end up to now, through any company number:
  outbound -> **called back** (time to call back: that call's start - the episode's first miss's end);
  inbound -> **answered later**. An episode no answered call decided is **closed** (``done``) when its last miss's
  alert was closed by hand (Done, in any chat), else **open** while its last miss is within its deadline (it ended
  after ``open_after``, which the caller works out from its deadline), else **lost** when there was no later call
  with the customer at all (no callback attempt, they never called again), else **unresolved** (tried, not reached).
- An episode called back is **its callbacker's**: the member who placed that call (``outcomes``' ``callbacks``).
- A miss is **short** when it rang (end - start) under a threshold the caller gives (``SHORT_RING_SECONDS``).
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple

from storage._db import dumps
from storage.calls import MISSED_SQL

HOUR = 3600
READ_BUSY_TIMEOUT_MS = 5_000  # a reader waits out a checkpoint; it is off the loop, nobody else waits for it

Outcome = Literal["called_back", "answered_later", "done", "open", "lost", "unresolved"]
AlertOutcome = Literal["called_back", "answered_later", "done", "open"]

_TALK = "CASE WHEN c.ended_at > c.answered_at THEN c.ended_at - c.answered_at ELSE 0 END"
# The member of ``members_seen m`` as a person (the module's docstring): their internal number and name, else NULL.
_PERSON = "CASE WHEN m.name <> m.internal THEN m.internal END"
_PERSON_NAME = "CASE WHEN m.name <> m.internal THEN m.name END"
_COMPANY = "CASE c.direction WHEN 'out' THEN c.clid ELSE c.dnid END"


def _after(later: str, call: str) -> str:
    """Call ``later`` is the same customer's, after ``call`` (a tie in seconds is broken by the row id)."""
    return (
        f"{later}.customer = {call}.customer AND {later}.started_at >= {call}.started_at"
        f" AND ({later}.started_at > {call}.started_at OR {later}.id > {call}.id)"
    )


@dataclass(frozen=True, slots=True)
class Tally:
    """The calls of one bucket of a period."""

    start: int
    end: int
    inbound: int
    answered: int  # inbound, answered
    missed: int
    outbound: int
    talk_seconds: int  # of every answered call, either way


@dataclass(frozen=True, slots=True)
class MemberTotals:
    internal: str | None  # None: the calls no person is known to have answered or placed
    name: str | None  # as it was at the member's latest call in the period
    answered: int  # inbound calls
    placed: int  # outbound calls, answered or not
    talk_seconds: int


@dataclass(frozen=True, slots=True)
class Episode:
    customer: str
    misses: tuple[int, ...]  # the missed calls' row ids, oldest first
    first_end: int  # when the first miss ended
    outcome: Outcome
    member_name: str | None  # who answered or placed the answered call that decided it; closed by hand: who closed it
    callback_seconds: int | None  # called back: from the first miss's end to the callback's start


class ExportRow(NamedTuple):
    """One row of ``/export``: a tuple, built a third of a million times for a month (a frozen dataclass cost 4 µs
    each, a second in all)."""

    call_id: int
    started_at: int
    direction: str
    customer: str
    customer_name: str | None  # from the customer book
    company_number: str
    status: str
    active: bool
    ring_seconds: int
    talk_seconds: int
    member_name: str | None
    alert: AlertOutcome | None  # the outcome of this call's alert (the most settled, if several chats had one)
    alert_name: str | None  # who called back or closed it (an answered callback closes it in the caller's name)


@contextmanager
def reading(path: str | Path) -> Iterator[sqlite3.Connection]:
    """A connection of this thread's own to the bot's database, read only, in one read transaction: the
    questions asked in it see one state of the archive however the poll writes meanwhile (WAL)."""
    # mode=rw: a path that is not the bot's database fails here rather than becoming a new empty one.
    uri = Path(path).resolve().as_uri() + "?mode=rw"
    conn = sqlite3.connect(uri, uri=True, timeout=READ_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        conn.execute("PRAGMA query_only = ON")
        conn.execute("BEGIN")
        yield conn
    finally:
        conn.close()


def _period(start: int, end: int, numbers: Sequence[str], tag: str = "") -> tuple[str, dict[str, Any]]:
    """The calls of [start, end) (through ``numbers`` if any) in SQL; ``tag`` names its bounds apart from another
    period's in the same query."""
    where = f"c.started_at >= :start{tag} AND c.started_at < :end{tag}"
    params: dict[str, Any] = {f"start{tag}": start, f"end{tag}": end}
    if numbers:
        where += f" AND {_COMPANY} IN (SELECT value FROM json_each(:numbers))"
        params["numbers"] = dumps(sorted(set(numbers)))
    return where, params


def _hours(start: int, end: int, numbers: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """``_period`` over ``call_hours h``: the hours that start in [start, end)."""
    where, params = _period(start, end, numbers)
    return where.replace("c.started_at", "h.hour").replace(_COMPANY, "h.company"), params


def _split(start: int, end: int) -> tuple[tuple[int, int] | None, list[tuple[int, int]]]:
    """[start, end) as the whole hours ``call_hours`` has added up, and the ragged ends (at most two, each under
    an hour: a period up to now, a zone's half hour) that are added up from the calls themselves."""
    first, last = -(-start // HOUR) * HOUR, end // HOUR * HOUR
    if first >= last:
        return None, [(start, end)]
    return (first, last), [(a, b) for a, b in ((start, first), (last, end)) if a < b]


def tallies(conn: sqlite3.Connection, edges: Sequence[int], numbers: Sequence[str] = ()) -> list[Tally]:
    """The calls counted per bucket [edges[i], edges[i + 1]) (the caller's hours or days, in its time zone)."""
    found = []
    for start, end in itertools.pairwise(edges):
        hours, ragged = _split(start, end)
        parts = []
        if hours is not None:
            where, params = _hours(*hours, numbers)
            parts.append(
                conn.execute(
                    "SELECT total(h.inbound), total(h.answered), total(h.missed), total(h.outbound), total(h.talk)"
                    f" FROM call_hours h WHERE {where}",
                    params,
                ).fetchone()
            )
        for piece in ragged:
            where, params = _period(*piece, numbers)
            parts.append(
                conn.execute(
                    f"""
                    SELECT count(*) FILTER (WHERE c.direction = 'in'),
                        count(*) FILTER (WHERE c.direction = 'in' AND c.status = 'answered'),
                        count(*) FILTER (WHERE {MISSED_SQL}),
                        count(*) FILTER (WHERE c.direction = 'out'),
                        total({_TALK})
                    FROM calls c WHERE {where}
                    """,
                    params,
                ).fetchone()
            )
        inbound, answered, missed, outbound, talk = (int(sum(column)) for column in zip(*parts, strict=True))
        found.append(Tally(start, end, inbound, answered, missed, outbound, talk))
    return found


def members(conn: sqlite3.Connection, start: int, end: int, numbers: Sequence[str] = ()) -> list[MemberTotals]:
    """Per member (by internal number), the inbound calls they answered, the calls they placed and the talk."""
    hours, ragged = _split(start, end)
    parts: list[str] = []
    params: dict[str, Any] = {}
    if hours is not None:
        where, params = _hours(*hours, numbers)
        parts.append(
            "SELECT h.member, max(h.hour), total(h.answered), total(h.outbound), total(h.talk)"
            f" FROM call_hours h WHERE {where} GROUP BY h.member"
        )
    for n, piece in enumerate(ragged):
        where, piece_params = _period(*piece, numbers, tag=str(n))
        params |= piece_params
        parts.append(
            "SELECT coalesce(c.member_id, 0), max(c.started_at), count(*) FILTER (WHERE c.direction = 'in'),"
            f" count(*) FILTER (WHERE c.direction = 'out'), total({_TALK})"
            f" FROM calls c WHERE {where} AND (c.direction = 'out' OR c.status = 'answered') GROUP BY c.member_id"
        )
    # Added up per member id first, then per internal number with the name of the latest hour or call (SQLite's
    # bare column rule: the one max()); within one hour a renamed member's names are not told apart.
    rows = conn.execute(
        f"""
        WITH per_id (id, last_at, answered, placed, talk) AS MATERIALIZED ({" UNION ALL ".join(parts)})
        SELECT {_PERSON}, {_PERSON_NAME}, max(p.last_at), total(p.answered), total(p.placed), total(p.talk)
        FROM per_id p LEFT JOIN members_seen m ON m.id = p.id GROUP BY {_PERSON}
        HAVING total(p.answered) + total(p.placed) > 0
        """,
        params,
    )
    return [
        MemberTotals(internal, name, int(answered), int(placed), int(talk))
        for internal, name, _, answered, placed, talk in rows
    ]


def _misses(where: str) -> str:
    """The period's misses, each with the first answered call after it (``answer_id``, kept by the archive's
    triggers): misses that share it are one episode."""
    return f"""
        misses AS MATERIALIZED (
            SELECT c.id, c.clid AS customer, c.started_at, c.ended_at, c.answer_id FROM calls c
            WHERE {where} AND {MISSED_SQL}
        )"""


# A miss with no answered call after it: is there any later call with the customer (tried, or they called again)?
_LATER = f"EXISTS (SELECT 1 FROM calls a WHERE {_after('a', 's')})"


@dataclass(frozen=True, slots=True)
class MemberCallbacks:
    internal: str | None  # None: callbacks nobody is known to have placed
    name: str | None  # as it was at the member's latest callback in the period
    called_back: int  # episodes their outbound call decided


@dataclass(frozen=True, slots=True)
class Outcomes:
    """The period's episodes added up (what a report shows of them)."""

    customers: int  # who had a miss
    called_back: int
    answered_later: int
    lost: int
    unresolved: int
    callback_waits: tuple[int, ...]  # seconds, one per episode called back, shortest first
    callbacks: tuple[MemberCallbacks, ...]  # who called back how many of them, the most first (nobody known last)
    # (its first miss's end, its wait) per episode called back, by that end: what a deadline counted in business
    # hours is measured by (the callback started at end + wait; a wait of 0 may also be one that started before)
    callback_spans: tuple[tuple[int, int], ...]
    done: int = 0  # closed by hand
    open: int = 0  # still within the deadline


def _closed_by_hand(conn: sqlite3.Connection, misses: Sequence[int]) -> dict[int, str | None]:
    """Those of ``misses`` (call ids) whose alert was closed by hand (Done, in any chat): call id -> who closed it.
    Each looked up by alert_calls' key (chat, call), for every chat there is: a few probes, not a month's scan."""
    rows = conn.execute(
        "SELECT c.id, max(a.closed_name) FROM json_each(?) j JOIN calls c ON c.id = j.value"
        " JOIN alert_calls ac ON ac.chat_id IN (SELECT chat_id FROM chats) AND ac.vpbx_id = c.vpbx_id"
        " JOIN alerts a ON a.id = ac.alert_id WHERE a.close_reason = 'done' GROUP BY c.id",
        (dumps(list(misses)),),
    )
    return dict(rows.fetchall())


def outcomes(
    conn: sqlite3.Connection, start: int, end: int, numbers: Sequence[str] = (), *, open_after: int | None = None
) -> Outcomes:
    """``episodes`` counted by outcome (a month has tens of thousands of them). One pass over the period's misses,
    oldest first, from their index alone; then one look-up per answer, and one per customer left unanswered (is there
    any later call?). No sort and no join over a month of calls."""
    where, params = _period(start, end, ())
    if numbers:  # a miss is inbound: its company number is the one dialled
        where += " AND c.dnid IN (SELECT value FROM json_each(:numbers))"
        params["numbers"] = dumps(sorted(set(numbers)))
    customers: set[str] = set()
    firsts: dict[int, tuple[tuple[int, int], int | None]] = {}  # answer -> its episode's first miss: (start, id), end
    # customer -> (start, id) and end of their last miss nothing answered
    unanswered: dict[str, tuple[tuple[int, int], int | None]] = {}
    rows = conn.execute(
        f"SELECT c.clid, c.answer_id, c.started_at, c.id, c.ended_at FROM calls c WHERE {where} AND {MISSED_SQL}",
        params,
    )
    for customer, answer_id, started_at, row_id, ended_at in rows:
        customers.add(customer)
        moment = (started_at, row_id)
        if answer_id is None:
            if customer not in unanswered or moment > unanswered[customer][0]:
                unanswered[customer] = (moment, ended_at)
        elif answer_id not in firsts or moment < firsts[answer_id][0]:
            firsts[answer_id] = (moment, ended_at)
    called_back, answered_later, spans = 0, 0, []
    by_member: dict[str | None, tuple[int, str | None, int]] = {}  # internal -> latest callback, its name, count
    answers = conn.execute(
        f"SELECT c.id, c.direction, c.started_at, {_PERSON}, {_PERSON_NAME} FROM calls c"
        " LEFT JOIN members_seen m ON m.id = c.member_id WHERE c.id IN (SELECT value FROM json_each(?))",
        (dumps(list(firsts)),),
    )
    for answer_id, direction, answered_start, internal, name in answers:
        if direction != "out":
            answered_later += 1
            continue
        called_back += 1
        latest, latest_name, count = by_member.get(internal, (answered_start, name, 0))
        if answered_start >= latest:
            latest, latest_name = answered_start, name
        by_member[internal] = (latest, latest_name, count + 1)
        first_end = firsts[answer_id][1]
        if first_end is not None:
            spans.append((first_end, max(0, answered_start - first_end)))
    closed = _closed_by_hand(conn, [row_id for (_, row_id), _ in unanswered.values()]) if unanswered else {}
    done = [customer for customer, ((_, row_id), _) in unanswered.items() if row_id in closed]
    still = [
        customer
        for customer, ((_, row_id), ended_at) in unanswered.items()
        if row_id not in closed and open_after is not None and (ended_at is None or ended_at > open_after)
    ]
    for customer in (*done, *still):
        del unanswered[customer]
    last = "json_extract(j.value, '$[1]')"
    (tried,) = conn.execute(
        "SELECT count(*) FROM json_each(?) j WHERE EXISTS (SELECT 1 FROM calls a"
        f" WHERE a.customer = json_extract(j.value, '$[0]') AND a.started_at >= {last}"
        f" AND (a.started_at > {last} OR a.id > json_extract(j.value, '$[2]')))",
        (dumps([[customer, *moment] for customer, (moment, _) in unanswered.items()]),),
    ).fetchone()
    lost = len(unanswered) - tried
    callbacks = sorted(
        (MemberCallbacks(internal, name, count) for internal, (_, name, count) in by_member.items()),
        key=lambda m: (m.internal is None, -m.called_back, m.name or ""),
    )
    spans.sort()
    waits = tuple(sorted(wait for _, wait in spans))
    return Outcomes(
        len(customers), called_back, answered_later, lost, tried, waits, tuple(callbacks), tuple(spans),
        done=len(done), open=len(still),
    )  # fmt: skip


def episodes(
    conn: sqlite3.Connection, start: int, end: int, numbers: Sequence[str] = (), *, open_after: int | None = None
) -> list[Episode]:
    """The period's misses grouped into episodes (see the module's docstring), by customer then time; a miss that
    ended after ``open_after`` is still within its deadline (None: every deadline has passed)."""
    where, params = _period(start, end, numbers)
    rows = conn.execute(
        f"""
        WITH {_misses(where)}
        SELECT s.id, s.customer, s.ended_at, s.answer_id, CASE WHEN s.answer_id IS NULL THEN {_LATER} END,
            a.direction, a.started_at, {_PERSON_NAME}
        FROM misses s LEFT JOIN calls a ON a.id = s.answer_id LEFT JOIN members_seen m ON m.id = a.member_id
        ORDER BY s.customer, s.started_at, s.id
        """,
        params,
    )
    groups: list[list[tuple[Any, ...]]] = []
    for row in rows:
        if not groups or (row[1], row[3]) != (groups[-1][0][1], groups[-1][0][3]):
            groups.append([])
        groups[-1].append(row)
    closed = _closed_by_hand(conn, [group[-1][0] for group in groups if group[0][3] is None])
    return [_episode(group, closed, open_after) for group in groups]


def _episode(misses: list[tuple[Any, ...]], closed: dict[int, str | None], open_after: int | None) -> Episode:
    first, last = misses[0], misses[-1]
    _, customer, first_end, answer_id, _, direction, answered_start, member_name = first
    ids = tuple(row[0] for row in misses)
    if answer_id is None:
        if last[0] in closed:
            return Episode(customer, ids, first_end, "done", closed[last[0]], None)
        outcome: Outcome
        if open_after is not None and (last[2] is None or last[2] > open_after):
            outcome = "open"
        else:
            outcome = "unresolved" if last[4] else "lost"
        return Episode(customer, ids, first_end, outcome, None, None)
    if direction == "out":
        wait = max(0, answered_start - first_end) if first_end is not None else None
        return Episode(customer, ids, first_end, "called_back", member_name, wait)
    return Episode(customer, ids, first_end, "answered_later", member_name, None)


def _misses_where(start: int, end: int, numbers: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """The period's misses as ``outcomes`` reads them (through the misses' covering index): a miss is inbound, its
    company number is the one dialled."""
    where, params = _period(start, end, ())
    if numbers:
        where += " AND c.dnid IN (SELECT value FROM json_each(:numbers))"
        params["numbers"] = dumps(sorted(set(numbers)))
    return f"{where} AND {MISSED_SQL}", params


def short_misses(conn: sqlite3.Connection, start: int, end: int, under: int, numbers: Sequence[str] = ()) -> int:
    """The period's misses that rang fewer than ``under`` seconds (a customer who hung up at once)."""
    where, params = _misses_where(start, end, numbers)
    (count,) = conn.execute(
        f"SELECT count(*) FROM calls c WHERE {where} AND c.ended_at - c.started_at < :under", {**params, "under": under}
    ).fetchone()
    return int(count)


@dataclass(frozen=True, slots=True)
class LostCustomer:
    """A lost episode (nobody got through to the customer, nor they to the company, ever since) as ``/lost`` shows
    it: a customer has at most one, their last."""

    customer: str
    name: str | None  # from the customer book
    attempts: int  # their misses in it
    first_at: int  # when the first of them started
    last_at: int  # when the last of them started


def lost(
    conn: sqlite3.Connection, start: int, end: int, numbers: Sequence[str] = (), *, open_after: int | None = None
) -> list[LostCustomer]:
    """The period's lost episodes (``episodes``), the most attempts first, then the most recent."""
    return lost_of(conn, episodes(conn, start, end, numbers, open_after=open_after))


def lost_of(conn: sqlite3.Connection, found: Sequence[Episode]) -> list[LostCustomer]:
    """The lost ones of ``found`` (``episodes``), as ``lost`` lists them."""
    chosen = [e for e in found if e.outcome == "lost"]
    rows = conn.execute(
        "SELECT c.id, c.started_at, k.name FROM calls c LEFT JOIN contacts k ON k.number = c.customer"
        " WHERE c.id IN (SELECT value FROM json_each(?))",
        (dumps([row_id for e in chosen for row_id in e.misses]),),
    )
    started: dict[int, int] = {}
    names: dict[int, str | None] = {}
    for row_id, started_at, name in rows:
        started[row_id], names[row_id] = started_at, name
    customers = [
        LostCustomer(e.customer, names[e.misses[0]], len(e.misses), started[e.misses[0]], started[e.misses[-1]])
        for e in chosen
    ]
    return sorted(customers, key=lambda c: (-c.attempts, -c.last_at, c.customer))


def export_count(conn: sqlite3.Connection, start: int, end: int, numbers: Sequence[str] = ()) -> int:
    """How many rows ``export_rows`` yields for the period (from the index on started_at alone)."""
    where, params = _period(start, end, numbers)
    (count,) = conn.execute(f"SELECT count(*) FROM calls c WHERE {where}", params).fetchone()
    return int(count)


def export_rows(conn: sqlite3.Connection, start: int, end: int, numbers: Sequence[str] = ()) -> Iterator[ExportRow]:
    """The period's calls, oldest first, one at a time (a month's export never holds them all)."""
    where, params = _period(start, end, numbers)
    # One pass over the period's alerts (any chat; the most settled outcome when several chats had one), joined to
    # the calls through an automatic index: alert_calls is keyed by chat first, a per-call look-up would scan it.
    rows = conn.execute(
        f"""
        WITH outcomes AS MATERIALIZED (
            SELECT ac.vpbx_id,
                min(CASE a.close_reason WHEN 'called_back' THEN 0 WHEN 'answered_later' THEN 1 WHEN 'done' THEN 2
                    ELSE 3 END) AS rank,
                a.close_reason, a.closed_name
            FROM alert_calls ac JOIN alerts a ON a.id = ac.alert_id
            WHERE ac.alert_id IS NOT NULL AND ac.started_at >= :start AND ac.started_at < :end
            GROUP BY ac.vpbx_id
        )
        SELECT c.id, c.started_at, c.direction, c.customer, k.name, {_COMPANY}, c.status, c.active,
            max(0, coalesce(c.answered_at, c.ended_at, c.started_at) - c.started_at), {_TALK}, m.name,
            o.rank, o.close_reason, o.closed_name
        FROM calls c
            LEFT JOIN members_seen m ON m.id = c.member_id
            LEFT JOIN contacts k ON k.number = c.customer
            LEFT JOIN outcomes o ON o.vpbx_id = c.vpbx_id
        WHERE {where} ORDER BY c.started_at, c.id
        """,
        params,
    )
    for row in rows:
        call_id, started_at, direction, customer, customer_name, company, status, active, ring, talk, member = row[:11]
        rank, close_reason, closed_name = row[11:]
        alert: AlertOutcome | None = None if rank is None else (close_reason or "open")
        yield ExportRow(
            call_id, started_at, direction, customer, customer_name, company, status, bool(active), ring, talk,
            member, alert, closed_name,
        )  # fmt: skip
