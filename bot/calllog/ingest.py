"""The one ingest: New-Tel's calls, as observed, into the archive; what changed comes back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from newtel import Call
from storage import CallChange, CallRecord, Storage

# Calls compared and written per transaction at most: ~15 ms of SQLite with the archive's triggers (more on a busy
# machine with a day of 50,000 calls, bench/live.py); the loop is free between two batches.
INGEST_BATCH = 200
RETENTION_BATCH = 200  # calls forgotten per round at most: pruning a year's backlog never holds the loop long
PRUNE_EVERY = 3_600  # seconds between looks for calls past the retention, once the backlog is gone
DAY = 86_400  # New-Tel keeps a day of calls


def record(call: Call) -> CallRecord:
    def seconds(moment: datetime | None) -> int | None:
        return None if moment is None else int(moment.timestamp())

    return CallRecord(
        vpbx_id=call.vpbx_id,
        direction=call.direction,
        clid=call.clid,
        dnid=call.dnid,
        status=call.status,
        active=call.active,
        started_at=int(call.start_time.timestamp()),
        answered_at=seconds(call.answer_time),
        ended_at=seconds(call.end_time),
    )


def as_call(kept: CallRecord) -> Call:
    """An archived call in New-Tel's shape, for what renders calls."""

    def moment(seconds: int | None) -> datetime | None:
        return None if seconds is None else datetime.fromtimestamp(seconds, UTC)

    return Call(
        vpbx_id=kept.vpbx_id,
        active=kept.active,
        direction=kept.direction,
        clid=kept.clid,
        dnid=kept.dnid,
        status=kept.status,
        start_time=datetime.fromtimestamp(kept.started_at, UTC),
        answer_time=moment(kept.answered_at),
        end_time=moment(kept.ended_at),
    )


class Ingest:
    def __init__(self, storage: Storage, retention_days: int) -> None:
        self._storage = storage
        self._retention = retention_days * 86_400
        # The one cache here: the calls the archive holds as ended (it stays the truth), New-Tel's day of them taken
        # from it at start. New-Tel never changes an ended call again, so an observer skips those with a set lookup
        # and the ingest compares only the rest with the archive.
        self._ended: set[str] = set(storage.calls.ended_since(int(time.time()) - DAY))
        self._next_prune = 0
        # Whether the archive holds New-Tel's day: not before a whole day has been taken since the start (a first
        # start's history, a downtime's calls), so what it says of a customer may miss calls until then.
        self.caught_up = False

    def knows_ended(self, vpbx_id: str) -> bool:
        return vpbx_id in self._ended

    def take(self, calls: Sequence[Call], now: int) -> list[CallChange]:
        """Archive what changed among ``calls`` (one transaction) and forget what is past the retention. At most
        INGEST_BATCH calls a time, newest first: each write is short enough not to hold the event loop."""
        pending = [call for call in calls if call.vpbx_id not in self._ended]
        if len(pending) > INGEST_BATCH:
            pending = sorted(pending, key=lambda call: call.start_time, reverse=True)[:INGEST_BATCH]
        changes = self._storage.calls.ingest([record(call) for call in pending], now)
        self._ended.update(call.vpbx_id for call in pending if not call.active)
        if now >= self._next_prune:  # a full batch forgotten: more is due next time; else look again in an hour
            pruned = self._storage.calls.prune(now - self._retention, RETENTION_BATCH)
            self._storage.calls.let_go_of_forgotten(now)  # /forget's call ids, once New-Tel no longer has the calls
            self._next_prune = now if pruned == RETENTION_BATCH else now + PRUNE_EVERY
        return changes

    async def take_all(self, calls: Sequence[Call], now: int) -> list[CallChange]:
        """``take`` New-Tel's whole day (a first start, a gap): batch after batch, the loop free between them."""
        changes = self.take(calls, now)
        for _ in range(len(calls) // INGEST_BATCH):  # each batch takes up to INGEST_BATCH more ended calls in
            if all(call.vpbx_id in self._ended for call in calls if not call.active):
                break
            await asyncio.sleep(0)
            changes += self.take(calls, now)
        return changes

    def window(self, vpbx_ids: Iterable[str]) -> None:
        """New-Tel's day as it stands (its id list), every call of it now taken: calls that left it leave the cache
        too, and the archive has caught up."""
        self._ended &= set(vpbx_ids)
        self.caught_up = True
