"""Requests for access, shown to the admins until one of them decides."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlite_utils import Database

from storage._db import loads, one, write

RequestStatus = Literal["pending", "approved", "denied"]


@dataclass(frozen=True, slots=True)
class AccessRequest:
    id: int
    telegram_id: int
    first_name: str | None
    username: str | None
    phone: str | None
    matched_member_id: str | None
    status: RequestStatus
    admin_messages: tuple[tuple[int, int], ...]  # (chat_id, message_id) to edit after the decision
    created_at: int
    decided_by: int | None
    decided_at: int | None


def _request(row: dict[str, Any]) -> AccessRequest:
    messages = tuple((int(chat), int(message)) for chat, message in loads(row.pop("admin_messages")))
    return AccessRequest(admin_messages=messages, **row)


class AccessRequests:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create_or_get_pending(
        self, telegram_id: int, first_name: str | None, username: str | None, now: int
    ) -> tuple[AccessRequest, bool]:
        """The user's pending request, created if there is none. Returns (request, created)."""
        with write(self._db) as conn:
            # The partial unique index allows one pending request per user; DO NOTHING (not OR IGNORE)
            # so that CHECK and NOT NULL violations still raise.
            cursor = conn.execute(
                """
                INSERT INTO access_requests (telegram_id, first_name, username, created_at)
                VALUES (?, ?, ?, ?)
                ON CONFLICT (telegram_id) WHERE status = 'pending' DO NOTHING
                """,
                (telegram_id, first_name, username, now),
            )
            created = cursor.rowcount == 1
            row = one(
                conn.execute(
                    "SELECT * FROM access_requests WHERE telegram_id = ? AND status = 'pending'", (telegram_id,)
                )
            )
        assert row is not None
        return _request(row), created

    def attach_phone(self, request_id: int, phone: str, matched_member_id: str | None) -> AccessRequest | None:
        """Record the contact the user shared; None if the request is no longer pending."""
        return self._update(
            "UPDATE access_requests SET phone = ?, matched_member_id = ? WHERE id = ? AND status = 'pending'",
            (phone, matched_member_id, request_id),
        )

    def add_admin_message(self, request_id: int, chat_id: int, message_id: int) -> AccessRequest | None:
        # json_insert appends in SQL, so two admins' messages added at once are both kept.
        return self._update(
            "UPDATE access_requests SET admin_messages = json_insert(admin_messages, '$[#]', json_array(?, ?))"
            " WHERE id = ?",
            (chat_id, message_id, request_id),
        )

    def decide(self, request_id: int, status: Literal["approved", "denied"], by: int, now: int) -> bool:
        """Approve or deny; False if it was already decided (two admins pressing at once: one wins)."""
        if status not in ("approved", "denied"):
            raise ValueError(f"not a decision: {status!r}")
        with write(self._db) as conn:
            cursor = conn.execute(
                "UPDATE access_requests SET status = ?, decided_by = ?, decided_at = ?"
                " WHERE id = ? AND status = 'pending'",
                (status, by, now, request_id),
            )
            return cursor.rowcount == 1

    def withdraw(self, request_id: int) -> bool:
        """Drop a pending request no admin was shown (the user is told to ask again); False if it was shown."""
        with write(self._db) as conn:
            cursor = conn.execute(
                "DELETE FROM access_requests WHERE id = ? AND status = 'pending' AND admin_messages = '[]'",
                (request_id,),
            )
            return cursor.rowcount == 1

    def get(self, request_id: int) -> AccessRequest | None:
        row = next(self._db.query("SELECT * FROM access_requests WHERE id = ?", (request_id,)), None)
        return None if row is None else _request(row)

    def pending(self) -> list[AccessRequest]:
        return [
            _request(row)
            for row in self._db.query("SELECT * FROM access_requests WHERE status = 'pending' ORDER BY id")
        ]

    def _update(self, sql: str, params: tuple[Any, ...]) -> AccessRequest | None:
        with write(self._db) as conn:
            row = one(conn.execute(sql + " RETURNING *", params))
        return None if row is None else _request(row)
