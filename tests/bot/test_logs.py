"""The bot's logging: one message repeated in a flood becomes a few lines and a count, whatever logs it."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator

import pytest

from bot import logs


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
    clock = Clock()
    throttle = logs.Throttle(interval=60, burst=3, clock=clock)
    lines = [shown(throttle, record("Telegram failed on %s (%s)", "sendMessage", n)) for n in range(1000)]
    assert lines[:3] == [f"Telegram failed on sendMessage ({n})" for n in range(3)]
    assert lines[3:] == [None] * 997  # the same template, whatever its arguments
    # Another message, or the same at another level or from another logger, has its own allowance.
    assert shown(throttle, record("Balance alert refused (%s)", 1)) == "Balance alert refused (1)"
    assert shown(throttle, record("Telegram failed on %s (%s)", "x", 1, level=logging.WARNING)) is not None
    assert shown(throttle, record("Telegram failed on %s (%s)", "x", 1, name="bot.y")) is not None
    clock.now += 59.9
    assert shown(throttle, record("Telegram failed on %s (%s)", "sendMessage", 1000)) is None
    clock.now += 0.1  # the interval is over: the next one goes out, with the count of those left out
    assert shown(throttle, record("Telegram failed on %s (%s)", "sendMessage", 1001)) == (
        "Telegram failed on sendMessage (1001) (and 998 more like this left out)"
    )
    assert shown(throttle, record("Telegram failed on %s (%s)", "sendMessage", 1002)) == (
        "Telegram failed on sendMessage (1002)"
    )


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """``logs.configure`` sets up the root logger for the process: put the test session's back afterwards."""
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
