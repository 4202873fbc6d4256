"""Logging for the bot process: quiet third-party chatter, and secrets redacted whatever logs them."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from types import TracebackType

log = logging.getLogger("bot")


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


def configure(level: str, secrets: Iterable[str]) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(Redact(secrets))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for noisy in ("httpx", "httpcore", "apscheduler", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    sys.excepthook = _log_uncaught  # an uncaught error goes through the same redaction


def _log_uncaught(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
    log.critical("Uncaught error", exc_info=(kind, error, tb))
