"""The customer book: a name per customer number (international digits, as the archive writes them)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from storage._db import dumps, write


@dataclass(frozen=True, slots=True)
class Contact:
    number: str
    name: str
    created_by: int | None
    updated_by: int | None
    created_at: int
    updated_at: int


@dataclass(frozen=True, slots=True)
class ImportResult:
    added: int
    updated: int


_COLUMNS = "number, name, created_by, updated_by, created_at, updated_at"


def _contact(row: Sequence[Any]) -> Contact:
    return Contact(*row)


def fold(text: str) -> str:
    """How names are compared when searched: any case, ё as е."""
    return text.casefold().replace("ё", "е")


class Contacts:
    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, number: str) -> Contact | None:
        row = self._db.execute(f"SELECT {_COLUMNS} FROM contacts WHERE number = ?", (number,)).fetchone()
        return None if row is None else _contact(row)

    def names(self, numbers: Iterable[str]) -> dict[str, str]:
        """The names of those of ``numbers`` the book knows (one query, however many)."""
        wanted = dumps(sorted(set(numbers)))
        rows = self._db.execute(
            "SELECT number, name FROM contacts WHERE number IN (SELECT value FROM json_each(?))", (wanted,)
        )
        return dict(rows.fetchall())

    def set(self, number: str, name: str, by: int | None, now: int) -> tuple[Contact | None, Contact]:
        """Name (or rename) a customer; returns (before, after)."""
        with write(self._db) as conn:
            row = conn.execute(f"SELECT {_COLUMNS} FROM contacts WHERE number = ?", (number,)).fetchone()
            conn.execute(
                "INSERT INTO contacts (number, name, folded, created_by, updated_by, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (number) DO UPDATE SET name = excluded.name,"
                " folded = excluded.folded, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                (number, name, fold(name), by, by, now, now),
            )
            after = conn.execute(f"SELECT {_COLUMNS} FROM contacts WHERE number = ?", (number,)).fetchone()
        return (None if row is None else _contact(row)), _contact(after)

    def remove(self, number: str) -> Contact | None:
        """Forget a customer's name; returns what it was."""
        with write(self._db) as conn:
            row = conn.execute(f"DELETE FROM contacts WHERE number = ? RETURNING {_COLUMNS}", (number,)).fetchall()
        return _contact(row[0]) if row else None

    def search(self, text: str, limit: int) -> list[Contact]:
        """Contacts whose name contains ``text`` (any case) or whose number contains its digits, by name."""
        digits = "".join(ch for ch in text if ch.isdigit() and ch.isascii())
        needle = fold(text.strip())
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM contacts WHERE instr(folded, ?) > 0 OR (? <> '' AND instr(number, ?) > 0)"
            " ORDER BY folded, number LIMIT ?",
            (needle, digits, digits, limit),
        )
        return [_contact(row) for row in rows]

    def apply(self, rows: Sequence[tuple[str, str]], by: int | None, now: int) -> ImportResult:
        """Name many customers at once, in one transaction (an import): all of it or, on any failure, none."""
        numbers = dumps(sorted({number for number, _ in rows}))
        with write(self._db) as conn:
            known = {
                number
                for (number,) in conn.execute(
                    "SELECT number FROM contacts WHERE number IN (SELECT value FROM json_each(?))", (numbers,)
                )
            }
            conn.executemany(
                "INSERT INTO contacts (number, name, folded, created_by, updated_by, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (number) DO UPDATE SET name = excluded.name,"
                " folded = excluded.folded, updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                [(number, name, fold(name), by, by, now, now) for number, name in rows],
            )
        distinct = {number for number, _ in rows}
        return ImportResult(added=len(distinct - known), updated=len(distinct & known))

    def count(self) -> int:
        (found,) = self._db.execute("SELECT count(*) FROM contacts").fetchone()
        return int(found)
