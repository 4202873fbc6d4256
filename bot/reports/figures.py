"""A period's figures from the call archive: what ``/report``, the digests and their charts show.

What is counted as missed, an episode, called back, answered later, lost or unresolved is defined once, in
``storage.reports``; here the period is cut into buckets in the bot's time zone (by hour for a day, by day for
longer) and the episodes are added up: the time to call back as its median and p90 (nearest rank: a wait some
customer really had), and the share of all episodes called back within the deadline (``ALERT_SLA_MINUTES``, or a
subscribed chat's ``/sla``; an episode answered later or lost was not).

The time to call back is wall time, what the customer waited, nights and weekends included. "Within the deadline"
is the alerts' own rule (``bot.alerts.deadlines.stamp``): with business hours (a chat's ``/hours``) the deadline is
the first miss's end plus the SLA counted inside them, so a miss at closing called back soon after the next opening
was in time.
"""

from __future__ import annotations

import bisect
import math
import sqlite3
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.alerts.hours import Hours
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
    callback_p90_seconds: int | None = None  # nine in ten episodes called back were called back within this
    deadline_seconds: int = 0  # the callback deadline the share below is of (0: none); in business hours, if any
    within_deadline: int = 0  # episodes called back within the deadline
    callbacks: tuple[reports.MemberCallbacks, ...] = ()  # who called back how many, the most first
    short_under: int = 0  # the "short" ring, seconds (0: not counted)
    short: int = 0  # misses that rang under ``short_under``
    lost_customers: tuple[reports.LostCustomer, ...] = ()  # asked for (the weekly digest): the most attempts first
    done: int = 0  # episodes closed by hand
    open: int = 0  # episodes still within their deadline

    @property
    def episodes(self) -> int:
        """Those whose deadline has passed or that were settled: the open ones have not had their chance yet."""
        return self.called_back + self.answered_later + self.lost + self.unresolved + self.done

    @property
    def within_deadline_percent(self) -> int | None:
        """Of all episodes, those called back within the deadline, rounded; None without a deadline or episodes."""
        if not self.deadline_seconds or not self.episodes:
            return None
        return round(100 * self.within_deadline / self.episodes)

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


def nearest_rank(values: Sequence[int], share: float) -> int | None:
    """The value ``share`` of ``values`` (sorted) are at most: the nearest-rank percentile (p90: share 0.9), one of
    the values themselves; None when there are none."""
    return values[max(0, math.ceil(share * len(values)) - 1)] if values else None


def within(spans: Sequence[tuple[int, int]], deadline_seconds: int, hours: Hours | None, zone: ZoneInfo) -> int:
    """Of ``spans`` (an episode called back: its first miss's end, its wait), those called back by the deadline: at
    most the end plus ``deadline_seconds`` on the clock, or with ``hours`` at most ``hours.add(end,
    deadline_seconds, zone)``, whole seconds up (an alert's own deadline, ``deadlines.stamp``).

    Business time never runs faster than the clock, so a wait within the deadline on the clock is within it in
    business hours too; only the longer ones are worked out, and a month may have tens of thousands of them (misses
    at night called back in the morning). ``Hours.add`` each would place the same days' openings again and again
    (some 15 µs a call): the open windows are listed once (``Hours.windows``) with the business seconds before
    each, and each deadline is two bisections: the window the end falls in or before, and the one where the
    deadline's business seconds run out (``Hours.add``'s answer: the first that holds them whole)."""
    if not deadline_seconds:
        return 0
    count = sum(1 for _, wait in spans if wait <= deadline_seconds)
    if hours is None:
        return count
    late = [(ended, wait) for ended, wait in spans if wait > deadline_seconds]
    if not late:
        return count
    source = hours.windows(min(ended for ended, _ in late), zone)
    openings: list[float] = []
    closings: list[float] = []
    before: list[float] = [0.0]  # business seconds in the windows before each; the last: in them all

    def more() -> None:
        opening, closing = next(source)
        openings.append(opening)
        closings.append(closing)
        before.append(before[-1] + closing - opening)

    last = max(ended for ended, _ in late)
    while not closings or closings[-1] <= last:
        more()
    while before[-1] < _business(last, openings, closings, before) + deadline_seconds:
        more()
    for ended, wait in late:
        target = _business(ended, openings, closings, before) + deadline_seconds
        window = bisect.bisect_left(before, target, 1) - 1  # the first whose end holds ``target``
        count += ended + wait <= math.ceil(openings[window] + target - before[window])
    return count


def _business(at: float, openings: list[float], closings: list[float], before: list[float]) -> float:
    """The business seconds from the first window listed to ``at`` (within the windows' span)."""
    window = bisect.bisect_right(closings, at)  # the first that closes after ``at``
    return before[window] + max(0.0, at - openings[window])


def gather(
    conn: sqlite3.Connection,
    start: int,
    end: int,
    zone: ZoneInfo,
    numbers: Sequence[str] = (),
    *,
    deadline_seconds: int = 0,
    hours: Hours | None = None,
    short_under: int = 0,
    with_lost: bool = False,
    open_after: int | None = None,
) -> Figures:
    """The figures of [start, end); ``numbers``: only the calls through these company numbers (a chat's filter);
    ``deadline_seconds``: the callback deadline to count the episodes called back within (0: none), counted in
    ``hours`` (a chat's business hours; None: on the clock); ``short_under``: count the misses that rang fewer
    seconds (0: not); ``with_lost``: list the lost customers; ``open_after``: misses that ended after it are still
    within their deadline (``Standards.open_after``). The median and p90 to call back stay wall time."""
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
    settled = reports.outcomes(conn, start, end, numbers, open_after=open_after)
    waits = settled.callback_waits  # shortest first
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
        callback_p90_seconds=nearest_rank(waits, 0.9),
        deadline_seconds=deadline_seconds,
        within_deadline=within(settled.callback_spans, deadline_seconds, hours, zone),
        callbacks=settled.callbacks,
        short_under=short_under,
        short=reports.short_misses(conn, start, end, short_under, numbers) if short_under else 0,
        lost_customers=tuple(reports.lost(conn, start, end, numbers, open_after=open_after)) if with_lost else (),
        done=settled.done,
        open=settled.open,
    )
