"""Who did what: calls started, recordings fetched, users allowed or denied, chats subscribed."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

from storage._db import dumps, loads, write


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: int
    actor_id: int | None  # None: the bot itself (a job)
    action: str  # 'call.start', 'record.fetch', 'user.allow', 'user.deny', 'chat.subscribe', ...
    target: str | None
    details: Mapping[str, Any] = field(default_factory=dict)


class Audit:
    def __init__(self, db: Database) -> None:
        self._db = db

    def log(
        self,
        action: str,
        *,
        actor_id: int | None,
        target: str | int | None = None,
        details: Mapping[str, Any] | None = None,
        now: int,
    ) -> int:
        """Append an entry; returns its id. Never put secrets in ``details``."""
        with write(self._db) as conn:
            return append(conn, action, actor_id=actor_id, target=target, details=details, now=now)

    def amend(self, entry_id: int, details: Mapping[str, Any]) -> bool:
        """Merge ``details`` into an entry's (what became of a call that was logged before it started)."""
        with write(self._db) as conn:
            return amend(conn, entry_id, details)

    def recent(self, limit: int = 50, action: str | None = None) -> list[AuditEntry]:
        """Newest first."""
        where, params = ("WHERE action = ?", [action]) if action else ("", [])
        rows = self._db.query(f"SELECT * FROM audit {where} ORDER BY at DESC, id DESC LIMIT ?", [*params, limit])
        return [AuditEntry(**{**row, "details": loads(row["details"])}) for row in rows]


# The same, inside a transaction the caller holds (an erasure audits itself with what it erases).


def append(
    conn: sqlite3.Connection,
    action: str,
    *,
    actor_id: int | None,
    target: str | int | None = None,
    details: Mapping[str, Any] | None = None,
    now: int,
) -> int:
    cursor = conn.execute(
        "INSERT INTO audit (at, actor_id, action, target, details) VALUES (?, ?, ?, ?, ?)",
        (now, actor_id, action, None if target is None else str(target), dumps(dict(details or {}))),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def amend(conn: sqlite3.Connection, entry_id: int, details: Mapping[str, Any]) -> bool:
    cursor = conn.execute(
        "UPDATE audit SET details = json_patch(details, ?) WHERE id = ?", (dumps(dict(details)), entry_id)
    )
    return cursor.rowcount == 1
