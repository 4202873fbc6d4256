"""Missed-call alerts: one per customer per chat while live, each missed call counted exactly once.

State machine: open -> calling (one manager claims the callback) -> open again (no answer / failed)
or closed (answered: 'called_back'); open or calling -> closed by Done ('done') or when the customer's
later call was answered ('answered_later'). Every change bumps ``version``; delivery records the version
it rendered, so a change racing with a send leaves the alert pending for another edit.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from sqlite_utils import Database

from storage._db import dumps, now_or_clock, one, write

AlertState = Literal["open", "calling", "closed"]
CallbackOutcome = Literal["answered", "no answer", "failed"]
CloseReason = Literal["done", "called_back", "answered_later"]
RecordOutcome = Literal["new", "merged", "duplicate"]


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    chat_id: int
    clid: str  # the customer's number
    dnid: str | None  # the company number they dialled (of the first missed call)
    state: AlertState
    missed_count: int
    first_at: int
    last_at: int
    ring_seconds: int | None  # of the last missed call
    message_id: int | None  # None until delivered
    version: int
    delivered_version: int
    dirty: bool  # needs a send (message_id None) or an edit (delivered_version < version)
    callback_by: int | None
    callback_name: str | None
    callback_started_at: int | None
    callback_call_id: str | None
    callback_vpbx_id: str | None
    callback_outcome: CallbackOutcome | None
    talk_seconds: int | None
    closed_by: int | None
    closed_name: str | None
    closed_at: int | None
    close_reason: CloseReason | None
    created_at: int
    updated_at: int
    owner_id: int | None = None  # who took it ("I'll take it")
    owner_name: str | None = None
    owned_at: int | None = None
    deadline_at: int | None = None  # when it is due to have been called back (the chat's /sla, business hours)
    held: bool = False  # seen outside the chat's business hours: in the summary when they begin
    attempts: tuple[Attempt, ...] = ()  # the call backs that reached nobody, oldest first
    summary: bool = False  # shown in a business-hours summary (``message_id``) beside that summary's other alerts


@dataclass(frozen=True, slots=True)
class Attempt:
    """A call back nobody answered: when it was placed and by whom."""

    at: int
    name: str | None


@dataclass(frozen=True, slots=True)
class RecordResult:
    alert_id: int | None  # None: a duplicate of a call marked known at the baseline
    outcome: RecordOutcome

    @property
    def is_new(self) -> bool:
        return self.outcome == "new"

    @property
    def is_duplicate(self) -> bool:
        return self.outcome == "duplicate"


@dataclass(frozen=True, slots=True)
class MissedCall:
    vpbx_id: str
    clid: str
    dnid: str | None
    started_at: int
    ended_at: int


def _from_row(row: dict[str, Any]) -> Alert:
    attempts = tuple(Attempt(at, name) for at, name in json.loads(row["attempts"]))
    flags = {flag: bool(row[flag]) for flag in ("dirty", "held", "summary")}
    return Alert(**{**row, **flags, "attempts": attempts})


def _alert(row: dict[str, Any] | None) -> Alert | None:
    return None if row is None else _from_row(row)


def _alerts(rows: Iterable[dict[str, Any]]) -> list[Alert]:
    return [_from_row(row) for row in rows]


def _record(conn: sqlite3.Connection, chat_id: int, call: MissedCall, now: int) -> RecordResult:
    """The body of record_missed, inside the caller's transaction."""
    key = (chat_id, str(call.vpbx_id))
    # DO NOTHING rather than OR IGNORE: only the (chat, call) key may be skipped, other violations raise.
    inserted = conn.execute(
        "INSERT INTO alert_calls (chat_id, vpbx_id, started_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        (*key, call.started_at),
    ).rowcount
    if not inserted:
        (known_alert,) = conn.execute(
            "SELECT alert_id FROM alert_calls WHERE chat_id = ? AND vpbx_id = ?", key
        ).fetchone()
        return RecordResult(known_alert, "duplicate")
    params = {
        "chat_id": chat_id,
        "clid": call.clid,
        "dnid": call.dnid,
        "started_at": call.started_at,
        "ring": max(0, call.ended_at - call.started_at),
        "now": now,
    }
    # Calls may be seen out of order: last_at/ring_seconds follow the latest call, first_at the earliest.
    merged = conn.execute(
        """
        UPDATE alerts SET missed_count = missed_count + 1,
            ring_seconds = CASE WHEN :started_at >= last_at THEN :ring ELSE ring_seconds END,
            first_at = min(first_at, :started_at), last_at = max(last_at, :started_at),
            version = version + 1, updated_at = :now
        WHERE chat_id = :chat_id AND clid = :clid AND state <> 'closed'
        RETURNING id
        """,
        params,
    ).fetchall()
    outcome: RecordOutcome = "merged" if merged else "new"
    if merged:
        alert_id = merged[0][0]
    else:
        alert_id = conn.execute(
            """
            INSERT INTO alerts (chat_id, clid, dnid, first_at, last_at, ring_seconds, created_at, updated_at)
            VALUES (:chat_id, :clid, :dnid, :started_at, :started_at, :ring, :now, :now)
            """,
            params,
        ).lastrowid
    conn.execute("UPDATE alert_calls SET alert_id = ? WHERE chat_id = ? AND vpbx_id = ?", (alert_id, *key))
    return RecordResult(alert_id, outcome)


def _same_claim(claim: Alert | None) -> str:
    return "" if claim is None else " AND callback_by = :claimed_by AND callback_started_at = :claimed_at"


def _claim_params(claim: Alert | None) -> dict[str, Any]:
    return {} if claim is None else {"claimed_by": claim.callback_by, "claimed_at": claim.callback_started_at}


class Alerts:
    def __init__(self, db: Database) -> None:
        self._db = db

    # --- the poll: new missed calls ---

    def record_missed(
        self,
        chat_id: int,
        vpbx_id: str,
        clid: str,
        dnid: str | None,
        started_at: int,
        ended_at: int,
        now: int,
    ) -> RecordResult:
        """Count missed call ``vpbx_id`` in ``chat_id`` once: merged into the customer's live alert or a new one."""
        with write(self._db) as conn:
            return _record(conn, chat_id, MissedCall(str(vpbx_id), clid, dnid, started_at, ended_at), now)

    def record_missed_many(self, chat_id: int, calls: Iterable[MissedCall], now: int) -> list[RecordResult]:
        """``record_missed`` for a batch in one transaction: one fsync instead of one per call (catching up
        after downtime). Pass calls oldest first."""
        with write(self._db) as conn:
            return [_record(conn, chat_id, call, now) for call in calls]

    def mark_known(self, chat_id: int, vpbx_ids: Iterable[str]) -> int:
        """Record calls as seen without alerting (the first-start baseline). Returns how many were new."""
        with write(self._db) as conn:
            cursor = conn.executemany(
                "INSERT INTO alert_calls (chat_id, vpbx_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                ((chat_id, str(vpbx_id)) for vpbx_id in vpbx_ids),
            )
            return cursor.rowcount

    def filter_new(self, chat_id: int, vpbx_ids: Iterable[str]) -> set[str]:
        """The ids not yet seen in ``chat_id``: one query, the ids passed as one JSON array (no variable limit)."""
        rows = self._db.execute(
            """
            SELECT value FROM json_each(?)
            WHERE NOT EXISTS (SELECT 1 FROM alert_calls WHERE chat_id = ? AND vpbx_id = value)
            """,
            (dumps([str(vpbx_id) for vpbx_id in vpbx_ids]), chat_id),
        )
        return {value for (value,) in rows}

    # --- delivery to the chat ---

    def pending_delivery(self, limit: int = 50, chat_id: int | None = None) -> list[Alert]:
        """Alerts never sent or changed since their last send, oldest first (``chat_id``: that chat's alone). Held
        alerts (missed outside the chat's business hours) wait for their summary (``release``)."""
        if chat_id is None:
            return _alerts(
                self._db.query("SELECT * FROM alerts WHERE dirty AND NOT held ORDER BY id LIMIT ?", (limit,))
            )
        return _alerts(
            self._db.query(
                "SELECT * FROM alerts WHERE dirty AND NOT held AND chat_id = ? ORDER BY id LIMIT ?", (chat_id, limit)
            )
        )

    def pending_chats(self) -> list[int]:
        """The chats with an alert ``pending_delivery``."""
        rows = self._db.execute("SELECT DISTINCT chat_id FROM alerts WHERE dirty AND NOT held ORDER BY chat_id")
        return [chat_id for (chat_id,) in rows.fetchall()]

    def mark_delivered(self, alert_id: int, message_id: int, version: int) -> bool:
        """Record that ``version`` was rendered into ``message_id``.

        If the alert changed meanwhile (``version`` is older than the current one) it stays pending, for another
        edit. Returns False for an unknown alert or a version from the future.
        """
        return bool(self.mark_delivered_many([(alert_id, message_id, version)]))

    def mark_delivered_many(self, shown: Iterable[tuple[int, int, int]]) -> int:
        """``mark_delivered`` of each (alert id, message id, version), all in one transaction: a summary's alerts move
        to its new message together. Returns how many were recorded."""
        with write(self._db) as conn:
            return sum(
                conn.execute(
                    """
                    UPDATE alerts SET message_id = :message_id, delivered_version = max(delivered_version, :version)
                    WHERE id = :id AND :version <= version
                    """,
                    {"id": alert_id, "message_id": message_id, "version": version},
                ).rowcount
                for alert_id, message_id, version in shown
            )

    # --- the Call back button ---

    def claim_callback(
        self, alert_id: int, user_id: int, name: str | None, now: int, *, owner_seen: int | None = None
    ) -> Alert | None:
        """open -> calling for ``user_id``; None if someone else claimed it first, it is closed, the same customer is
        already being called back from another chat's alert (one call per customer at a time), or someone other than
        the presser took it since the presser last saw it (``owner_seen``: its owner then, None for nobody)."""
        return self._change(
            """
            state = 'calling', callback_by = :user_id, callback_name = :name, callback_started_at = :now,
            callback_call_id = NULL, callback_vpbx_id = NULL, callback_outcome = NULL, talk_seconds = NULL
            """,
            "state = 'open' AND (owner_id IS NULL OR owner_id = :user_id OR owner_id = :owner_seen)"
            " AND NOT EXISTS (SELECT 1 FROM alerts other WHERE other.clid = alerts.clid AND other.state = 'calling')",
            {"id": alert_id, "user_id": user_id, "name": name, "now": now, "owner_seen": owner_seen},
        )

    # The callback's later steps name the claim they belong to (``claim``: the claimed alert), so a late
    # step of an earlier claim cannot change a newer one.

    def set_callback_call(
        self, alert_id: int, call_id: str, now: int | None = None, *, claim: Alert | None = None
    ) -> Alert | None:
        """The callback was started: remember the New-Tel call id to follow it."""
        return self._change(
            "callback_call_id = :call_id",
            "state = 'calling'" + _same_claim(claim),
            {"id": alert_id, "call_id": str(call_id), "now": now_or_clock(now), **_claim_params(claim)},
        )

    def callback_failed(self, alert_id: int, now: int, *, claim: Alert | None = None) -> Alert | None:
        """The callback could not be started: open again, the button is offered again."""
        return self._change(
            "state = 'open', callback_outcome = 'failed'",
            "state = 'calling'" + _same_claim(claim),
            {"id": alert_id, "now": now, **_claim_params(claim)},
        )

    def callback_finished(
        self,
        alert_id: int,
        answered: bool,
        talk_seconds: int | None,
        vpbx_id: str | None,
        now: int,
        *,
        claim: Alert | None = None,
    ) -> Alert | None:
        """The poll found how the callback ended: answered closes the alert, otherwise it is open again."""
        params = {"id": alert_id, "talk": talk_seconds, "vpbx_id": vpbx_id, "now": now, **_claim_params(claim)}
        if answered:
            return self._change(
                """
                state = 'closed', callback_outcome = 'answered', talk_seconds = :talk, callback_vpbx_id = :vpbx_id,
                close_reason = 'called_back', closed_by = callback_by, closed_name = callback_name, closed_at = :now
                """,
                "state = 'calling'" + _same_claim(claim),
                params,
            )
        return self._change(
            """
            state = 'open', callback_outcome = 'no answer', talk_seconds = :talk, callback_vpbx_id = :vpbx_id,
            attempts = json_insert(attempts, '$[#]', json_array(callback_started_at, callback_name))
            """,
            "state = 'calling'" + _same_claim(claim),
            params,
        )

    # --- closing ---

    def close(self, alert_id: int, reason: CloseReason, by: int | None, name: str | None, now: int) -> bool:
        """Close (Done pressed); False if already closed."""
        changed = self._change(
            "state = 'closed', close_reason = :reason, closed_by = :by, closed_name = :name, closed_at = :now",
            "state <> 'closed'",
            {"id": alert_id, "reason": reason, "by": by, "name": name, "now": now},
        )
        return changed is not None

    def close_answered_later(self, chat_id: int | None, clid: str, answered_at: int, now: int) -> list[int]:
        """The customer called again and was answered: close their open alerts missed before that call.

        ``chat_id`` None: in every chat. 'calling' alerts are left for the poll to resolve. Returns the ids.
        """
        chat_filter = "" if chat_id is None else "AND chat_id = :chat_id"
        with write(self._db) as conn:
            rows = conn.execute(
                f"""
                UPDATE alerts SET state = 'closed', close_reason = 'answered_later', closed_at = :answered_at,
                    version = version + 1, updated_at = :now
                WHERE clid = :clid AND state <> 'closed' AND state = 'open' AND last_at < :answered_at {chat_filter}
                RETURNING id
                """,
                {"clid": clid, "answered_at": answered_at, "now": now, "chat_id": chat_id},
            ).fetchall()
        return sorted(alert_id for (alert_id,) in rows)

    # --- reads ---

    def get(self, alert_id: int) -> Alert | None:
        return _alert(next(self._db.query("SELECT * FROM alerts WHERE id = ?", (alert_id,)), None))

    def by_message(self, chat_id: int, message_id: int) -> Alert | None:
        """The alert shown in this message, if any."""
        rows = self._db.query("SELECT * FROM alerts WHERE chat_id = ? AND message_id = ?", (chat_id, message_id))
        return _alert(next(rows, None))

    def of_calls(self, vpbx_ids: Iterable[str]) -> dict[str, Alert]:
        """The alert each of these calls is in (a missed call's), by call id; of a call alerted in several chats,
        the one furthest along (closed, then being called back, then the latest changed)."""
        rows = self._db.query(
            "SELECT ac.vpbx_id AS call, a.* FROM alert_calls ac JOIN alerts a ON a.id = ac.alert_id"
            " WHERE ac.chat_id IN (SELECT chat_id FROM chats) AND ac.vpbx_id IN (SELECT value FROM json_each(?))"
            " ORDER BY a.state = 'closed', a.state = 'calling', a.updated_at, a.id",
            (dumps(sorted(set(vpbx_ids))),),
        )
        found: dict[str, Alert] = {}
        for row in rows:  # the furthest along last
            call = row.pop("call")
            found[call] = _from_row(row)
        return found

    def calling(self) -> list[Alert]:
        """Alerts whose callback is in progress: the poll resolves their outcome."""
        return _alerts(self._db.query("SELECT * FROM alerts WHERE state = 'calling' ORDER BY id"))

    def live_customers(self, clids: Iterable[str]) -> dict[str, int]:
        """Those of ``clids`` with a live (open or calling) alert in any chat -> the earliest ``last_at`` among those
        alerts: only an answer after it can close one (``close_answered_later``)."""
        rows = self._db.execute(
            "SELECT clid, min(last_at) FROM alerts WHERE state <> 'closed'"
            " AND clid IN (SELECT value FROM json_each(?)) GROUP BY clid",
            (dumps(sorted(set(clids))),),
        )
        return dict(rows.fetchall())

    def open_for(self, chat_id: int) -> list[Alert]:
        """The chat's live alerts (open or calling), least recent miss first."""
        return _alerts(
            self._db.query(
                "SELECT * FROM alerts WHERE chat_id = ? AND state <> 'closed' ORDER BY last_at, id", (chat_id,)
            )
        )

    def _change(self, assignments: str, guard: str, params: dict[str, Any]) -> Alert | None:
        """One guarded state change: the WHERE clause decides races (two presses: one row updated)."""
        with write(self._db) as conn:
            row = one(
                conn.execute(
                    f"UPDATE alerts SET {assignments}, version = version + 1, updated_at = :now"
                    f" WHERE id = :id AND {guard} RETURNING *",
                    params,
                )
            )
        return _alert(row)

    # --- deadlines and business hours (bot/alerts/deadlines.py, bot/alerts/held.py) ---

    def record_missed_scheduled(
        self,
        chat_id: int,
        calls: Iterable[MissedCall],
        now: int,
        schedule: Callable[[MissedCall], tuple[int | None, bool]],
    ) -> list[RecordResult]:
        """``record_missed_many``, each new alert stamped in the same transaction with ``schedule(call)``: its
        deadline and whether it is held for the business-hours summary. So no alert is ever posted before its
        hold is known, nor left without its deadline by a crash."""
        with write(self._db) as conn:
            results = []
            for call in calls:
                result = _record(conn, chat_id, call, now)
                if result.is_new:
                    deadline_at, held = schedule(call)
                    conn.execute(
                        "UPDATE alerts SET deadline_at = ?, held = ? WHERE id = ?",
                        (deadline_at, int(held), result.alert_id),
                    )
                results.append(result)
            return results

    def past_deadline(self, now: int, limit: int = 100) -> list[Alert]:
        """Live alerts whose deadline has passed and whose deadline reminder is not stored yet, shown in their
        chat (delivered, not held), the earliest deadline first."""
        return _alerts(
            self._db.query(
                """
                SELECT * FROM alerts
                WHERE deadline_at IS NOT NULL AND state <> 'closed' AND deadline_at <= ?
                    AND NOT held AND message_id IS NOT NULL
                    AND NOT EXISTS (SELECT 1 FROM reminders WHERE alert_id = alerts.id AND kind = 'deadline')
                ORDER BY deadline_at, id LIMIT ?
                """,
                (now, limit),
            )
        )

    def held_chats(self) -> list[int]:
        """The chats with live alerts held for their business-hours summary."""
        rows = self._db.execute(
            "SELECT DISTINCT chat_id FROM alerts WHERE state <> 'closed' AND held ORDER BY chat_id"
        ).fetchall()
        return [chat_id for (chat_id,) in rows]

    def held_for(self, chat_id: int) -> list[Alert]:
        """The chat's live held alerts, least recent miss first (one per customer, as every live alert)."""
        return _alerts(
            self._db.query(
                "SELECT * FROM alerts WHERE chat_id = ? AND state <> 'closed' AND held ORDER BY first_at, id",
                (chat_id,),
            )
        )

    def unhold(self, alert_ids: Iterable[int]) -> int:
        """Held -> pending delivery, each to get its own message with its buttons (a summary Telegram refused, or a
        chat the bot may not write to any more). An alert closed while held (answered later at night) stays held: nobody
        needs to hear of it in the morning."""
        with write(self._db) as conn:
            cursor = conn.execute(
                "UPDATE alerts SET held = 0 WHERE held AND state <> 'closed'"
                " AND id IN (SELECT value FROM json_each(?))",
                (dumps(sorted(set(alert_ids))),),
            )
            return cursor.rowcount

    def in_summary(self, chat_id: int, message_id: int) -> list[Alert]:
        """The alerts a summary shows, in its order (least recent miss first, as ``held_for`` gave them)."""
        return _alerts(
            self._db.query(
                "SELECT * FROM alerts WHERE chat_id = ? AND message_id = ? AND summary ORDER BY first_at, id",
                (chat_id, message_id),
            )
        )

    # --- the owner ("I'll take it": bot/alerts/buttons.py) ---

    def take(self, alert_id: int, user_id: int, name: str | None, now: int) -> Alert | None:
        """``user_id`` becomes the owner of a live alert nobody owns; None if someone (or they) owns it already or
        it is closed. The guard decides races: two presses, one owner."""
        return self._change(
            "owner_id = :user_id, owner_name = :name, owned_at = :now",
            "owner_id IS NULL AND state <> 'closed'",
            {"id": alert_id, "user_id": user_id, "name": name, "now": now},
        )

    def release_owner(self, alert_id: int, user_id: int, now: int) -> Alert | None:
        """The owner lets a live alert go; None if ``user_id`` does not own it (any more) or it is closed."""
        return self._change(
            "owner_id = NULL, owner_name = NULL, owned_at = NULL",
            "owner_id = :user_id AND state <> 'closed'",
            {"id": alert_id, "user_id": user_id, "now": now},
        )

    def release_all_of(self, user_id: int, now: int) -> list[int]:
        """Every live alert ``user_id`` owns is let go (they were removed); returns the ids, to be shown again.
        A closed alert keeps its owner: that is who had it."""
        with write(self._db) as conn:
            rows = conn.execute(
                """
                UPDATE alerts SET owner_id = NULL, owner_name = NULL, owned_at = NULL,
                    version = version + 1, updated_at = :now
                WHERE owner_id = :user_id AND state <> 'closed'
                RETURNING id
                """,
                {"user_id": user_id, "now": now},
            ).fetchall()
        return sorted(alert_id for (alert_id,) in rows)
