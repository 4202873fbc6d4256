"""The members' desk phones as last seen registered (SIP), and whether a phone's being offline was reported.

A phone has a row from the first time it is seen registered: one never seen so is off for good, not news. The
watch reads what is due in one transaction (``observe``) and records what it told only once told
(``mark_reported``, ``mark_back``), so a failed message is due again at the next check and a restart repeats
nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlite_utils import Database

from storage._db import all_rows, dumps, write


@dataclass(frozen=True, slots=True)
class Phone:
    internal: str
    registered: bool
    since: int  # when it was first seen so (registered, or not)
    reported: bool  # offline, and said so (still true while its coming back is not told yet)
    updated_at: int


@dataclass(frozen=True, slots=True)
class Observed:
    """What a check has to tell (each as it was before the check: ``since`` is when it went offline)."""

    offline: list[Phone] = field(default_factory=list)  # unregistered long enough, not reported yet
    back: list[Phone] = field(default_factory=list)  # reported offline, registered again


def _phone(row: dict[str, Any]) -> Phone:
    return Phone(**row | {"registered": bool(row["registered"]), "reported": bool(row["reported"])})


class Phones:
    def __init__(self, db: Database) -> None:
        self._db = db

    def all(self) -> dict[str, Phone]:
        return {row["internal"]: _phone(row) for row in self._db.query("SELECT * FROM phones ORDER BY internal")}

    def observe(self, registered: Collection[str], known: Iterable[str], now: int, offline_for: float) -> Observed:
        """Take one look at the ``known`` internal numbers (the members'), ``registered`` being the ones online now.
        A phone seen registered for the first time gets its row; one that went offline or came back before it was
        reported is updated in silence. Returns the phones offline for ``offline_for`` seconds and not reported yet,
        and those reported that are back (both left as they are until told: ``mark_reported``, ``mark_back``)."""
        wanted = sorted(set(known))
        with write(self._db) as conn:
            rows = all_rows(
                conn.execute(
                    "SELECT * FROM phones WHERE internal IN (SELECT value FROM json_each(?))", (dumps(wanted),)
                )
            )
            stored = {row["internal"]: _phone(row) for row in rows}
            changed: list[tuple[str, bool]] = []
            observed = Observed()
            for internal in wanted:
                online, phone = internal in registered, stored.get(internal)
                if phone is None:
                    if online:  # a phone never seen registered is not watched yet
                        changed.append((internal, True))
                elif phone.registered and not online:
                    changed.append((internal, False))
                elif not phone.registered and online:
                    if phone.reported:
                        observed.back.append(phone)
                    else:  # back before anyone was told it was gone
                        changed.append((internal, True))
                elif not phone.registered and not phone.reported and now - phone.since >= offline_for:
                    observed.offline.append(phone)
            conn.executemany(
                """
                INSERT INTO phones (internal, registered, since, reported, updated_at) VALUES (?, ?, ?, 0, ?)
                ON CONFLICT (internal) DO UPDATE SET registered = excluded.registered, since = excluded.since,
                    reported = 0, updated_at = excluded.updated_at
                """,
                [(internal, int(online), now, now) for internal, online in changed],
            )
        return observed

    def mark_reported(self, internals: Iterable[str], now: int) -> int:
        """These phones' being offline was told; returns how many were still offline and not reported."""
        return self._mark(internals, "reported = 1", "NOT registered AND NOT reported", now)

    def mark_back(self, internals: Iterable[str], now: int) -> int:
        """These reported phones' coming back (seen at ``now``) was told; returns how many were still waiting."""
        return self._mark(internals, "registered = 1, since = :now, reported = 0", "NOT registered AND reported", now)

    def _mark(self, internals: Iterable[str], assignment: str, condition: str, now: int) -> int:
        with write(self._db) as conn:
            cursor = conn.execute(
                f"UPDATE phones SET {assignment}, updated_at = :now WHERE {condition}"
                " AND internal IN (SELECT value FROM json_each(:internals))",
                {"now": now, "internals": dumps(sorted(set(internals)))},
            )
            return cursor.rowcount
