"""A period's figures from the call archive: what ``/report``, the digests and their charts show.

What is counted as missed, an episode, called back, answered later, lost or unresolved is defined once, in
``storage.reports``; here the period is cut into buckets in the bot's time zone (by hour for a day, by day for
longer) and the episodes are added up.
"""

from __future__ import annotations

import sqlite3
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from storage import reports

HOURLY_UP_TO = 25 * 3600  # a period of one day (23 to 25 hours around a clock change) is shown by hour


@dataclass(frozen=True, slots=True)
class Bucket:
    start: datetime  # local
    inbound: int
    answered: int  # inbound, answered
    missed: int
    outbound: int
    talk_seconds: int


@dataclass(frozen=True, slots=True)
class MemberFigures:
    name: str | None  # None: the calls nobody is known to have answered or placed
    answered: int
    placed: int
    talk_seconds: int


@dataclass(frozen=True, slots=True)
class Figures:
    start: datetime  # local, inclusive
    end: datetime  # local, exclusive
    hourly: bool
    buckets: tuple[Bucket, ...]
    members: tuple[MemberFigures, ...]  # the busiest first, the unknown last
    missed_customers: int
    called_back: int
    callback_median_seconds: int | None
    answered_later: int
    lost: int
    unresolved: int

    @property
    def inbound(self) -> int:
        return sum(b.inbound for b in self.buckets)

    @property
    def answered(self) -> int:
        return sum(b.answered for b in self.buckets)

    @property
    def missed(self) -> int:
        return sum(b.missed for b in self.buckets)

    @property
    def outbound(self) -> int:
        return sum(b.outbound for b in self.buckets)

    @property
    def talk_seconds(self) -> int:
        return sum(b.talk_seconds for b in self.buckets)

    @property
    def missed_percent(self) -> int | None:
        """Of inbound calls, rounded; None when there were none."""
        return None if not self.inbound else round(100 * self.missed / self.inbound)


def edges(start: int, end: int, zone: ZoneInfo) -> list[int]:
    """The buckets' bounds: each hour of a one-day period, else each local midnight."""
    if end - start <= HOURLY_UP_TO:
        return [*range(start, end, 3600), end]
    first: date = datetime.fromtimestamp(start, zone).date()
    found = []
    day = first
    while (moment := int(datetime.combine(day, time(), zone).timestamp())) < end:
        found.append(max(moment, start))
        day += timedelta(days=1)
    return [*found, end]


def gather(conn: sqlite3.Connection, start: int, end: int, zone: ZoneInfo, numbers: Sequence[str] = ()) -> Figures:
    """The figures of [start, end); ``numbers``: only the calls through these company numbers (a chat's filter)."""
    bounds = edges(start, end, zone)
    buckets = tuple(
        Bucket(datetime.fromtimestamp(t.start, zone), t.inbound, t.answered, t.missed, t.outbound, t.talk_seconds)
        for t in reports.tallies(conn, bounds, numbers)
    )
    members = sorted(
        (
            MemberFigures(m.name, m.answered, m.placed, m.talk_seconds)
            for m in reports.members(conn, start, end, numbers)
        ),
        key=lambda m: (m.name is None, -(m.answered + m.placed), m.name or ""),
    )
    settled = reports.outcomes(conn, start, end, numbers)
    waits = settled.callback_waits
    return Figures(
        start=datetime.fromtimestamp(start, zone),
        end=datetime.fromtimestamp(end, zone),
        hourly=end - start <= HOURLY_UP_TO,
        buckets=buckets,
        members=tuple(members),
        missed_customers=settled.customers,
        called_back=settled.called_back,
        callback_median_seconds=round(statistics.median(waits)) if waits else None,
        answered_later=settled.answered_later,
        lost=settled.lost,
        unresolved=settled.unresolved,
    )
