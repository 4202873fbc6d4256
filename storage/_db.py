"""Connection helpers shared by the repositories: transactions and JSON columns."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlite_utils import Database


@contextmanager
def write(db: Database) -> Iterator[sqlite3.Connection]:
    """One short write transaction.

    BEGIN IMMEDIATE takes the write lock up front: a deferred transaction that reads and then writes
    fails with SQLITE_BUSY on the lock upgrade when another connection wrote in between, and
    busy_timeout does not help there. Taking the lock first makes read-then-write steps atomic.
    """
    conn = db.conn
    if conn.in_transaction:
        raise RuntimeError("storage calls do not nest; a transaction is already open")
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def now_or_clock(now: int | None) -> int:
    return int(time.time()) if now is None else now


def dumps(value: Any) -> str:
    # Compact and stable, so equal values are equal strings.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def one(cursor: sqlite3.Cursor) -> dict[str, Any] | None:
    """The next row of ``cursor`` as a dict (works inside a transaction, unlike ``db.query``'s savepoint)."""
    # fetchall, not fetchone: a RETURNING statement must be stepped to the end before COMMIT.
    rows = all_rows(cursor)
    return rows[0] if rows else None


def all_rows(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
