"""Requests to Telegram: PTB's flood limits, and patience with Telegram's own failures."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError
from telegram.ext import AIORateLimiter

log = logging.getLogger(__name__)

RETRY_BUDGET = 8.0  # seconds one request may spend retrying; with New-Tel's bound a reply comes within ~20 s
_FIRST_DELAY, _MAX_DELAY = 0.25, 4.0


def not_taken(error: TelegramError) -> bool:
    """Whether Telegram surely did not act on the request: it asked to wait (429), answered that it failed (a 5xx:
    PTB raises it with no transport error behind it, or with the error of parsing a body that is not JSON, such as a
    proxy's 502 page), or the request never left (no connection, no free one). A connection that broke or timed out
    after the request was written may have been acted on."""
    if isinstance(error, RetryAfter):
        return True
    if not isinstance(error, NetworkError) or isinstance(error, BadRequest):
        return False
    cause = error.__cause__
    return cause is None or isinstance(
        cause, TelegramError | httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout
    )


def transient(error: TelegramError) -> bool:
    """A failure worth retrying: 5xx answers, network errors and timeouts (``NetworkError``, less the 400s PTB
    files under it), and 429."""
    return isinstance(error, RetryAfter) or (isinstance(error, NetworkError) and not isinstance(error, BadRequest))


class PatientRateLimiter(AIORateLimiter):
    """AIORateLimiter (groups held to ~20 messages a minute, every 429 waited out) that also retries Telegram's
    5xx answers and network failures for a few seconds, so a command's reply survives a storm the way an alert
    does. A refusal (400 and the like: ``BadRequest``) is final and not retried."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Any]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        loop = asyncio.get_running_loop()
        give_up, delay = loop.time() + RETRY_BUDGET, _FIRST_DELAY
        while True:
            try:
                return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)
            except NetworkError as error:
                # A send whose connection broke or timed out may have been posted all the same: better no reply
                # twice than a retry.
                if not transient(error) or (endpoint.startswith("send") and not not_taken(error)):
                    raise
                wait = random.uniform(delay / 2, delay)  # jitter: many replies must not retry in step
                if loop.time() + wait > give_up:
                    raise
                log.info("Telegram failed on %s (%s); retrying in %.2f s", endpoint, error, wait)
                await asyncio.sleep(wait)
                delay = min(delay * 2, _MAX_DELAY)
