"""A chat's business hours (``/hours 09:00-19:00 mon-fri``) and time counted inside them only: pure, no I/O.

One range a day, on the chosen days, on the local clock of the bot's time zone. Moments are Unix seconds and
each day's opening and closing are placed with zoneinfo, so a day with a clock change is as long as it really is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from storage import Chat

WEEK = range(7)  # 0 = Monday, as date.weekday()
DAY = 24 * 60  # minutes
_DAY_WORDS: dict[str, tuple[int, ...]] = {
    **{name: (day,) for day, name in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))},
    **{name: (day,) for day, name in enumerate(("пн", "вт", "ср", "чт", "пт", "сб", "вс"))},
    **{
        name: (day,)
        for day, name in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))
    },
    "weekdays": (0, 1, 2, 3, 4),
    "будни": (0, 1, 2, 3, 4),
    "weekends": (5, 6),
    "выходные": (5, 6),
    "daily": tuple(WEEK),
    "ежедневно": tuple(WEEK),
}
_CLOCK = r"(\d{1,2})(?:[:.](\d{2}))?"
_RANGE = re.compile(rf"{_CLOCK}-{_CLOCK}")


@dataclass(frozen=True, slots=True)
class Hours:
    start: int  # minutes after local midnight
    end: int  # minutes after local midnight, after ``start``; 1440 is the day's end (24:00)
    days: frozenset[int]  # 0 = Monday; never empty

    # --- stored as JSON in chats.hours ---

    def to_json(self) -> dict[str, Any]:
        return {"start": _hh_mm(self.start), "end": _hh_mm(self.end), "days": sorted(self.days)}

    @classmethod
    def from_json(cls, value: Any) -> Hours | None:
        """``to_json``'s value back; None (always open) for None. ``value`` may be the stored JSON text parsed."""
        if value is None:
            return None
        return cls(_minutes(value["start"]), _minutes(value["end"]), frozenset(int(day) for day in value["days"]))

    @classmethod
    def of(cls, chat: Chat) -> Hours | None:
        """The chat's hours (``/hours``); None: always open."""
        return cls.from_json(None if chat.hours is None else json.loads(chat.hours))

    # --- time inside the hours ---

    def windows(self, since: float, zone: ZoneInfo) -> Iterator[tuple[float, float]]:
        """The open spans [opening, closing) as Unix seconds, endlessly, from the local day of ``since`` on."""
        day = datetime.fromtimestamp(since, zone).date()
        while True:
            if day.weekday() in self.days:
                opening, closing = _at(day, self.start, zone), _at(day, self.end, zone)
                if closing > opening:  # a range inside a skipped hour (clock moved forward) is no span at all
                    yield opening, closing
            day += timedelta(days=1)

    def opens_at(self, at: float, zone: ZoneInfo) -> float:
        """``at`` itself while open, else when the hours begin next."""
        for opening, closing in self.windows(at, zone):
            if closing > at:
                return max(opening, at)
        raise AssertionError("unreachable: the windows never end")

    def is_open(self, at: float, zone: ZoneInfo) -> bool:
        return self.opens_at(at, zone) == at

    def add(self, at: float, seconds: float, zone: ZoneInfo) -> float:
        """The moment ``seconds`` of business time after ``at`` (time outside the hours does not count). Past two
        weeks' worth, whole weeks are stepped over on the calendar (a long deadline with short hours, "/sla 10080"
        with one minute on Sundays, would otherwise walk a century of days); a clock change inside a stepped-over
        week may then shift the moment by its hour."""
        left = max(0.0, seconds)
        week = len(self.days) * (self.end - self.start) * 60
        if left > 2 * week:
            weeks = int(left // week) - 1
            at = (datetime.fromtimestamp(at, zone) + timedelta(weeks=weeks)).timestamp()
            left -= weeks * week
        for opening, closing in self.windows(at, zone):
            begin = max(opening, at)
            if closing <= begin:
                continue
            if begin + left <= closing:
                return begin + left
            left -= closing - begin
        raise AssertionError("unreachable: the windows never end")

    # --- as people read it ---

    def describe(self, day_names: Sequence[str], every_day: str) -> str:
        """As "09:00–19:00, пн–пт" with ``day_names`` Monday first: runs of three days or more as a range."""
        span = f"{_hh_mm(self.start)}–{_hh_mm(self.end)}"
        if len(self.days) == 7:
            return f"{span}, {every_day}"
        parts, days = [], sorted(self.days)
        run_start = previous = days[0]
        for day in [*days[1:], None]:
            if day is not None and day == previous + 1:
                previous = day
                continue
            if previous - run_start >= 2:
                parts.append(f"{day_names[run_start]}–{day_names[previous]}")
            else:
                parts.extend(day_names[d] for d in range(run_start, previous + 1))
            if day is not None:
                run_start = previous = day
        return f"{span}, {', '.join(parts)}"


def parse(text: str) -> Hours | None:
    """``09:00-19:00 mon-fri`` (also ``9-19``, ``пн-пт``, ``сб вс``, ``mon,wed,fri``, ``будни``; no days: every day)
    as Hours; None for anything else, an empty or backwards range included (the hours cannot cross midnight)."""
    words = re.sub(r"\s*[-–—]\s*", "-", text.strip().lower()).replace(",", " ").split()
    ranges = [word for word in words if _RANGE.fullmatch(word)]
    if len(ranges) != 1:
        return None
    match = _RANGE.fullmatch(ranges[0])
    assert match is not None
    start, end = _clock_minutes(match[1], match[2]), _clock_minutes(match[3], match[4])
    if start is None or end is None or start >= DAY or not start < end:
        return None
    days: set[int] = set()
    for word in words:
        if word == ranges[0]:
            continue
        found = _days(word)
        if found is None:
            return None
        days.update(found)
    return Hours(start, end, frozenset(days or WEEK))


def _days(word: str) -> tuple[int, ...] | None:
    """A day word or a range of two (``mon-fri``; ``fri-mon`` wraps over the weekend)."""
    if word in _DAY_WORDS:
        return _DAY_WORDS[word]
    first, dash, last = word.partition("-")
    if not dash or len(_DAY_WORDS.get(first, ())) != 1 or len(_DAY_WORDS.get(last, ())) != 1:
        return None
    begin, finish = _DAY_WORDS[first][0], _DAY_WORDS[last][0]
    return tuple((begin + step) % 7 for step in range((finish - begin) % 7 + 1))


def _clock_minutes(hours: str, minutes: str | None) -> int | None:
    h, m = int(hours), int(minutes or 0)
    if m > 59 or h > 24 or (h == 24 and m):
        return None
    return h * 60 + m


def _minutes(hh_mm: str) -> int:
    hours, minutes = hh_mm.split(":")
    return int(hours) * 60 + int(minutes)


def _hh_mm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _at(day: date, minutes: int, zone: ZoneInfo) -> float:
    """Unix seconds of ``minutes`` after ``day``'s local midnight (24:00: the next midnight)."""
    if minutes >= DAY:
        day, minutes = day + timedelta(days=1), minutes - DAY
    return datetime.combine(day, clock(minutes // 60, minutes % 60), tzinfo=zone).timestamp()
