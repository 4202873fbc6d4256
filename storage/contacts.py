"""The customer book: a name per customer number (international digits, as the archive writes them), and the
imports waiting for an admin's confirm."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlite_utils import Database

from storage import audit
from storage._db import dumps, immediate, write
from storage.reports import reading

WRITER_BUSY_TIMEOUT_MS = 5_000  # a worker thread's write waits out the loop's short ones; nobody waits on it

ImportState = Literal["previewed", "applied", "cancelled"]


@dataclass(frozen=True, slots=True)
class Contact:
    number: str
    name: str
    created_by: int | None
    updated_by: int | None
    created_at: int
    updated_at: int


@dataclass(frozen=True, slots=True)
class Note:
    """A manager's note on a customer (the Mini App's card)."""

    number: str
    text: str
    updated_by: int | None
    updated_at: int


@dataclass(frozen=True, slots=True)
class CardEdit:
    """What ``Contacts.edit`` changed: each field before and after (equal when it was left as it was)."""

    name_before: str | None
    name: str | None
    note_before: str | None
    note: str | None

    @property
    def changed(self) -> bool:
        return self.name_before != self.name or self.note_before != self.note


@dataclass(frozen=True, slots=True)
class ImportResult:
    added: int
    updated: int  # the name changed
    unchanged: int = 0  # already in the book under that name: not written


@dataclass(frozen=True, slots=True)
class Import:
    """A file read and previewed; its rows are applied when the admin who sent it confirms."""

    id: int
    by: int
    chat_id: int
    message_id: int | None
    state: ImportState
    size: int  # rows to apply
    created_at: int
    decided_at: int | None


_COLUMNS = "number, name, created_by, updated_by, created_at, updated_at"
_IMPORT_COLUMNS = "id, by, chat_id, message_id, state, json_array_length(rows), created_at, decided_at"
# A name that is already the one stored is not rewritten: its updated_at and updated_by stay as they were.
_ON_CONFLICT = (
    " ON CONFLICT (number) DO UPDATE SET name = excluded.name, folded = excluded.folded,"
    " updated_by = excluded.updated_by, updated_at = excluded.updated_at WHERE name <> excluded.name"
)
_UPSERT = (
    "INSERT INTO contacts (number, name, folded, created_by, updated_by, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)" + _ON_CONFLICT
)
# The rows of a JSON array of [number, name], one per number: a bare column beside max() is read from the row holding
# the maximum (SQLite's rule), so the last name given for a number wins.
_GIVEN = (
    "SELECT json_extract(value, '$[0]') AS number, json_extract(value, '$[1]') AS name, max(key)"
    " FROM json_each(:rows) GROUP BY 1"
)
_UPSERT_GIVEN = (
    "INSERT INTO contacts (number, name, folded, created_by, updated_by, created_at, updated_at)"
    f" SELECT number, name, fold(name), :by, :by, :now, :now FROM ({_GIVEN})"
    " WHERE true" + _ON_CONFLICT  # SQLite's parser: the ON below is the upsert's, not a join's
)


def _contact(row: Sequence[Any]) -> Contact:
    return Contact(*row)


def fold(text: str) -> str:
    """How names are compared when searched: any case, ё as е."""
    return text.casefold().replace("ё", "е")


def _names(conn: sqlite3.Connection, numbers: Iterable[str]) -> dict[str, str]:
    """The names of those of ``numbers`` the book knows (one query, however many)."""
    rows = conn.execute(
        "SELECT number, name FROM contacts WHERE number IN (SELECT value FROM json_each(?))",
        (dumps(sorted(set(numbers))),),
    )
    return dict(rows.fetchall())


def _upsert(conn: sqlite3.Connection, rows: str, by: int | None, now: int) -> ImportResult:
    """Write ``rows``, a JSON array of [number, name] (the last name of a number repeated wins), inside the caller's
    transaction. SQLite reads them from the JSON, so no Python object is built per row: an import of 20,000 rows
    makes no garbage collection at all, where its lists, tuples and dicts made a hundred and a full one (a full
    collection holds the event loop, whichever thread runs it: ``bot.interpreter``)."""
    conn.create_function("fold", 1, fold, deterministic=True)
    (added, unchanged, total) = conn.execute(
        f"WITH given AS ({_GIVEN}) SELECT count(*) FILTER (WHERE contacts.number IS NULL),"
        " count(*) FILTER (WHERE contacts.name = given.name), count(*)"
        " FROM given LEFT JOIN contacts USING (number)",
        {"rows": rows},
    ).fetchone()
    conn.execute(_UPSERT_GIVEN, {"rows": rows, "by": by, "now": now})
    return ImportResult(added=added, updated=total - added - unchanged, unchanged=unchanged)


class Contacts:
    def __init__(self, db: Database) -> None:
        self._db = db
        self.imports = Imports(db)

    def get(self, number: str) -> Contact | None:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM contacts WHERE number = ?", (number,)).fetchone()
        return None if row is None else _contact(row)

    def names(self, numbers: Iterable[str]) -> dict[str, str]:
        """The names of those of ``numbers`` the book knows (one query, however many)."""
        return _names(self._db.conn, numbers)

    def set(self, number: str, name: str, by: int | None, now: int) -> tuple[Contact | None, Contact]:
        """Name (or rename) a customer; returns (before, after). The name it already has is not rewritten."""
        with write(self._db) as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM contacts WHERE number = ?", (number,)).fetchone()
            conn.execute(_UPSERT, (number, name, fold(name), by, by, now, now))
            after = conn.execute(f"SELECT {_COLUMNS} FROM contacts WHERE number = ?", (number,)).fetchone()
        return (None if row is None else _contact(row)), _contact(after)

    def note(self, number: str) -> Note | None:
        row = self._db.execute(
            "SELECT number, note, updated_by, updated_at FROM customer_notes WHERE number = ?", (number,)
        ).fetchone()
        return None if row is None else Note(*row)

    def edit(self, number: str, *, name: str, note: str, by: int, now: int, origin: str) -> CardEdit:
        """Set a customer's name and note as a card's form gives them (empty: none), in one transaction with their
        audit entries, as the book's edits are audited: ``contact.set`` or ``contact.remove`` for the name,
        ``contact.note`` for the note. What is already so is neither rewritten nor audited."""
        with write(self._db) as conn:
            found = conn.execute("SELECT name FROM contacts WHERE number = ?", (number,)).fetchone()
            noted = conn.execute("SELECT note FROM customer_notes WHERE number = ?", (number,)).fetchone()
            edit = CardEdit(found[0] if found else None, name or None, noted[0] if noted else None, note or None)
            if edit.name != edit.name_before:
                if edit.name is None:
                    conn.execute("DELETE FROM contacts WHERE number = ?", (number,))
                    details: dict[str, Any] = {"name": edit.name_before, "origin": origin}
                    audit.append(conn, "contact.remove", actor_id=by, target=number, details=details, now=now)
                else:
                    conn.execute(_UPSERT, (number, edit.name, fold(edit.name), by, by, now, now))
                    details = {"name": edit.name, "before": edit.name_before, "origin": origin}
                    audit.append(conn, "contact.set", actor_id=by, target=number, details=details, now=now)
            if edit.note != edit.note_before:
                if edit.note is None:
                    conn.execute("DELETE FROM customer_notes WHERE number = ?", (number,))
                else:
                    conn.execute(
                        "INSERT INTO customer_notes (number, note, updated_by, updated_at) VALUES (?, ?, ?, ?)"
                        " ON CONFLICT (number) DO UPDATE SET note = excluded.note, updated_by = excluded.updated_by,"
                        " updated_at = excluded.updated_at",
                        (number, edit.note, by, now),
                    )
                details = {"note": edit.note, "before": edit.note_before, "origin": origin}
                audit.append(conn, "contact.note", actor_id=by, target=number, details=details, now=now)
        return edit

    def remove(self, number: str) -> Contact | None:
        """Forget a customer's name; returns what it was."""
        with write(self._db) as conn:
            row = conn.execute(f"DELETE FROM contacts WHERE number = ? RETURNING {_COLUMNS}", (number,)).fetchall()
        return _contact(row[0]) if row else None

    def restore(self, removed: Contact, by: int, now: int) -> bool:
        """Put back a customer ``remove`` returned, as they were first named (an undo); False when the number has been
        named again meanwhile (that name stays)."""
        with write(self._db) as conn:
            cursor = conn.execute(
                "INSERT INTO contacts (number, name, folded, created_by, updated_by, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (number) DO NOTHING",
                (removed.number, removed.name, fold(removed.name), removed.created_by, by, removed.created_at, now),
            )
            return cursor.rowcount == 1

    def search(self, text: str, limit: int, *, digits: Iterable[str] = ()) -> list[Contact]:
        """Contacts whose name contains ``text`` (any case) or whose number contains its digits or any of
        ``digits`` (other readings of what was typed), by name."""
        typed = "".join(ch for ch in text if ch.isdigit() and ch.isascii())
        wanted = sorted({part for part in (typed, *digits) if part})
        in_number = "".join(" OR instr(number, ?) > 0" for _ in wanted)
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM contacts WHERE instr(folded, ?) > 0{in_number} ORDER BY folded, number LIMIT ?",
            (fold(text.strip()), *wanted, limit),
        )
        return [_contact(row) for row in rows]

    def recent(self, limit: int) -> list[Contact]:
        """The most recently named or renamed customers, newest first."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM contacts ORDER BY updated_at DESC, folded, number LIMIT ?", (limit,)
        )
        return [_contact(row) for row in rows]

    def apply(self, rows: Sequence[tuple[str, str]], by: int | None, now: int) -> ImportResult:
        """Name many customers at once, in one transaction (an import): all of it or, on any failure, none."""
        with write(self._db) as conn:
            return _upsert(conn, dumps(list(rows)), by, now)

    def count(self) -> int:
        (found,) = self._db.execute("SELECT count(*) FROM contacts").fetchone()
        return int(found)


class Imports:
    """Import files read and previewed, waiting for the confirm of the admin who sent them."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, by: int, chat_id: int, rows: Sequence[tuple[str, str]], now: int) -> Import:
        """Stage ``rows`` for the confirm of ``by`` in ``chat_id``. The bot stages with ``stage_import``, off the
        loop."""
        with write(self._db) as conn:
            return _create(conn, by, chat_id, rows, now)

    def shown(self, import_id: int, message_id: int) -> None:
        """The preview with its buttons is this message of the import's chat."""
        with write(self._db) as conn:
            conn.execute("UPDATE imports SET message_id = ? WHERE id = ?", (message_id, import_id))

    def get(self, import_id: int) -> Import | None:
        row = self._db.execute(f"SELECT {_IMPORT_COLUMNS} FROM imports WHERE id = ?", (import_id,)).fetchone()
        return None if row is None else Import(*row)

    def apply(self, import_id: int, now: int) -> ImportResult | None:
        """Write a previewed import into the book and mark it applied, in one transaction: a crash leaves all of
        it or none, and a second confirm finds it applied and writes nothing (None). The bot applies with
        ``apply_import``, off the loop."""
        with write(self._db) as conn:
            return _apply(conn, import_id, now)

    def expire(self, before: int, now: int) -> int:
        """Previews staged before ``before`` and never decided are cancelled, and their rows let go."""
        with write(self._db) as conn:
            return conn.execute(
                "UPDATE imports SET state = 'cancelled', decided_at = ?, rows = '[]'"
                " WHERE state = 'previewed' AND created_at < ?",
                (now, before),
            ).rowcount

    def cancel(self, import_id: int, now: int) -> bool:
        """Drop a previewed import (its rows are not kept); False when it was already decided."""
        with write(self._db) as conn:
            cursor = conn.execute(
                "UPDATE imports SET state = 'cancelled', decided_at = ?, rows = '[]'"
                " WHERE id = ? AND state = 'previewed'",
                (now, import_id),
            )
            return cursor.rowcount == 1


def _create(conn: sqlite3.Connection, by: int, chat_id: int, rows: Sequence[tuple[str, str]], now: int) -> Import:
    cursor = conn.execute(
        "INSERT INTO imports (by, chat_id, rows, created_at) VALUES (?, ?, ?, ?)", (by, chat_id, dumps(list(rows)), now)
    )
    row = conn.execute(f"SELECT {_IMPORT_COLUMNS} FROM imports WHERE id = ?", (cursor.lastrowid,)).fetchone()
    return Import(*row)


def _apply(conn: sqlite3.Connection, import_id: int, now: int) -> ImportResult | None:
    taken = conn.execute(
        "UPDATE imports SET state = 'applied', decided_at = ? WHERE id = ? AND state = 'previewed' RETURNING by, rows",
        (now, import_id),
    ).fetchall()
    if not taken:
        return None
    ((by, rows),) = taken
    return _upsert(conn, rows, by, now)


@contextmanager
def _writing(path: str | Path) -> Iterator[sqlite3.Connection]:
    """One write transaction on a connection of its own, for a worker thread: the event loop's writes wait for the
    lock meanwhile, and a lock held elsewhere past WRITER_BUSY_TIMEOUT_MS is DatabaseBusy, as for the loop's."""
    conn = sqlite3.connect(str(path), timeout=WRITER_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        with immediate(conn):
            yield conn
    finally:
        conn.close()


def stage_import(path: str | Path, by: int, chat_id: int, rows: Sequence[tuple[str, str]], now: int) -> Import:
    """``Imports.create`` for a worker thread: 20,000 rows are 600 KB of JSON, 26-44 ms to write that the event loop
    must not spend."""
    with _writing(path) as conn:
        return _create(conn, by, chat_id, rows, now)


def apply_import(path: str | Path, import_id: int, now: int) -> ImportResult | None:
    """``Imports.apply`` for a worker thread, in one transaction: 20,000 rows take a few hundred milliseconds, which
    the event loop must not wait out."""
    with _writing(path) as conn:
        return _apply(conn, import_id, now)


def known_names(path: str | Path, numbers: Iterable[str]) -> dict[str, str]:
    """``Contacts.names`` for a worker thread: a read-only connection of its own to the database file (the bot's
    ``Storage`` belongs to the event loop's thread)."""
    with reading(path) as conn:
        return _names(conn, numbers)
