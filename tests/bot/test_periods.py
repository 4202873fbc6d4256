"""Periods read as the bot prints them and as people type them; one refused says why and offers one that works."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.calls import periods
from bot.reports.caption import period_label
from bot.watch.poller import poller
from tests.bot.conftest import MANAGER, World

ZONE = ZoneInfo("Europe/Moscow")  # the bot's (TIMEZONE's default)
CUSTOMER, SHOWN = "79035551122", "+7 903 555-11-22"


def moscow(year: int, month: int, day: int, hour: int = 12) -> datetime:
    return datetime(year, month, day, hour, tzinfo=ZONE)


# --- the rules, at fixed moments ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "first", "last"),
    [
        ("06.12.2026", date(2026, 12, 6), date(2026, 12, 6)),  # with the year
        ("6.12.26", date(2026, 12, 6), date(2026, 12, 6)),
        ("25.11–28.11", date(2026, 11, 25), date(2026, 11, 28)),  # the en dash the bot prints
        ("25.11 — 28.11", date(2026, 11, 25), date(2026, 11, 28)),  # an em dash, spaced
        ("25.11 -28.11", date(2026, 11, 25), date(2026, 11, 28)),
        ("25.11–01.12.2026", date(2026, 11, 25), date(2026, 12, 1)),  # the start in the end's year, as printed
        ("28.12.2025–02.01.2026", date(2025, 12, 28), date(2026, 1, 2)),
        ("06.12", date(2026, 12, 6), date(2026, 12, 6)),  # today
        ("01.06", date(2026, 6, 1), date(2026, 6, 1)),  # half a year back, not half a year ahead
        ("366d", date(2025, 12, 6), date(2026, 12, 6)),
        ("01.01-10.01", date(2026, 1, 1), date(2026, 1, 10)),  # last January, not a reversed range
        ("25.12-10.01", date(2025, 12, 25), date(2026, 1, 10)),  # across New Year
        ("01.01.0001", date(1, 1, 1), date(1, 1, 1)),  # four digits are the year typed, not 2001
    ],
)
def test_what_people_type_and_what_the_bot_prints_name_these_days(typed: str, first: date, last: date) -> None:
    found = periods.read(periods.canonical(typed) or "", ZONE, moscow(2026, 12, 6, hour=23))
    assert isinstance(found, periods.Days) and (found.first, found.last) == (first, last)
    assert found.start == int(datetime(first.year, first.month, first.day, tzinfo=ZONE).timestamp())


@pytest.mark.parametrize(
    ("typed", "now", "reason", "instead"),
    [
        ("07.12", moscow(2026, 12, 6), "future", "07.12.2025"),  # tomorrow, not a year ago
        ("07.12", moscow(2026, 12, 6, hour=0), "future", "07.12.2025"),  # just after midnight in Moscow
        ("07.12.2026", moscow(2026, 12, 6, hour=23), "future", "07.12.2025"),
        ("01.12-08.12", moscow(2026, 12, 6), "future", "01.12–06.12"),  # up to today will do
        ("15.01", moscow(2026, 1, 3), "future", "15.01.2025"),
        ("01.01.2030", moscow(2026, 12, 6), "future", "06.12"),
        ("28.11-25.11", moscow(2026, 12, 6), "reversed", "25.11–28.11"),
        ("02.01-28.12", moscow(2026, 1, 3), "reversed", "28.12–02.01"),
        ("367d", moscow(2026, 12, 6), "too_long", "06.12.2025–06.12.2026"),
        ("25.11.2024-28.11.2026", moscow(2026, 12, 6), "too_long", "28.11.2025–28.11.2026"),
        ("31.02", moscow(2026, 12, 6), "no_such_day", ""),
    ],
)
def test_a_refused_period_says_why_and_offers_one_that_is_read(
    typed: str, now: datetime, reason: str, instead: str
) -> None:
    found = periods.read(periods.canonical(typed) or "", ZONE, now)
    assert found == periods.Refused(reason, now.date(), instead)  # type: ignore[arg-type]
    if instead:
        assert isinstance(periods.read(periods.canonical(instead) or "", ZONE, now), periods.Days)


def test_every_period_the_bot_prints_reads_back_as_its_days() -> None:
    now = moscow(2026, 12, 6)
    for first, last in [(date(2026, 12, 6), date(2026, 12, 6)), (date(2026, 11, 25), date(2026, 12, 1)),
                        (date(2025, 12, 28), date(2026, 1, 2)), (date(2025, 12, 7), date(2026, 12, 6))]:  # fmt: skip
        printed = period_label(
            datetime(first.year, first.month, first.day, tzinfo=ZONE),
            datetime(last.year, last.month, last.day, tzinfo=ZONE) + timedelta(days=1),
        )
        found = periods.read(periods.canonical(printed) or "", ZONE, now)
        assert isinstance(found, periods.Days) and (found.first, found.last) == (first, last), printed


# --- end to end -----------------------------------------------------------------------------------------------


async def archived_miss(world: World) -> date:
    """A miss a minute ago, in the archive only (New-Tel has forgotten it); the day it was on, in the bot's zone."""
    sandbox = world.sandbox
    now = sandbox.now()
    sandbox.add_call(direction="in", clid=CUSTOMER, status="no answer", start=now - 60, end=now - 40)
    await poller(world.app).poll_once(world.app.bot)
    sandbox.company.clear_calls()
    return datetime.fromtimestamp(now - 60, ZONE).date()


async def ask_within_a_day(world: World, text: Callable[[date], str], language: str) -> tuple[date, str]:
    """The manager's reply to ``text(today)``, asked within one day in the bot's zone (again, if midnight passed
    while it was asked), with the day it was asked on."""
    world.services.storage.users.set_language(MANAGER, language, now=int(time.time()))  # type: ignore[arg-type]
    for _ in range(2):
        today = datetime.now(ZONE).date()
        reply = await world.ask(MANAGER, text(today))
        if datetime.now(ZONE).date() == today:
            return today, reply
    raise AssertionError("two midnights in one test")


def dd_mm(day: date) -> str:
    return f"{day:%d.%m}"


@pytest.mark.parametrize("language", ["ru", "en"])
async def test_calls_of_a_period_typed_as_the_bot_prints_it_with_a_year_or_any_dash(
    world: World, manager: object, language: str
) -> None:
    on = await archived_miss(world)
    before = on - timedelta(days=1)
    for typed in (
        f"{on:%d.%m.%Y}",
        f"{dd_mm(before)}–{dd_mm(on)}",
        f"{dd_mm(before)} — {dd_mm(on)}",
        f"{before:%d.%m.%Y} - {on:%d.%m.%Y}",
        period_label(datetime(before.year, before.month, before.day, tzinfo=ZONE), datetime.now(ZONE)),
    ):
        _, reply = await ask_within_a_day(world, lambda _, typed=typed: f"/calls missed {typed}", language)
        assert SHOWN in reply and reply.startswith("📞"), typed


REFUSALS = {
    "ru": {
        "future": r"«(?P<period>.+)» — ещё впереди: сегодня (?P<today>\d\d\.\d\d)\. "
        r"Подойдёт, например, (?P<instead>.+)\.",
        "reversed": r"В периоде «(?P<period>.+)» начало позже конца\. Может быть, (?P<instead>.+)\?",
        "too_long": r"Период «(?P<period>.+)» длиннее 366 дней — за один раз столько не покажу\. "
        r"Например: (?P<instead>.+)\.",
    },
    "en": {
        "future": r"“(?P<period>.+)” is still to come: today is (?P<today>\d\d\.\d\d)\. "
        r"This will do, for example: (?P<instead>.+)\.",
        "reversed": r"“(?P<period>.+)” ends before it starts\. Did you mean (?P<instead>.+)\?",
        "too_long": r"“(?P<period>.+)” is longer than 366 days, the most one answer covers\. "
        r"For example: (?P<instead>.+)\.",
    },
}


@pytest.mark.parametrize("language", ["ru", "en"])
async def test_a_period_in_the_future_reversed_or_too_long_is_refused_with_why_and_what_will_do(
    world: World, manager: object, language: str
) -> None:
    on = await archived_miss(world)

    def two_days_ahead(today: date) -> date:  # a day a year back exists (no 29.02)
        ahead = today + timedelta(days=2)
        return ahead if (ahead.month, ahead.day) != (2, 29) else ahead + timedelta(days=1)

    cases: list[tuple[str, Callable[[date], str]]] = [
        ("future", lambda today: f"/calls {dd_mm(today + timedelta(days=1))}"),  # tomorrow: not last year's
        ("future", lambda today: f"/calls {dd_mm(two_days_ahead(today))}"),
        ("future", lambda today: f"/report {dd_mm(today - timedelta(days=2))}–{dd_mm(today + timedelta(days=3))}"),
        ("reversed", lambda today: f"/calls {dd_mm(on)}–{dd_mm(on - timedelta(days=1))}"),
        ("too_long", lambda today: "/report 400d"),
    ]
    for reason, text in cases:
        today, reply = await ask_within_a_day(world, text, language)
        found = re.fullmatch(REFUSALS[language][reason], reply)
        assert found is not None, (text(today), reply)
        if reason == "future":
            assert found["today"] == dd_mm(today)
        if reason == "reversed":
            assert found["instead"] == f"{dd_mm(on - timedelta(days=1))}–{dd_mm(on)}"
        # What it offers is a period the bot answers (with the miss when it covers its day).
        offer = f"/calls missed {found['instead']}"
        _, offered = await ask_within_a_day(world, lambda _, offer=offer: offer, language)
        assert offered.startswith("📞") or offered in ("Звонков нет (пропущенные).", "No calls (missed)."), offered
