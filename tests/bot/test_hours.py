"""Business hours: the /hours parser, and time counted inside the hours (across nights, weekends and clock changes)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.alerts.hours import Hours, parse

MOSCOW = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")  # moves its clocks: 2025-03-30 02:00 -> 03:00, 2025-10-26 03:00 -> 02:00
WEEKDAYS = frozenset(range(5))
RU_DAYS = ["пн", "вт", "ср", "чт", "пт", "сб", "вс"]
EN_DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def at(text: str, zone: ZoneInfo = MOSCOW) -> float:
    """Unix seconds of a local "2025-03-14 10:42" (14 March 2025 is a Friday)."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=zone).timestamp()


def local(seconds: float, zone: ZoneInfo = MOSCOW) -> str:
    return datetime.fromtimestamp(seconds, zone).strftime("%a %Y-%m-%d %H:%M")


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("09:00-19:00 mon-fri", Hours(9 * 60, 19 * 60, WEEKDAYS)),
        ("9-19 пн-пт", Hours(9 * 60, 19 * 60, WEEKDAYS)),
        ("09:00 – 19:00 Пн - Пт", Hours(9 * 60, 19 * 60, WEEKDAYS)),
        ("mon-fri 08:30-17:30", Hours(8 * 60 + 30, 17 * 60 + 30, WEEKDAYS)),
        ("10:00-18:00 mon,wed,fri", Hours(10 * 60, 18 * 60, frozenset({0, 2, 4}))),
        ("10.00-16.00 сб вс", Hours(10 * 60, 16 * 60, frozenset({5, 6}))),
        ("08:00-20:00 будни", Hours(8 * 60, 20 * 60, WEEKDAYS)),
        ("9-21", Hours(9 * 60, 21 * 60, frozenset(range(7)))),  # no days: every day
        ("00:00-24:00 пт-пн", Hours(0, 24 * 60, frozenset({4, 5, 6, 0}))),  # a range of days wraps over the weekend
        ("9-18 sat, sunday", Hours(9 * 60, 18 * 60, frozenset({5, 6}))),
    ],
)
def test_hours_as_people_type_them(typed: str, expected: Hours) -> None:
    assert parse(typed) == expected


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "mon-fri",  # no time range
        "19:00-09:00",  # backwards (the hours do not cross midnight)
        "09:00-09:00",
        "09:60-10:00",
        "25-26",
        "24:00-24:00",
        "24:30-25:00",
        "9-19 10-12",  # two ranges
        "9-19 someday",
        "9-19 пн-",
        "9-19 mon-xyz",
        "9-19 weekdays-sun",
    ],
)
def test_anything_else_is_refused(typed: str) -> None:
    assert parse(typed) is None


def test_stored_as_json_and_back() -> None:
    hours = Hours(9 * 60 + 30, 24 * 60, frozenset({0, 6}))
    assert hours.to_json() == {"start": "09:30", "end": "24:00", "days": [0, 6]}
    assert Hours.from_json(hours.to_json()) == hours
    assert Hours.from_json(None) is None


def described(typed: str, day_names: list[str], every_day: str) -> str:
    hours = parse(typed)
    assert hours is not None
    return hours.describe(day_names, every_day)


def test_described_in_each_language() -> None:
    assert described("09:00-19:00 mon-fri", RU_DAYS, "каждый день") == "09:00–19:00, пн–пт"
    assert described("10-18 mon,wed,fri", EN_DAYS, "every day") == "10:00–18:00, Mon, Wed, Fri"
    assert described("10-16 сб вс", RU_DAYS, "каждый день") == "10:00–16:00, сб, вс"
    assert described("0-24 mon-wed fri sat", EN_DAYS, "every day") == "00:00–24:00, Mon–Wed, Fri, Sat"
    assert described("9-21", RU_DAYS, "каждый день") == "09:00–21:00, каждый день"


def test_open_and_the_next_opening() -> None:
    hours = Hours(9 * 60, 19 * 60, WEEKDAYS)
    assert hours.is_open(at("2025-03-14 09:00"), MOSCOW)
    assert hours.is_open(at("2025-03-14 18:59"), MOSCOW)
    assert not hours.is_open(at("2025-03-14 19:00"), MOSCOW)  # closing is not open
    assert not hours.is_open(at("2025-03-15 12:00"), MOSCOW)  # Saturday
    assert hours.opens_at(at("2025-03-14 12:00"), MOSCOW) == at("2025-03-14 12:00")
    assert local(hours.opens_at(at("2025-03-14 19:30"), MOSCOW)) == "Mon 2025-03-17 09:00"
    assert local(hours.opens_at(at("2025-03-17 03:00"), MOSCOW)) == "Mon 2025-03-17 09:00"


@pytest.mark.parametrize(
    ("start", "minutes", "expected"),
    [
        ("2025-03-14 10:42", 15, "Fri 2025-03-14 10:57"),  # inside the hours: plain addition
        ("2025-03-14 18:50", 15, "Mon 2025-03-17 09:05"),  # 10 minutes on Friday, 5 on Monday
        ("2025-03-14 23:10", 15, "Mon 2025-03-17 09:15"),  # a miss at night: counted from the opening
        ("2025-03-17 08:00", 0, "Mon 2025-03-17 09:00"),  # nothing to count: the opening itself
        ("2025-03-14 10:00", 20 * 60, "Tue 2025-03-18 10:00"),  # 20 business hours: Friday 9, Monday 10, Tuesday 1
    ],
)
def test_time_counts_inside_the_hours_only(start: str, minutes: int, expected: str) -> None:
    hours = Hours(9 * 60, 19 * 60, WEEKDAYS)
    assert local(hours.add(at(start), minutes * 60, MOSCOW)) == expected


def test_a_day_with_a_clock_change_is_as_long_as_it_really_is() -> None:
    always = Hours(0, 24 * 60, frozenset(range(7)))
    # 30 March 2025 has 23 hours in Berlin: a day of business time from Saturday noon ends at 13:00 on Sunday.
    assert local(always.add(at("2025-03-29 12:00", BERLIN), 24 * 3600, BERLIN), BERLIN) == "Sun 2025-03-30 13:00"
    # 26 October has 25: it ends at 11:00.
    assert local(always.add(at("2025-10-25 12:00", BERLIN), 24 * 3600, BERLIN), BERLIN) == "Sun 2025-10-26 11:00"
    # 01:00-04:00 on the spring day is two real hours (02:00-03:00 does not exist): the third comes the next night.
    night = Hours(60, 4 * 60, frozenset(range(7)))
    assert local(night.add(at("2025-03-30 01:00", BERLIN), 3 * 3600, BERLIN), BERLIN) == "Mon 2025-03-31 02:00"
    assert night.is_open(at("2025-03-30 03:30", BERLIN), BERLIN)


@pytest.mark.parametrize(
    ("hours", "start", "minutes"),
    [
        (Hours(9 * 60, 19 * 60, WEEKDAYS), "2025-03-14 18:50", 10_080),  # a week of minutes: 16.8 working weeks
        (Hours(9 * 60, 19 * 60, WEEKDAYS), "2025-03-15 03:00", 3 * 3000 + 7),  # from a Saturday night
        (Hours(9 * 60, 9 * 60 + 1, frozenset({6})), "2025-03-14 10:00", 137),  # a minute on Sundays
    ],
)
def test_a_long_deadline_steps_over_whole_weeks_to_the_same_moment(hours: Hours, start: str, minutes: int) -> None:
    """The same moment as adding it a piece (under two weeks' worth) at a time, which walks every window."""
    week = len(hours.days) * (hours.end - hours.start) * 60
    expected, left = at(start), minutes * 60
    while left > 0:
        piece = min(left, week)
        expected, left = hours.add(expected, piece, MOSCOW), left - piece
    assert local(hours.add(at(start), minutes * 60, MOSCOW)) == local(expected)


def test_a_deadline_of_a_week_with_a_minute_on_sundays_is_quick() -> None:
    """The reviewer's pathological /sla 10080 with /hours 09:00-09:01 вс: 10,080 Sundays, found at once."""
    sundays = Hours(9 * 60, 9 * 60 + 1, frozenset({6}))
    due = sundays.add(at("2025-03-14 10:00"), 10_080 * 60, MOSCOW)
    assert local(due).startswith("Sun ") and local(due).endswith(" 09:01")
    assert datetime.fromtimestamp(due, MOSCOW).year == 2218  # 10,080 weeks after March 2025
