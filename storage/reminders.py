"""Reminders about alerts, stored so a restart neither loses nor repeats one: a callback reminder to its presser,
the deadline's reply in the group, the escalation to each admin.

One row per (alert, kind, user): ``arm`` never makes a second one, and ``mark_sent`` is taken before the message
goes out (due -> sent, one caller wins), so a crash between the two costs a reminder, never repeats it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from sqlite_utils import Database

from storage._db import dumps, one, write

ReminderKind = Literal["callback", "deadline", "escalation"]
ReminderState = Literal["due", "sent", "cancelled"]
CHAT = 0  # user_id of a reminder told in the alert's chat, not privately
ReminderKey = tuple[int, ReminderKind, int]  # (alert id, kind, user id)


@dataclass(frozen=True, slots=True)
class Reminder:
    alert_id: int
    kind: ReminderKind
    user_id: int  # who is reminded privately; CHAT (0): the alert's chat
    due_at: int
    state: ReminderState
    message_id: int | None
    created_at: int
    updated_at: int

    @property
    def key(self) -> ReminderKey:
        return (self.alert_id, self.kind, self.user_id)

    @staticmethod
    def key_of(alert_id: int, kind: ReminderKind, user_id: int) -> ReminderKey:
        return (alert_id, kind, user_id)


class Reminders:
    def __init__(self, db: Database) -> None:
        self._db = db

    def arm(self, alert_id: int, kind: ReminderKind, user_id: int, due_at: int, now: int) -> bool:
        """Store a reminder due at ``due_at``; False (and nothing changes) if this one exists already, whatever
        its state: a reminder is armed once."""
        with write(self._db) as conn:
            cursor = conn.execute(
                """
                INSERT OR IGNORE INTO reminders (alert_id, kind, user_id, due_at, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?)
                """,
                (alert_id, kind, user_id, due_at, now, now),
            )
            return cursor.rowcount == 1

    def due(self, now: int, limit: int = 100, kinds: Iterable[ReminderKind] | None = None) -> list[Reminder]:
        """Reminders due by ``now`` (of ``kinds``, or of every kind), the earliest first."""
        wanted = dumps(sorted(set(kinds))) if kinds is not None else None
        rows = self._db.query(
            """
            SELECT * FROM reminders WHERE state = 'due' AND due_at <= :now
                AND (:kinds IS NULL OR kind IN (SELECT value FROM json_each(:kinds)))
            ORDER BY due_at, alert_id, kind, user_id LIMIT :limit
            """,
            {"now": now, "kinds": wanted, "limit": limit},
        )
        return [Reminder(**row) for row in rows]

    def mark_sent(self, alert_id: int, kind: ReminderKind, user_id: int, now: int) -> bool:
        """due -> sent, before the message goes out; True only for the one call that did it."""
        return self._move(alert_id, kind, user_id, "due", "sent", now)

    def retry(self, alert_id: int, kind: ReminderKind, user_id: int, now: int) -> bool:
        """sent -> due again: Telegram surely did not take the message (refused before it, or asked to wait)."""
        return self._move(alert_id, kind, user_id, "sent", "due", now)

    def cancel(self, alert_id: int, kind: ReminderKind, user_id: int, now: int) -> bool:
        """A due reminder that is no longer wanted (its alert lost its deadline, its admin left)."""
        return self._move(alert_id, kind, user_id, "due", "cancelled", now)

    def set_message(self, alert_id: int, kind: ReminderKind, user_id: int, message_id: int, now: int) -> bool:
        """The message a sent reminder became."""
        with write(self._db) as conn:
            cursor = conn.execute(
                "UPDATE reminders SET message_id = ?, updated_at = ? WHERE alert_id = ? AND kind = ? AND user_id = ?",
                (message_id, now, alert_id, kind, user_id),
            )
            return cursor.rowcount == 1

    def cancel_for_alert(self, alert_id: int, now: int | None = None) -> int:
        """Every due reminder of the alert (it closed); returns how many."""
        with write(self._db) as conn:
            cursor = conn.execute(
                "UPDATE reminders SET state = 'cancelled', updated_at = coalesce(?, updated_at)"
                " WHERE alert_id = ? AND state = 'due'",
                (now, alert_id),
            )
            return cursor.rowcount

    def for_alert(self, alert_id: int) -> list[Reminder]:
        rows = self._db.query("SELECT * FROM reminders WHERE alert_id = ? ORDER BY kind, user_id", (alert_id,))
        return [Reminder(**row) for row in rows]

    def _move(
        self, alert_id: int, kind: ReminderKind, user_id: int, before: ReminderState, after: ReminderState, now: int
    ) -> bool:
        return bool(self._move_many([Reminder.key_of(alert_id, kind, user_id)], before, after, now))

    def _move_many(
        self, keys: Iterable[ReminderKey], before: ReminderState, after: ReminderState, now: int
    ) -> list[ReminderKey]:
        """``before`` -> ``after`` for those of ``keys`` in ``before``, in one transaction; returns those moved."""
        moved: list[ReminderKey] = []
        with write(self._db) as conn:
            for alert_id, kind, user_id in keys:
                cursor = conn.execute(
                    """
                    UPDATE reminders SET state = :after, updated_at = :now
                    WHERE alert_id = :alert_id AND kind = :kind AND user_id = :user_id AND state = :before
                    """,
                    {
                        "alert_id": alert_id,
                        "kind": kind,
                        "user_id": user_id,
                        "before": before,
                        "after": after,
                        "now": now,
                    },
                )
                if cursor.rowcount == 1:
                    moved.append((alert_id, kind, user_id))
        return moved

    # --- several at once: one message for several reminders (bot/alerts/deadlines.py) ---

    def mark_sent_many(self, keys: Iterable[ReminderKey], now: int) -> list[ReminderKey]:
        """``mark_sent`` of each, all or none (one transaction); returns those this call took."""
        return self._move_many(keys, "due", "sent", now)

    def retry_many(self, keys: Iterable[ReminderKey], now: int) -> list[ReminderKey]:
        """``retry`` of each, all or none."""
        return self._move_many(keys, "sent", "due", now)

    def set_message_many(self, keys: Iterable[ReminderKey], message_id: int, now: int) -> None:
        """The one message these sent reminders became."""
        with write(self._db) as conn:
            conn.executemany(
                "UPDATE reminders SET message_id = ?, updated_at = ? WHERE alert_id = ? AND kind = ? AND user_id = ?",
                [(message_id, now, *key) for key in keys],
            )

    # --- asked for again (a callback reminder: bot/alerts/reminders.py) ---

    def rearm(self, alert_id: int, kind: ReminderKind, user_id: int, due_at: int, now: int) -> Reminder:
        """Due at ``due_at`` whatever became of an earlier one of the same key: a new request replaces the last
        (its message, if any, is no longer the reminder's)."""
        with write(self._db) as conn:
            row = one(
                conn.execute(
                    """
                    INSERT INTO reminders (alert_id, kind, user_id, due_at, created_at, updated_at)
                    VALUES (:alert_id, :kind, :user_id, :due_at, :now, :now)
                    ON CONFLICT (alert_id, kind, user_id) DO UPDATE SET
                        due_at = excluded.due_at, state = 'due', message_id = NULL, updated_at = excluded.updated_at
                    RETURNING *
                    """,
                    {"alert_id": alert_id, "kind": kind, "user_id": user_id, "due_at": due_at, "now": now},
                )
            )
        assert row is not None
        return Reminder(**row)

    def get(self, alert_id: int, kind: ReminderKind, user_id: int) -> Reminder | None:
        rows = self._db.query(
            "SELECT * FROM reminders WHERE alert_id = ? AND kind = ? AND user_id = ?", (alert_id, kind, user_id)
        )
        row = next(rows, None)
        return None if row is None else Reminder(**row)

    def shown_of_closed(self, kind: ReminderKind, limit: int = 100) -> list[Reminder]:
        """Sent reminders of ``kind`` still on screen (their message known) whose alert has closed since."""
        rows = self._db.query(
            """
            SELECT reminders.* FROM reminders JOIN alerts ON alerts.id = reminders.alert_id
            WHERE reminders.state = 'sent' AND reminders.message_id IS NOT NULL AND reminders.kind = ?
                AND alerts.state = 'closed'
            ORDER BY reminders.alert_id LIMIT ?
            """,
            (kind, limit),
        )
        return [Reminder(**row) for row in rows]

    def forget_message(self, alert_id: int, kind: ReminderKind, user_id: int, now: int) -> bool:
        """The reminder's message no longer acts (its buttons are gone): its presses count for nothing."""
        with write(self._db) as conn:
            cursor = conn.execute(
                "UPDATE reminders SET message_id = NULL, updated_at = ?"
                " WHERE alert_id = ? AND kind = ? AND user_id = ?",
                (now, alert_id, kind, user_id),
            )
            return cursor.rowcount == 1

    def cancel_for_user(self, user_id: int, kind: ReminderKind, now: int) -> int:
        """Every due reminder of ``kind`` for ``user_id`` (they were removed); returns how many."""
        with write(self._db) as conn:
            cursor = conn.execute(
                "UPDATE reminders SET state = 'cancelled', updated_at = ?"
                " WHERE user_id = ? AND kind = ? AND state = 'due'",
                (now, user_id, kind),
            )
            return cursor.rowcount
