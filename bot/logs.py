"""Logging for the bot process: quiet third-party chatter, floods of one message cut to a few lines and a count,
and secrets redacted whatever logs them."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType

log = logging.getLogger("bot")

# One message may be written this many times an interval; its further repeats are counted, and the count is written
# when the interval ends.
REPEAT_BURST, REPEAT_INTERVAL = 10, 60.0
SAMPLE_CHARS = 500  # of the message a count is written with


class Redact(logging.Filter):
    """Replaces each secret with *** in every record, tracebacks included (httpx, for one, logs URLs with
    the bot token, and PTB's InvalidToken quotes it)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s]

    def clean(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(secret in message for secret in self._secrets):
            record.msg, record.args = self.clean(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self.clean(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = self.clean(record.stack_info)
        return True


@dataclass
class _Window:
    start: float
    shown: int = 1
    left_out: int = 0
    first: _Left | None = None  # the first one left out, whose message the count is written with


Later = Callable[[float, Callable[[], None]], object]  # (delay, callback): call it back that many seconds later


def _in_a_thread(delay: float, callback: Callable[[], None]) -> None:
    timer = threading.Timer(delay, callback)
    timer.daemon = True
    timer.start()


class Throttle(logging.Filter):
    """Lets one message through at most ``burst`` times per ``interval`` seconds and counts the rest; when the interval
    ends, one line to ``out`` says how many were left out, so a flood that stops is still counted.

    A message is its logger, level and template (``%s`` unfilled: a flood whose details vary is cut too; asyncio, out
    of descriptors, once wrote 541 MB in 90 s), what it is about (the argument it begins with: the job in
    "%s failed") and the error it carries (its type and the line that raised it), so that one error's flood never
    hides another error."""

    MAX_MESSAGES = 1000  # distinct messages remembered; past it, those whose interval is over are forgotten

    def __init__(
        self,
        out: Callable[[logging.LogRecord], object],
        interval: float = REPEAT_INTERVAL,
        burst: int = REPEAT_BURST,
        clock: Callable[[], float] = time.monotonic,
        later: Later | None = None,  # by default a timer thread
    ) -> None:
        super().__init__()
        self._out, self._interval, self._burst, self._clock = out, interval, burst, clock
        self._later = later or _in_a_thread
        self._windows: dict[tuple[object, ...], _Window] = {}
        self._woken_at: float | None = None  # when the timer set to write the counts due goes off
        self._lock = threading.Lock()  # the report workers log from their threads, the timer from its own

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record, _Count):
            return True
        key, now, due = _message(record), self._clock(), None
        with self._lock:
            window = self._windows.get(key)
            if window is not None and now - window.start < self._interval:
                if window.shown < self._burst:
                    window.shown += 1
                    return True
                window.left_out += 1
                if window.first is None:
                    window.first = _Left(record.name, record.levelno, _text(record)[:SAMPLE_CHARS])
                    self._wake(now)
                return False
            if window is not None and window.left_out:  # its timer is late
                due = self._count(window)
            if len(self._windows) >= self.MAX_MESSAGES:
                self._windows = {k: w for k, w in self._windows.items() if now - w.start < self._interval or w.left_out}
            self._windows[key] = _Window(now)
        if due is not None:
            self._out(due)
        return True

    def _wake(self, now: float) -> None:
        """Under the lock: have the counts written when the earliest interval with some left out ends."""
        ends = [w.start + self._interval for w in self._windows.values() if w.left_out]
        if ends and (self._woken_at is None or min(ends) < self._woken_at):
            self._woken_at = min(ends)
            self._later(max(0.0, self._woken_at - now), self._write_counts)

    def _count(self, window: _Window) -> _Count:
        assert window.first is not None
        return _Count(window.first, window.left_out, self._interval)

    def _write_counts(self) -> None:
        now = self._clock()
        with self._lock:
            self._woken_at = None
            over = {k: w for k, w in self._windows.items() if w.left_out and now - w.start >= self._interval}
            for key in over:
                del self._windows[key]  # the message's next record starts a new interval
            counts = [self._count(window) for window in over.values()]
            self._wake(now)
        for count in counts:
            self._out(count)


def _text(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # arguments that do not fit the template: logging reports that when it writes the record
        return str(record.msg)


def _message(record: logging.LogRecord) -> tuple[object, ...]:
    """What makes two records the same message to the throttle."""
    args = record.args if isinstance(record.args, tuple) else ()
    # Its subject, when it begins with one ("%s failed": the job), not ids further in ("Call %s: …").
    about = args[0][:200] if str(record.msg).startswith("%s") and args and isinstance(args[0], str) else None
    error = record.exc_info[1] if record.exc_info else next((a for a in args if isinstance(a, BaseException)), None)
    raised = None
    if error is not None:
        frames = error.__traceback__
        while frames is not None and frames.tb_next is not None:
            frames = frames.tb_next
        where = (frames.tb_frame.f_code.co_filename, frames.tb_lineno) if frames is not None else None
        raised = (type(error).__qualname__, where)
    return record.name, record.levelno, str(record.msg), about, raised


@dataclass(frozen=True)
class _Left:
    logger: str
    level: int
    message: str


class _Count(logging.LogRecord):
    """The line saying how many records of a message were left out: at their level, from their logger, with the first
    one's message (not its traceback)."""

    def __init__(self, first: _Left, left_out: int, interval: float) -> None:
        text = f"{left_out} more like this left out in {interval:g} s: {first.message}"
        super().__init__(first.logger, first.level, __file__, 0, text, None, None)


def configure(level: str, secrets: Iterable[str]) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(Throttle(handler.handle))  # first: it knows a message by its template, which Redact may fill in
    handler.addFilter(Redact(secrets))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for noisy in ("httpx", "httpcore", "apscheduler", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    sys.excepthook = _log_uncaught  # an uncaught error goes through the same redaction


def _log_uncaught(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
    log.critical("Uncaught error", exc_info=(kind, error, tb))
