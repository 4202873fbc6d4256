"""What waits to go out, counted for the metrics: each count is over a partial index, so a scrape costs
microseconds however big the archive grows."""

from __future__ import annotations

from sqlite_utils import Database

# kind -> the rows of it waiting (``:now`` where only what is due counts).
_PENDING = {
    "alert": "SELECT count(*) FROM alerts WHERE dirty AND NOT held",  # to post or to edit
    "recording": "SELECT count(*) FROM record_posts WHERE state = 'due' AND due_at <= :now",
    "reminder": "SELECT count(*) FROM reminders WHERE state = 'due' AND due_at <= :now",
    "call": "SELECT count(*) FROM calls WHERE pending",  # archived, not yet taken by the features
}
_QUERY = "SELECT " + ", ".join(f"({query})" for query in _PENDING.values())


class Outbox:
    def __init__(self, db: Database) -> None:
        self._db = db

    def pending(self, now: int) -> dict[str, int]:
        """How many rows of each kind wait to go out now: alerts, recordings, reminders, and the archived calls the
        features have not taken yet."""
        row = self._db.execute(_QUERY, {"now": now}).fetchone()
        return dict(zip(_PENDING, row, strict=True))
