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

# One message may be written this many times a minute; its further repeats are counted, not written.
REPEAT_BURST, REPEAT_INTERVAL = 10, 60.0


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


class Throttle(logging.Filter):
    """Lets one message through at most ``burst`` times per ``interval`` seconds and counts the rest; the first one
    after the interval says how many were left out. A message is its logger, level and template (``%s`` unfilled),
    so a flood whose arguments vary is cut too: asyncio, out of descriptors, once wrote 541 MB in 90 s."""

    MAX_MESSAGES = 1000  # distinct messages remembered; past it, those whose interval is over are forgotten

    def __init__(
        self,
        interval: float = REPEAT_INTERVAL,
        burst: int = REPEAT_BURST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._interval, self._burst, self._clock = interval, burst, clock
        self._windows: dict[tuple[str, int, str], _Window] = {}
        self._lock = threading.Lock()  # the report workers log from their threads

    def filter(self, record: logging.LogRecord) -> bool:
        key, now = (record.name, record.levelno, str(record.msg)), self._clock()
        with self._lock:
            window = self._windows.get(key)
            if window is not None and now - window.start < self._interval:
                if window.shown < self._burst:
                    window.shown += 1
                    return True
                window.left_out += 1
                return False
            if len(self._windows) >= self.MAX_MESSAGES:
                self._windows = {k: w for k, w in self._windows.items() if now - w.start < self._interval}
            self._windows[key] = _Window(now)
        if window is not None and window.left_out:
            record.msg = f"{record.msg} (and {window.left_out} more like this left out)"
        return True


def configure(level: str, secrets: Iterable[str]) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(Throttle())  # first: it knows a message by its template, which Redact may fill in
    handler.addFilter(Redact(secrets))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for noisy in ("httpx", "httpcore", "apscheduler", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    sys.excepthook = _log_uncaught  # an uncaught error goes through the same redaction


def _log_uncaught(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
    log.critical("Uncaught error", exc_info=(kind, error, tb))
