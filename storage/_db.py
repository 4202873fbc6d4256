"""Connection helpers shared by the repositories: transactions and JSON columns."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlite_utils import Database

log = logging.getLogger("storage")


class DatabaseBusy(sqlite3.OperationalError):
    """Another connection (a backup, a second instance) held the write lock past the busy timeout: nothing was
    written. The storage logs each episode of it once; those who catch it only say so to the person waiting."""


@dataclass
class _Episode:
    since: float  # time.monotonic() of its first refusal
    refused: int = 0


# Per database file, while its writes are refused: since when and how many, whichever connection was refused (the
# loop's, or a worker thread's own).
_locked: dict[str, _Episode] = {}
_locked_guard = threading.Lock()


def _file(conn: sqlite3.Connection) -> str:
    (_, _, path), *_ = conn.execute("PRAGMA database_list").fetchall()  # main comes first; "" in memory
    return str(path)


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction on ``conn`` (in autocommit mode), committed at the end, rolled back on an error.

    BEGIN IMMEDIATE takes the write lock up front: a deferred transaction that reads and then writes
    fails with SQLITE_BUSY on the lock upgrade when another connection wrote in between, and
    busy_timeout does not help there. Taking the lock first makes read-then-write steps atomic.
    A lock held elsewhere past ``conn``'s busy timeout is ``DatabaseBusy``: nothing was written.
    """
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:
        if error.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            raise
        with _locked_guard:
            episode = _locked.setdefault(_file(conn), _Episode(time.monotonic()))
            episode.refused += 1
        if episode.refused == 1:
            log.warning("The database is locked by another connection: writes are refused until it lets go")
        raise DatabaseBusy(*error.args) from error
    if _locked:  # an episode may be over: a short look only while one lasts
        with _locked_guard:
            ended = _locked.pop(_file(conn), None)
        if ended is not None:
            waited = time.monotonic() - ended.since
            log.info("The database takes writes again (%d refused in %.0f s)", ended.refused, waited)
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextmanager
def write(db: Database) -> Iterator[sqlite3.Connection]:
    """One short write transaction on the storage's own connection (``immediate``)."""
    if db.conn.in_transaction:
        raise RuntimeError("storage calls do not nest; a transaction is already open")
    with immediate(db.conn) as conn:
        yield conn


def owned_like_directory(file: int | str | Path, directory: Path) -> None:
    """Give ``file`` (a path or an open descriptor) the owner and group of ``directory``, where allowed (as root).

    A command run as root (``restore``, ``backup``) beside a bot that runs as its own user must not leave it a file it
    cannot open: a root-owned lock file or database stops the bot at its next start."""
    owner = os.stat(directory)
    made = os.stat(file)
    if (made.st_uid, made.st_gid) != (owner.st_uid, owner.st_gid):
        with suppress(PermissionError):  # not root: the file is the caller's, as it should be
            os.chown(file, owner.st_uid, owner.st_gid)


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
