"""Small named state: the first-start baseline marker, the last balance state, the last digest per chat."""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from storage._db import dumps, loads, write


class KV:
    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return default if row is None else loads(row[0])

    def set(self, key: str, value: Any, now: int) -> None:
        """Store any JSON-serialisable value."""
        with write(self._db) as conn:
            conn.execute(
                "INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                (key, dumps(value), now),
            )

    def set_if_absent(self, key: str, value: Any, now: int) -> bool:
        """Set only if unset; True if this call set it (e.g. "the baseline was taken", exactly once)."""
        with write(self._db) as conn:
            cursor = conn.execute(
                "INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING",
                (key, dumps(value), now),
            )
            return cursor.rowcount == 1

    def delete(self, key: str) -> bool:
        with write(self._db) as conn:
            return conn.execute("DELETE FROM kv WHERE key = ?", (key,)).rowcount == 1

    def forget_older(self, prefix: str, before: int) -> int:
        """Forget the keys that begin with ``prefix`` and were last set before ``before``; returns how many."""
        with write(self._db) as conn:
            return conn.execute(
                "DELETE FROM kv WHERE substr(key, 1, ?) = ? AND updated_at < ?", (len(prefix), prefix, before)
            ).rowcount
