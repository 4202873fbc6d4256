"""The call archive: every call the bot observed, past New-Tel's 24 hours. Written only where a call changed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields
from typing import Any

from sqlite_utils import Database

from storage._db import dumps, write


@dataclass(frozen=True, slots=True)
class CallRecord:
    """A call as the archive keeps it (times in Unix seconds)."""

    vpbx_id: str
    direction: str  # "in" or "out"
    clid: str
    dnid: str
    status: str  # "answered" or "no answer"
    active: bool
    started_at: int
    answered_at: int | None
    ended_at: int | None


@dataclass(frozen=True, slots=True)
class CallChange:
    """What the ingest found: a call new to the archive (``before`` None) or one that changed since."""

    call: CallRecord
    before: CallRecord | None

    @property
    def ended(self) -> bool:
        """It ended with this change (or was first seen already over)."""
        return not self.call.active and (self.before is None or self.before.active)


_COLUMNS = [f.name for f in fields(CallRecord)]
_SELECT = ", ".join(_COLUMNS)


def _record(row: Sequence[Any]) -> CallRecord:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["active"] = bool(values["active"])
    return CallRecord(**values)


class Calls:
    def __init__(self, db: Database) -> None:
        self._db = db

    def ingest(self, records: Sequence[CallRecord], now: int) -> list[CallChange]:
        """Write the ``records`` that differ from what the archive holds, in one transaction; returns those."""
        if not records:
            return []
        ids = dumps([r.vpbx_id for r in records])
        with write(self._db) as conn:
            stored = {
                row[0]: _record(row)
                for row in conn.execute(
                    f"SELECT {_SELECT} FROM calls WHERE vpbx_id IN (SELECT value FROM json_each(?))", (ids,)
                )
            }
            changes = [CallChange(r, stored.get(r.vpbx_id)) for r in records if stored.get(r.vpbx_id) != r]
            conn.executemany(
                f"INSERT INTO calls ({_SELECT}, updated_at) VALUES ({', '.join('?' * len(_COLUMNS))}, ?)"
                " ON CONFLICT (vpbx_id) DO UPDATE SET "
                + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[1:])
                + ", updated_at = excluded.updated_at",
                [(*astuple(c.call), now) for c in changes],
            )
        return changes

    def find(
        self, *, number: str | None = None, start: int | None = None, end: int | None = None, limit: int
    ) -> list[CallRecord]:
        """Calls to or from ``number`` (international digits) and/or that started in [start, end), newest first."""
        window = {
            "number": number,
            "start": start if start is not None else 0,
            "end": end if end is not None else 2**62,
        }
        timed = "started_at >= :start AND started_at < :end"
        if number is None:
            sql = f"SELECT {_SELECT} FROM calls WHERE {timed}"
        else:  # a union, so that each side uses its own index
            sql = (
                f"SELECT {_SELECT} FROM calls WHERE clid = :number AND {timed}"
                f" UNION SELECT {_SELECT} FROM calls WHERE dnid = :number AND {timed}"
            )
        rows = self._db.execute(
            f"SELECT * FROM ({sql}) ORDER BY started_at DESC, vpbx_id LIMIT :limit", {**window, "limit": limit}
        )
        return [_record(row) for row in rows]

    def prune(self, before: int, batch: int = 500) -> int:
        """Forget at most ``batch`` calls that started before ``before`` (small steps: the loop stays free)."""
        with write(self._db) as conn:
            return conn.execute(
                "DELETE FROM calls WHERE vpbx_id IN"
                " (SELECT vpbx_id FROM calls WHERE started_at < ? ORDER BY started_at LIMIT ?)",
                (before, batch),
            ).rowcount

    def count(self) -> int:
        (found,) = self._db.execute("SELECT count(*) FROM calls").fetchone()
        return int(found)
