"""The one ingest: New-Tel's calls, as observed, into the archive; what changed comes back."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from newtel import Call
from storage import CallChange, CallRecord, Storage

INGEST_BATCH = 500  # calls compared with the archive and written per poll at most (~35 ms of SQLite, measured)
RETENTION_BATCH = 500  # calls forgotten per poll at most: pruning a year's backlog never holds the loop long
PRUNE_EVERY = 3_600  # seconds between looks for calls past the retention, once the backlog is gone


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
        # The one cache here: the calls the archive holds as ended (it stays the truth). New-Tel never changes an
        # ended call again, so a poll skips those with a set lookup and compares only the rest with the archive.
        self._ended: set[str] = set()
        self._next_prune = 0

    def take(self, calls: Sequence[Call], now: int) -> list[CallChange]:
        """Archive what changed among ``calls`` (one transaction) and forget what is past the retention. At most
        INGEST_BATCH calls a time, newest first: the first start's day of history goes in over a few polls,
        each write short enough not to hold the event loop."""
        pending = [call for call in calls if call.vpbx_id not in self._ended]
        if len(pending) > INGEST_BATCH:
            pending = sorted(pending, key=lambda call: call.start_time, reverse=True)[:INGEST_BATCH]
        changes = self._storage.calls.ingest([record(call) for call in pending], now)
        self._ended.update(call.vpbx_id for call in pending if not call.active)
        if len(self._ended) > 2 * len(calls) + INGEST_BATCH:  # calls that left New-Tel's window leave it too
            self._ended &= {call.vpbx_id for call in calls}
        if now >= self._next_prune:  # a full batch forgotten: more is due next poll; else look again in an hour
            pruned = self._storage.calls.prune(now - self._retention, RETENTION_BATCH)
            self._next_prune = now if pruned == RETENTION_BATCH else now + PRUNE_EVERY
        return changes
