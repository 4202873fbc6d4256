"""The bot's logging: one error repeated in a flood becomes a few lines and a count, whatever logs it, and never
hides another."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Iterator

import pytest

import newtel
from bot import jobs, logs


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def shown(throttle: logging.Filter, record: logging.LogRecord) -> str | None:
    """The line as the handler would write it, or None if the filter drops it."""
    return record.getMessage() if throttle.filter(record) else None


def record(msg: str, *args: object, name: str = "bot.x", level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_a_repeated_message_is_shown_a_few_times_an_interval_then_counted() -> None:
    clock, written, timers = Clock(), [], []
    throttle = logs.Throttle(
        written.append, interval=60, burst=3, clock=clock, later=lambda *timer: timers.append(timer)
    )
    lines = [shown(throttle, record("Telegram failed on %s (%s)", "sendMessage", n)) for n in range(1000)]
    assert lines[:3] == [f"Telegram failed on sendMessage ({n})" for n in range(3)]
    assert lines[3:] == [None] * 997  # the same template, whatever its details
    # Another message, the same at another level or from another logger: its own allowance.
    assert shown(throttle, record("Balance alert refused (%s)", 1)) == "Balance alert refused (1)"
    assert shown(throttle, record("Telegram failed on %s (%s)", "x", 1, level=logging.WARNING)) is not None
    assert shown(throttle, record("Telegram failed on %s (%s)", "x", 1, name="bot.y")) is not None
    # A message that begins with what it is about ("%s failed": the job) has an allowance for each.
    for what in ("Live check", "Phone check"):
        assert shown(throttle, record("%s failed", what)) == f"{what} failed"
    clock.now += 59.9
    assert shown(throttle, record("Telegram failed on %s (%s)", "sendMessage", 1000)) is None
    clock.now += 0.1  # the interval is over: the count of those left out is written, and the next one goes out
    ((_, flush),) = timers
    flush()
    assert [r.getMessage() for r in written] == [
        "998 more like this left out in 60 s: Telegram failed on sendMessage (3)"
    ]
    assert shown(throttle, record("Telegram failed on %s (%s)", "sendMessage", 1001)) == (
        "Telegram failed on sendMessage (1001)"
    )


def test_a_count_still_due_when_its_message_comes_again_is_written_first() -> None:
    """Should the timer be late, the next record of the message writes the count before it goes out."""
    clock, written = Clock(), []
    throttle = logs.Throttle(written.append, interval=60, burst=1, clock=clock, later=lambda *timer: None)
    assert [shown(throttle, record("Poll failed (%s)", n)) for n in range(3)] == ["Poll failed (0)", None, None]
    clock.now += 61
    assert shown(throttle, record("Poll failed (%s)", 3)) == "Poll failed (3)"
    assert [r.getMessage() for r in written] == ["2 more like this left out in 60 s: Poll failed (1)"]


@pytest.fixture
def restored_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``logs.configure`` sets up the root logger for the process: put the test session's back afterwards (and set no
    timer that would write a count to this test's output a minute later, in another test)."""
    monkeypatch.setattr(logs, "_in_a_thread", lambda delay, callback: None)
    root = logging.getLogger()
    handlers, level, hook = root.handlers[:], root.level, sys.excepthook
    levels = {name: logging.getLogger(name).level for name in ("httpx", "httpcore", "apscheduler", "aiohttp.access")}
    yield
    root.handlers[:], sys.excepthook = handlers, hook
    root.setLevel(level)
    for name, value in levels.items():
        logging.getLogger(name).setLevel(value)


def test_the_configured_log_throttles_a_flood_with_tracebacks(
    restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """asyncio, out of descriptors, logged "socket.accept() out of system resource" with a traceback 395k times."""
    logs.configure("INFO", ["s3cr3t-value"])
    flooding = logging.getLogger("asyncio")
    for _ in range(10_000):
        try:
            raise OSError(24, "Too many open files")
        except OSError:
            flooding.error("socket.accept() out of system resource", exc_info=True)
    logging.getLogger("bot.x").warning("the secret %s is still redacted", "s3cr3t-value")
    out = capsys.readouterr().err
    assert out.count("socket.accept() out of system resource") == logs.REPEAT_BURST
    assert out.count("OSError: [Errno 24] Too many open files") == logs.REPEAT_BURST
    assert len(out) < 20_000
    assert "the secret *** is still redacted" in out and "s3cr3t-value" not in out


def test_different_errors_that_share_a_template_are_each_written(
    restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """The live watch failing 30 times in a minute hides neither another job's crash nor another job's New-Tel
    failure, nor the same job failing in another way: only repeats of one error are cut."""
    logs.configure("INFO", [])
    for _ in range(30):
        jobs.failed("Live check", newtel.NetworkError("connection reset", method="vpbx/get-active-calls"))
    try:
        1 / 0  # noqa: B018 (a bug in the reminders' round)
    except ZeroDivisionError as error:
        jobs.failed("Sending reminders", error)
    jobs.failed("Phone check", newtel.AuthError("key revoked", method="vpbx/get-sip-status", http_status=401))
    jobs.failed("Live check", newtel.AuthError("key revoked", method="vpbx/get-active-calls", http_status=401))
    out = capsys.readouterr().err
    assert out.count("Live check failed (NetworkError") == logs.REPEAT_BURST
    assert "ERROR bot.jobs: Sending reminders failed" in out and "ZeroDivisionError: division by zero" in out
    assert "WARNING bot.jobs: Phone check failed (AuthError: key revoked" in out
    assert "WARNING bot.jobs: Live check failed (AuthError: key revoked" in out


def crash_in_one_place() -> None:
    raise KeyError("chat")


def crash_in_another() -> None:
    raise KeyError("user")


def test_bugs_raised_in_different_places_are_each_written_once_a_flood_of_one_is_cut() -> None:
    """The error handler logs every handler's bug as one line: a flood of one bug does not hide another."""
    throttle = logs.Throttle(lambda count: None, burst=2, clock=Clock(), later=lambda *timer: None)
    bugs = []
    for crash in [crash_in_one_place] * 5 + [crash_in_another]:
        try:
            crash()
        except KeyError as error:
            bugs.append(logging.LogRecord("bot.errors", logging.ERROR, __file__, 1, "Unexpected error", (), None))
            bugs[-1].exc_info = (type(error), error, error.__traceback__)
    assert [throttle.filter(bug) for bug in bugs] == [True, True, False, False, False, True]


def test_the_count_of_a_flood_that_stops_is_written_when_its_interval_ends() -> None:
    clock, written, timers = Clock(), [], []
    throttle = logs.Throttle(
        written.append, interval=60, burst=3, clock=clock, later=lambda *timer: timers.append(timer)
    )
    flood = [record("%s failed (%s: %s)", "Live check", "NetworkError", n, level=logging.WARNING) for n in range(30)]
    assert [shown(throttle, r) for r in flood[:4]] == [f"Live check failed (NetworkError: {n})" for n in range(3)] + [
        None
    ]
    assert [delay for delay, _ in timers] == [60]  # the first left out asks to be woken when the interval ends
    clock.now += 10
    assert [shown(throttle, r) for r in flood[4:]] == [None] * 26
    assert len(timers) == 1 and written == []
    clock.now += 50  # the flood stopped; nothing else is logged; the interval ends
    timers.pop()[1]()
    (count,) = written
    assert (count.name, count.levelno) == ("bot.x", logging.WARNING)
    assert count.getMessage() == "27 more like this left out in 60 s: Live check failed (NetworkError: 3)"
    assert throttle.filter(count)  # it passes the throttle it came from
    # The next failure starts a new interval: it is written, and nothing more is pending.
    assert shown(throttle, flood[0]) == "Live check failed (NetworkError: 0)" and timers == []


def test_a_count_is_redacted_like_any_line(capsys: pytest.CaptureFixture[str]) -> None:
    clock, timers = Clock(), []
    handler = logging.StreamHandler()
    handler.addFilter(logs.Throttle(handler.handle, burst=1, clock=clock, later=lambda *timer: timers.append(timer)))
    handler.addFilter(logs.Redact(["s3cr3t-value"]))
    for n in range(3):
        handler.handle(record("Webhook %s refused (%s)", "https://bot.example/s3cr3t-value", n))
    clock.now += logs.REPEAT_INTERVAL
    timers.pop()[1]()
    assert capsys.readouterr().err.splitlines() == [
        "Webhook https://bot.example/*** refused (0)",
        "2 more like this left out in 60 s: Webhook https://bot.example/*** refused (1)",
    ]


async def test_the_count_is_written_by_a_timer_of_its_own() -> None:
    """As configured: no record has to come after the flood for its count to be written."""
    written: list[logging.LogRecord] = []
    throttle = logs.Throttle(written.append, interval=0.2, burst=1)
    started = time.monotonic()
    assert [shown(throttle, record("Poll failed (%s)", n)) for n in range(3)] == ["Poll failed (0)", None, None]
    async with asyncio.timeout(5):
        while not written:
            await asyncio.sleep(0.01)
    assert time.monotonic() - started >= 0.2
    assert [r.getMessage() for r in written] == ["2 more like this left out in 0.2 s: Poll failed (1)"]
