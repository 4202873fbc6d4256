"""The tests' clock. ``pytest --clock=2026-12-06T22:53:00Z`` (or ``TEST_CLOCK=…``) runs the suite at that instant, the
clock ticking on from it, so a failure seen at some hour can be replayed at any other. ``at`` sets the clock inside a
test (``tests/bot/test_any_hour.py`` runs the time-dependent scenarios at every hour with it); ``@at_noon`` runs a test
that is not about the time of day from noon, whatever the clock says.

time-machine moves what the wall clock says (``time.time()``, ``datetime.now()``, the process's local time zone when
given a ``ZoneInfo``); the monotonic clock asyncio's timeouts run on is left alone, so waits still take real time."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

_TRAVEL = pytest.StashKey[contextlib.ExitStack]()

# For a test whose expected text names a time of day ("вчера 23:58") but which is about something else: it runs from
# noon, so no midnight falls inside it. The time of day itself is tested at every hour (tests/bot/test_any_hour.py).
NOON = datetime(2026, 12, 9, 9, 0, tzinfo=UTC)  # a Wednesday, 12:00 in Moscow (the tests' TIMEZONE)
at_noon = pytest.mark.time_machine(NOON, tick=True)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--clock",
        default=os.environ.get("TEST_CLOCK") or None,
        metavar="INSTANT",
        help="run the suite at this instant, ISO 8601 with its offset (2026-12-06T22:53:00Z, 2026-12-07T01:53+03:00); "
        "the clock ticks on from it. Default: $TEST_CLOCK, else the real time.",
    )


def pytest_configure(config: pytest.Config) -> None:
    typed = config.getoption("clock")
    if not typed:
        return
    instant = _parse_instant(typed)
    stack = contextlib.ExitStack()
    stack.enter_context(at(instant))
    stack.enter_context(_python_children_skipped())
    config.stash[_TRAVEL] = stack


def pytest_unconfigure(config: pytest.Config) -> None:
    stack = config.stash.get(_TRAVEL, None)
    if stack is not None:
        stack.close()


def pytest_report_header(config: pytest.Config) -> str | None:
    typed = config.getoption("clock")
    return f"clock: from {_parse_instant(typed).isoformat()}" if typed else None


def _parse_instant(typed: str) -> datetime:
    """An ISO 8601 instant with its UTC offset (``Z`` or ``+03:00``); a local time without one is ambiguous."""
    try:
        instant = datetime.fromisoformat(typed)
    except ValueError:
        instant = None
    if instant is None or instant.tzinfo is None:
        raise pytest.UsageError(f"--clock / TEST_CLOCK: {typed!r} is not an instant such as 2026-12-06T22:53:00Z")
    return instant


@contextlib.contextmanager
def _python_children_skipped() -> Iterator[None]:
    """A test that starts Python in a child process (``python -m bot``, the sandbox's CLI) is skipped: the child reads
    the real clock, and a bot and a sandbox an hour or a day apart fail for that reason alone."""
    start = subprocess.Popen.__init__

    def refusing(self: subprocess.Popen[Any], args: Any, *rest: Any, **options: Any) -> None:
        program = args[0] if isinstance(args, list | tuple) else args
        if os.path.realpath(str(program)) == os.path.realpath(sys.executable):
            pytest.skip("a Python child process reads the real clock, not --clock's")
        start(self, args, *rest, **options)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess.Popen, "__init__", refusing)
        yield


@contextlib.contextmanager
def at(instant: datetime) -> Iterator[Any]:
    """The wall clock says ``instant`` and ticks on from it; yields time-machine's traveller (``move_to``, ``shift``).
    An ``instant`` in a ``ZoneInfo`` also makes that zone the process's local time (``TZ``)."""
    import time_machine  # a dev dependency, imported only when the clock is set

    with time_machine.travel(instant, tick=True) as traveller:
        yield traveller
