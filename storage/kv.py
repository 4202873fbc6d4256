"""Small named state: the first-start baseline marker, the last balance state, the last digest per chat."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from storage._db import dumps, immediate, loads, write

_SET = (
    "INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?)"
    " ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
)
PROBE_BUSY_SECONDS = 0.2  # as long as the loop's own writes wait for another connection's lock (BUSY_TIMEOUT_MS)


class KV:
    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return default if row is None else loads(row[0])

    def set(self, key: str, value: Any, now: int) -> None:
        """Store any JSON-serialisable value."""
        with write(self._db) as conn:
            conn.execute(_SET, (key, dumps(value), now))

    def set_if_absent(self, key: str, value: Any, now: int) -> bool:
        """Set only if unset; True if this call set it (e.g. "the baseline was taken", exactly once)."""
        with write(self._db) as conn:
            cursor = conn.execute(
                "INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING",
                (key, dumps(value), now),
            )
            return cursor.rowcount == 1

    def swap(self, key: str, expected: Any, value: Any, now: int) -> bool:
        """Set ``key`` to ``value`` only while it holds ``expected``, in one statement (None on either side: unset);
        True if this call changed it: of two requests that saw the same value, one."""
        with write(self._db) as conn:
            if value is None:
                cursor = conn.execute("DELETE FROM kv WHERE key = ? AND value = ?", (key, dumps(expected)))
            else:
                cursor = conn.execute(
                    "INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE"
                    " SET value = excluded.value, updated_at = excluded.updated_at WHERE kv.value = ?",
                    (key, dumps(value), now, None if expected is None else dumps(expected)),
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


def write_probe(path: str | Path, key: str, now: int) -> None:
    """Set ``key`` to ``now`` in the database file at ``path``, on a connection of this thread's own (a worker's: the
    ``Storage`` belongs to the event loop's): whether the database takes writes. ``DatabaseBusy`` when another
    connection holds its write lock past the loop's busy timeout; other ``sqlite3.Error``s as they come."""
    uri = Path(path).resolve().as_uri() + "?mode=rw"  # the bot's database, never a new empty one
    conn = sqlite3.connect(uri, uri=True, timeout=PROBE_BUSY_SECONDS, isolation_level=None)
    try:
        with immediate(conn):
            conn.execute(_SET, (key, dumps(now), now))
    finally:
        conn.close()
