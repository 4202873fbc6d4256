"""Periods as people type them and as the bot prints them (``today``, ``yesterday``, ``7d``, ``28.11``, ``06.12.2026``,
``25.11–28.11``; ``сегодня``, ``вчера``, ``7д``), read in the bot's time zone: the days they name, up to now. One that
names no days the archive can answer is ``Refused``, with the reason and a period that will do."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from bot.texts import Html, Texts, echo

_WORDS = {"today": "today", "сегодня": "today", "yesterday": "yesterday", "вчера": "yesterday"}
_DAYS = re.compile(r"([0-9]{1,4})(?:d|д)")
_DATE = r"[0-9]{1,2}\.[0-9]{1,2}(?:\.[0-9]{4}|\.[0-9]{2})?"
_DASH = r"\s*[-–—]\s*"  # a hyphen, an en dash (as the bot prints a range) or an em dash, spaces or none around it
_DATES = re.compile(rf"({_DATE})(?:{_DASH}({_DATE}))?")
_SPACED_RANGE = re.compile(rf"(?<!\S)({_DATE}){_DASH}(?={_DATE}(?!\S))")
MAX_DAYS = 366  # the longest period one answer covers
# A day and month without a year are the latest such day up to this many days ahead: "07.12" typed on 6 December is
# tomorrow (still to come), not a year ago; further ahead, "25.12" typed in January is last December.
AHEAD = 31


def canonical(typed: str) -> str | None:
    """The period ``typed`` names, in the one spelling the bot keeps (``today``, ``7d``, ``28.11-30.11``,
    ``06.12.2026``), or None when it is not one. Only the shape is checked here; ``read`` checks the dates."""
    word = typed.strip().lower()
    if word in _WORDS:
        return _WORDS[word]
    if (days := _DAYS.fullmatch(word)) is not None:
        return f"{int(days[1])}d" if int(days[1]) >= 1 else None
    if (dates := _DATES.fullmatch(word)) is not None:
        return "-".join(_spelled_date(part) for part in dates.groups() if part is not None)
    return None


def words(args: list[str]) -> list[str]:
    """A command's words with a range typed around a spaced dash ("25.11 – 28.11") made one word."""
    return _SPACED_RANGE.sub(r"\1-", " ".join(args)).split()


def _spelled_date(typed: str) -> str:
    day, month, *year = typed.split(".")
    spelled = f"{int(day):02d}.{int(month):02d}"
    if not year:
        return spelled
    return f"{spelled}.{int(year[0]) + 2000 if len(year[0]) == 2 else int(year[0]):04d}"  # "26" is 2026, "0001" is 1


@dataclass(frozen=True)
class Days:
    first: date
    last: date
    start: int  # Unix seconds: the first day's midnight
    end: int  # the midnight after the last day (exclusive)


Reason = Literal["no_such_day", "reversed", "future", "too_long"]


@dataclass(frozen=True)
class Refused:
    reason: Reason
    today: date
    instead: str = ""  # a period that will do, as the bot prints it ("" for a day that does not exist)


def read(period: str, zone: ZoneInfo, now: datetime) -> Days | Refused:
    """The days ``period`` (a ``canonical`` spelling) names as of ``now``, or why they cannot be answered."""
    today = now.astimezone(zone).date()
    first, last = _days(period, today)
    if first is None or last is None:
        return Refused("no_such_day", today)
    if first > last:
        return Refused("reversed", today, _printed(last, first, today))
    if last > today:
        if first <= today:
            return Refused("future", today, _printed(first, today, today))
        # The same days a year back ("07.12" typed on 6 December may mean last year's), else today.
        back_first, back_last = _year_back(first), _year_back(last)
        if back_first is None or back_last is None or back_last > today:
            return Refused("future", today, _printed(today, today, today))
        return Refused("future", today, _printed(back_first, back_last, today))
    if (last - first).days + 1 > MAX_DAYS:
        return Refused("too_long", today, _printed(last - timedelta(days=MAX_DAYS - 1), last, today))
    opens = datetime.combine(first, time(), zone)
    closes = datetime.combine(last + timedelta(days=1), time(), zone)
    return Days(first, last, int(opens.timestamp()), int(closes.timestamp()))


def bounds(period: str, zone: ZoneInfo, now: datetime) -> tuple[int, int] | None:
    """[start, end) in Unix seconds, or None when ``read`` refuses the period."""
    found = read(period, zone, now)
    return None if isinstance(found, Refused) else (found.start, found.end)


def refusal(refused: Refused, typed: str, texts: Texts) -> Html:
    """Why the period ``typed`` is refused, and what will do instead."""
    if refused.reason == "no_such_day":
        return texts("calls_bad_period", period=echo(typed))
    today, instead = f"{refused.today:%d.%m}", refused.instead
    return texts(f"period_{refused.reason}", period=echo(typed), today=today, max=MAX_DAYS, instead=instead)


def _days(period: str, today: date) -> tuple[date | None, date | None]:
    """The first and last day ``period`` names as of ``today``, unchecked; None for a day that does not exist."""
    if period == "today":
        return today, today
    if period == "yesterday":
        return today - timedelta(days=1), today - timedelta(days=1)
    if period.endswith("d"):
        return today - timedelta(days=int(period[:-1]) - 1), today
    start, _, end = period.partition("-")
    last = _date(end or start, today, None)
    if not end:
        return last, last
    # A range's start without a year is in the year of its end when the end has one: "25.11–01.12.2026", as printed.
    if last is None or end.count(".") == 2:
        return _date(start, today, last.year if last is not None else None), last
    if start.count(".") == 2:
        return _date(start, today, None), last
    # Neither has a year. A start that comes after its end is read across New Year when that makes a range of a
    # quarter at most ("01.01–10.01" in December: last January); otherwise it is reversed, and said so ("28.11–25.11").
    first = _date(start, today, None)
    if first is not None and first > last:
        for year in (last.year, last.year - 1):
            earlier = _date(start, today, year)
            if earlier is not None and earlier <= last and (last - earlier).days < _NEW_YEAR_SPAN:
                return earlier, last
    return first, last


_NEW_YEAR_SPAN = 92  # days: a year-less range whose start comes after its end is read across New Year up to this long


def _date(spelled: str, today: date, year: int | None) -> date | None:
    """The day ``spelled`` (``dd.mm`` or ``dd.mm.yyyy``) names; without a year, in ``year`` when given, else the
    latest such day up to ``AHEAD`` days from ``today``. None when there is no such day (31.02)."""
    day, month, *typed_year = (int(part) for part in spelled.split("."))
    if typed_year:
        return _existing(typed_year[0], month, day)
    if year is not None:
        return _existing(year, month, day)
    latest = today + timedelta(days=AHEAD)
    for candidate in range(latest.year, latest.year - 9, -1):  # 29.02 comes once in 4 years (8 around 2100)
        found = _existing(candidate, month, day)
        if found is not None and found <= latest:
            return found
    return None


def _existing(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _year_back(day: date) -> date | None:
    return _existing(day.year - 1, day.month, day.day)


def _printed(first: date, last: date, today: date) -> str:
    """The days as the bot prints a period, with no more years than reading it back needs."""
    if first == last:
        spellings = [f"{first:%d.%m}", f"{first:%d.%m.%Y}"]
    else:
        spellings = [
            f"{first:%d.%m}–{last:%d.%m}",
            f"{first:%d.%m}–{last:%d.%m.%Y}",
            f"{first:%d.%m.%Y}–{last:%d.%m.%Y}",
        ]
    return next((s for s in spellings if _days(canonical(s) or "", today) == (first, last)), spellings[-1])
