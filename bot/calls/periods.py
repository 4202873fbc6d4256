"""Periods as people type them (``today``, ``yesterday``, ``7d``, ``28.11``, ``25.11-28.11``; ``сегодня``, ``вчера``,
``7д``), read in the bot's time zone: the days they name, up to now."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_WORDS = {"today": "today", "сегодня": "today", "yesterday": "yesterday", "вчера": "yesterday"}
_DAYS = re.compile(r"([0-9]{1,3})(?:d|д)")
_DAY = r"([0-9]{1,2})\.([0-9]{1,2})"
_DATES = re.compile(rf"{_DAY}(?:-{_DAY})?")
MAX_DAYS = 366


def canonical(typed: str) -> str | None:
    """The period ``typed`` names, in the one spelling the bot keeps (``today``, ``7d``, ``28.11-30.11``), or
    None when it is not one. Only the shape is checked here; ``bounds`` checks the dates."""
    word = typed.strip().lower()
    if word in _WORDS:
        return _WORDS[word]
    if (days := _DAYS.fullmatch(word)) is not None:
        return f"{int(days[1])}d" if 1 <= int(days[1]) <= MAX_DAYS else None
    if (dates := _DATES.fullmatch(word)) is not None:
        first = f"{int(dates[1]):02d}.{int(dates[2]):02d}"
        return first if dates[3] is None else f"{first}-{int(dates[3]):02d}.{int(dates[4]):02d}"
    return None


def bounds(period: str, zone: ZoneInfo, now: datetime) -> tuple[int, int] | None:
    """[start, end) in Unix seconds; None for a date that does not exist or a range that ends before it starts."""
    today = now.astimezone(zone).date()
    first: date | None
    last: date | None
    if period == "today":
        first = last = today
    elif period == "yesterday":
        first = last = today - timedelta(days=1)
    elif period.endswith("d"):
        first, last = today - timedelta(days=int(period[:-1]) - 1), today
    else:
        start, _, end = period.partition("-")
        first = _latest(start, today)
        last = _latest(end, today) if end else first
    if first is None or last is None or first > last:
        return None
    opens = datetime.combine(first, time(), zone)
    closes = datetime.combine(last + timedelta(days=1), time(), zone)
    return int(opens.timestamp()), int(closes.timestamp())


def _latest(day_month: str, today: date) -> date | None:
    """That day and month, this year or, when that is still to come, last year; None if it does not exist."""
    day, month = (int(part) for part in day_month.split("."))
    for year in (today.year, today.year - 1):
        try:
            found = date(year, month, day)
        except ValueError:
            return None
        if found <= today:
            return found
    return None
