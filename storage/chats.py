"""Team chats subscribed to missed-call alerts, balance alerts and the daily digest."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from storage._db import dumps, loads, one, write
from storage.users import Language


@dataclass(frozen=True, slots=True)
class Chat:
    chat_id: int
    title: str | None
    subscribed: bool
    numbers: tuple[str, ...]  # company numbers to alert on; empty = all
    balance_alerts: bool
    digest_time: str | None  # 'HH:MM'
    language: Language | None
    created_at: int
    updated_at: int
    subscribed_at: int | None  # when it last began to get these alerts (re-subscribing or new numbers reset it)
    records: bool = False  # each answered call's recording is posted here
    digest_weekly: str | None = None  # 'HH:MM' on Mondays: the past week's report
    sip: bool = False  # told when a desk phone goes offline and comes back
    sla_minutes: int | None = None  # minutes to call a miss back (None: ALERT_SLA_MINUTES; 0: no deadline)
    hours: str | None = None  # business hours as JSON (None: always)
    min_ring: int = 0  # misses that rang less than this many seconds are not alerted
    board_message_id: int | None = None  # the pinned board of open alerts

    @property
    def since(self) -> int:
        """When the chat began to get its alerts as they stand now (its creation, before any subscribed_at)."""
        return self.subscribed_at or self.created_at

    def wants(self, dnid: str) -> bool:
        return not self.numbers or dnid in self.numbers


def _chat(row: dict[str, Any]) -> Chat:
    row.update(
        subscribed=bool(row["subscribed"]),
        balance_alerts=bool(row["balance_alerts"]),
        records=bool(row["records"]),
        sip=bool(row["sip"]),
        numbers=tuple(loads(row["numbers"])),
    )
    return Chat(**row)


class Chats:
    def __init__(self, db: Database) -> None:
        self._db = db

    def subscribe(
        self,
        chat_id: int,
        title: str | None,
        numbers: Iterable[str],
        balance: bool,
        now: int,
        records: bool = False,
        sip: bool = False,
        min_ring: int = 0,
    ) -> Chat:
        """Subscribe (or re-subscribe with new filters); keeps the digest time and language. ``min_ring``: misses
        that rang fewer seconds are not alerted here (0: every miss)."""
        listed = dumps(sorted({str(n) for n in numbers}))
        with write(self._db) as conn:
            cursor = conn.execute(
                """
                INSERT INTO chats
                    (chat_id, title, subscribed, numbers, balance_alerts, records, sip, min_ring,
                     created_at, updated_at, subscribed_at)
                VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (chat_id) DO UPDATE SET title = coalesce(excluded.title, title), subscribed = 1,
                    subscribed_at = CASE WHEN subscribed AND numbers = excluded.numbers
                        THEN subscribed_at ELSE excluded.subscribed_at END,
                    numbers = excluded.numbers, balance_alerts = excluded.balance_alerts, records = excluded.records,
                    sip = excluded.sip, min_ring = excluded.min_ring, updated_at = excluded.updated_at
                RETURNING *
                """,
                (chat_id, title, listed, int(balance), int(records), int(sip), int(min_ring), now, now, now),
            )
            row = one(cursor)
        assert row is not None
        return _chat(row)

    def unsubscribe(self, chat_id: int, now: int) -> bool:
        # The row stays: open alerts and their messages still refer to the chat.
        return self._set(chat_id, "subscribed = 0", (), now)

    def set_digest(self, chat_id: int, digest_time: str | None, now: int) -> bool:
        return self._set(chat_id, "digest_time = ?", (digest_time,), now)

    def set_weekly_digest(self, chat_id: int, digest_time: str | None, now: int) -> bool:
        return self._set(chat_id, "digest_weekly = ?", (digest_time,), now)

    def set_board(self, chat_id: int, message_id: int | None, now: int) -> bool:
        """The chat's board of open alerts is now message ``message_id`` (None: it has none)."""
        return self._set(chat_id, "board_message_id = ?", (message_id,), now)

    def recording_chats(self) -> list[Chat]:
        """Subscribed chats that want each answered call's recording."""
        return [
            _chat(row) for row in self._db.query("SELECT * FROM chats WHERE subscribed AND records ORDER BY chat_id")
        ]

    def sip_chats(self) -> list[Chat]:
        """Subscribed chats that want to hear when a desk phone goes offline and comes back."""
        return [_chat(row) for row in self._db.query("SELECT * FROM chats WHERE subscribed AND sip ORDER BY chat_id")]

    def set_language(self, chat_id: int, language: Language | None, now: int) -> bool:
        return self._set(chat_id, "language = ?", (language,), now)

    def move(self, old_chat_id: int, new_chat_id: int, now: int) -> bool:
        """A group became a supergroup (new chat id): its settings and alerts follow (ON UPDATE CASCADE)."""
        return self._set(old_chat_id, "chat_id = ?", (new_chat_id,), now)

    def get(self, chat_id: int) -> Chat | None:
        row = next(self._db.query("SELECT * FROM chats WHERE chat_id = ?", (chat_id,)), None)
        return None if row is None else _chat(row)

    def subscribed(self) -> list[Chat]:
        return [_chat(row) for row in self._db.query("SELECT * FROM chats WHERE subscribed ORDER BY chat_id")]

    def matching(self, dnid: str) -> list[Chat]:
        """Subscribed chats that want alerts for calls to company number ``dnid``."""
        return [
            _chat(row)
            for row in self._db.query(
                """
                SELECT * FROM chats WHERE subscribed AND (
                    json_array_length(numbers) = 0
                    OR EXISTS (SELECT 1 FROM json_each(chats.numbers) WHERE value = ?)
                ) ORDER BY chat_id
                """,
                (str(dnid),),
            )
        ]

    def _set(self, chat_id: int, assignment: str, params: tuple[Any, ...], now: int) -> bool:
        with write(self._db) as conn:
            cursor = conn.execute(
                f"UPDATE chats SET {assignment}, updated_at = ? WHERE chat_id = ?", (*params, now, chat_id)
            )
            return cursor.rowcount == 1

    def set_sla(self, chat_id: int, minutes: int | None, now: int) -> bool:
        """The chat's deadline for calling a miss back (None: ALERT_SLA_MINUTES). 0 turns deadlines off, for the
        chat's live alerts too (in the same transaction), so no reminder about them comes after it."""
        with write(self._db) as conn:
            cursor = conn.execute(
                "UPDATE chats SET sla_minutes = ?, updated_at = ? WHERE chat_id = ?", (minutes, now, chat_id)
            )
            if minutes == 0:
                conn.execute(
                    "UPDATE alerts SET deadline_at = NULL, updated_at = ?"  # not shown in the alert: no edit
                    " WHERE chat_id = ? AND state <> 'closed' AND deadline_at IS NOT NULL",
                    (now, chat_id),
                )
            return cursor.rowcount == 1

    def set_hours(self, chat_id: int, hours: dict[str, Any] | None, now: int) -> bool:
        """The chat's business hours, stored as JSON (None: always open)."""
        return self._set(chat_id, "hours = ?", (None if hours is None else dumps(hours),), now)
