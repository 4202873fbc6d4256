"""Ringing cards: the private message each user gets while their phone rings, sent once and then edited.

A card is written here before it is sent: whatever happens to the send (a crash, a timeout), the card is never
sent a second time. ``message_id`` None: not known to be sent, so never edited either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlite_utils import Database

from storage._db import dumps, loads, write


@dataclass(frozen=True, slots=True)
class Card:
    vpbx_id: str  # the call it was sent for (the first one, when several rang at once)
    user_id: int
    message_id: int | None
    calls: tuple[str, ...]  # every call it shows, oldest first
    shown: str  # a digest of what it says now: an edit only when that changes
    final: bool  # all its calls are over: never edited again


def _card(row: Sequence[object]) -> Card:
    vpbx_id, user_id, message_id, shown, final = row
    state = loads(str(shown))
    return Card(str(vpbx_id), int(str(user_id)), message_id, tuple(state["calls"]), state["shown"], bool(final))  # type: ignore[arg-type]


_COLUMNS = "vpbx_id, user_id, message_id, shown, final"


class Cards:
    def __init__(self, db: Database) -> None:
        self._db = db

    def open(self) -> list[Card]:
        """Cards whose calls are not all over yet."""
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM ringing_cards WHERE NOT final ORDER BY created_at, vpbx_id")
        return [_card(row) for row in rows]

    def claim(self, vpbx_id: str, user_id: int, calls: Sequence[str], now: int) -> bool:
        """Write a new card (before it is sent); False when that user already has one for that call."""
        with write(self._db) as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO ringing_cards (vpbx_id, user_id, shown, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (vpbx_id, user_id, dumps({"calls": list(calls), "shown": ""}), now, now),
            )
            return cursor.rowcount == 1

    def sent(self, vpbx_id: str, user_id: int, message_id: int, shown: str, now: int) -> None:
        self._update(vpbx_id, user_id, now, message_id=message_id, shown=shown)

    def join(self, card: Card, calls: Sequence[str], now: int) -> None:
        """Calls that began ringing while the card still rings join it (the live check; its kick edits the card)."""
        self._update(card.vpbx_id, card.user_id, now, calls=calls, shown=card.shown)

    def shown_as(self, card: Card, shown: str, final: bool, now: int) -> bool:
        """What the card shows now (a digest of the text), and whether it is final; False, changing nothing, when
        calls joined it since ``card`` was read (the join's kick edits it again)."""
        with write(self._db) as conn:
            return (
                conn.execute(
                    "UPDATE ringing_cards SET shown = json_set(shown, '$.shown', ?), final = ?, updated_at = ?"
                    " WHERE vpbx_id = ? AND user_id = ? AND json_extract(shown, '$.calls') = json(?)",
                    (shown, int(final), now, card.vpbx_id, card.user_id, dumps(list(card.calls))),
                ).rowcount
                == 1
            )

    def unclaim(self, vpbx_id: str, user_id: int) -> None:
        """Telegram refused the card before taking it (a 429): the next check may send it."""
        with write(self._db) as conn:
            conn.execute("DELETE FROM ringing_cards WHERE vpbx_id = ? AND user_id = ?", (vpbx_id, user_id))

    def forget_before(self, before: int) -> int:
        """Drop final cards last changed before ``before`` (a card is edited only while its calls go on)."""
        with write(self._db) as conn:
            return conn.execute("DELETE FROM ringing_cards WHERE final AND updated_at < ?", (before,)).rowcount

    def _update(
        self,
        vpbx_id: str,
        user_id: int,
        now: int,
        *,
        message_id: int | None = None,
        calls: Sequence[str] | None = None,
        shown: str,
    ) -> None:
        with write(self._db) as conn:
            row = conn.execute(
                "SELECT shown FROM ringing_cards WHERE vpbx_id = ? AND user_id = ?", (vpbx_id, user_id)
            ).fetchone()
            if row is None:
                return
            state = loads(row[0])
            state["shown"] = shown
            if calls is not None:
                state["calls"] = list(calls)
            conn.execute(
                "UPDATE ringing_cards SET message_id = coalesce(?, message_id), shown = ?, updated_at = ?"
                " WHERE vpbx_id = ? AND user_id = ?",
                (message_id, dumps(state), now, vpbx_id, user_id),
            )
