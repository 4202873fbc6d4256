"""Requests to Telegram: each group's pace (``ChatPace``), a 429's wait held for its chat alone, and patience with
Telegram's own failures."""

from __future__ import annotations

import asyncio
import datetime as dtm
import logging
import random
import warnings
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import httpx
from telegram import constants
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError
from telegram.ext import AIORateLimiter

if TYPE_CHECKING:
    from bot.monitor import Monitor

log = logging.getLogger(__name__)

RETRY_BUDGET = 8.0  # seconds one request may spend on 429s and 5xx; with New-Tel's bound a reply comes within ~20 s
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


def wait_asked(error: RetryAfter) -> float:
    """The seconds a 429 asked to wait."""
    with warnings.catch_warnings():  # PTB 22 deprecates reading it as an int
        warnings.simplefilter("ignore")
        value = error.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


def _asked_to_wait(seconds: float) -> RetryAfter:
    """The 429 Telegram would answer while its wait lasts."""
    with warnings.catch_warnings():  # its constructor reads the deprecated int
        warnings.simplefilter("ignore")
        return RetryAfter(dtm.timedelta(seconds=seconds))


def transient(error: TelegramError) -> bool:
    """A failure worth retrying: 5xx answers, network errors and timeouts (``NetworkError``, less the 400s PTB
    files under it), and 429."""
    return isinstance(error, RetryAfter) or (isinstance(error, NetworkError) and not isinstance(error, BadRequest))


class ChatPace:
    """Telegram's pace in each group: ``rate`` messages a ``period``, the first ``rate`` of them at once, as
    aiolimiter's leaky bucket (which AIORateLimiter used) lets them go; kept as a "generic cell rate" (each chat's
    next due time). Its own rather than aiolimiter's because a chat's lane must ask when its next turn comes without
    taking it (``free_in``): a board edit waiting for its turn gives it up to an alert that arrives meanwhile."""

    _FORGET_PAST = 512  # chats remembered before those whose pace is caught up are forgotten

    def __init__(self, rate: float, period: float) -> None:
        self._interval = period / rate  # seconds between two turns once the burst is spent
        self._ahead = (rate - 1) * self._interval  # how far a chat may run ahead of its pace: the burst
        self._due: dict[str, float] = {}  # chat -> when (loop time) the turns it took are paid off

    def free_in(self, chat: str, now: float) -> float:
        """Seconds until a turn of ``chat``'s is free (0: now)."""
        return max(0.0, self._due.get(chat, now) - self._ahead - now)

    def take(self, chat: str, now: float) -> float:
        """Take ``chat``'s next turn: the seconds to wait for it (turns are taken in order, first come first served)."""
        wait = self.free_in(chat, now)
        if len(self._due) > self._FORGET_PAST:
            self._due = {key: due for key, due in self._due.items() if due > now}
        self._due[chat] = max(self._due.get(chat, now), now) + self._interval
        return wait


def _group(chat_id: object) -> str | None:
    """The key of a group's or channel's chat (negative id, or ``@username``) as AIORateLimiter tells them; None for
    a private chat or none."""
    try:
        number = int(str(chat_id))
    except ValueError:
        return chat_id if isinstance(chat_id, str) else None
    return str(number) if number < 0 else None


class _PastTheBudget(Exception):
    """A 429 asking for a wait the request's budget does not have: given up, not waited out."""

    def __init__(self, error: RetryAfter) -> None:
        super().__init__(error)
        self.error = error


class _HeldBack(Exception):
    """A 429 whose wait fits the request's budget: its chat is held, and the request tried again once it is over."""


class PatientRateLimiter(AIORateLimiter):
    """Groups held to ~20 messages a minute (``ChatPace``), AIORateLimiter's overall pace, and one budget per
    request: the 429s whose
    wait fits in ``RETRY_BUDGET`` are waited out and the request made again, and Telegram's 5xx answers and network
    failures are retried for as long, so a command's reply survives a storm the way an alert does. A wait past the
    budget is not waited: the 429 is raised at once, for the caller to log once (a reply is dropped; an alert waits
    for the next look). A refusal (400 and the like: ``BadRequest``) is final.

    Until a 429's wait is over, nothing more goes to its chat (to every chat when the request had none): Telegram
    lengthens the wait of a bot that keeps sending. Such a request waits out what is left if its budget allows,
    else it is refused with that ``RetryAfter`` at once, without asking Telegram. Other chats go on meanwhile:
    AIORateLimiter's own retry, which pauses every request to every chat, never sees a 429."""

    def __init__(
        self,
        monitor: Monitor | None = None,
        *,
        group_max_rate: float = constants.FloodLimit.MESSAGES_PER_MINUTE_PER_GROUP,
        group_time_period: float = 60,
        **overall: Any,
    ) -> None:
        """``monitor`` is told of every request that reaches Telegram, every retry and every final failure."""
        # The groups' pace is ours (ChatPace); AIORateLimiter keeps the overall one. Its retry is never asked for:
        # see _patiently.
        super().__init__(max_retries=0, group_max_rate=0, **overall)
        self._pace = ChatPace(group_max_rate, group_time_period) if group_max_rate and group_time_period else None
        self._held: dict[str | None, float] = {}  # until when (loop time) Telegram asked a chat (None: all) to wait
        self._monitor = monitor

    def free_in(self, chat_id: int) -> float:
        """Seconds until a request to ``chat_id`` would go to Telegram without waiting (0: now): its group's next
        turn, and what is left of a 429's wait. A chat's lane asks it before it begins work it may give up."""
        loop = asyncio.get_running_loop()
        now, group = loop.time(), _group(chat_id)
        turn = 0.0 if self._pace is None or group is None else self._pace.free_in(group, now)
        return max(turn, self._left(str(chat_id), now))

    def _hold(self, chat: str | None, until: float, now: float) -> None:
        self._held = {key: end for key, end in self._held.items() if end > now}  # the waits that are over, forgotten
        self._held[chat] = max(until, self._held.get(chat, until))

    def _left(self, chat: str | None, now: float) -> float:
        """Seconds left of the waits Telegram asked for that hold a request to ``chat``."""
        return max(self._held.get(None, now), self._held.get(chat, now)) - now

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Any]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        try:
            return await self._patiently(callback, args, kwargs, endpoint, data, rate_limit_args)
        except Exception as error:
            if self._monitor is not None:
                self._monitor.telegram_failed(endpoint, error)
            raise

    async def _patiently(
        self,
        callback: Callable[..., Coroutine[Any, Any, Any]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        loop, monitor = asyncio.get_running_loop(), self._monitor
        give_up, delay = loop.time() + RETRY_BUDGET, _FIRST_DELAY
        chat = None if data.get("chat_id") is None else str(data["chat_id"])

        async def waited_out() -> None:
            """What Telegram asked of this chat waited out, when the budget allows; else its RetryAfter raised."""
            while (left := self._left(chat, loop.time())) > 0:
                if loop.time() + left > give_up:
                    raise _PastTheBudget(_asked_to_wait(left))
                await asyncio.sleep(left)

        async def within_budget(*args: Any, **kwargs: Any) -> Any:
            await waited_out()  # again: a 429 may have come while this waited for its turn of the chat's pace
            if monitor is not None:
                monitor.telegram_request(endpoint)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as error:
                now = loop.time()
                self._hold(chat, now + wait_asked(error), now)
                if now + wait_asked(error) > give_up:
                    raise _PastTheBudget(error) from error
                if monitor is not None:
                    monitor.telegram_retry(endpoint, "rate_limited")
                raise _HeldBack from error  # the loop waits it out, holding this chat alone

        pace, group = self._pace, _group(data.get("chat_id"))
        while True:
            try:
                await waited_out()  # before taking a turn of the chat's pace, which a refusal would waste
                if pace is not None and group is not None and (turn := pace.take(group, loop.time())) > 0:
                    await asyncio.sleep(turn)
                return await super().process_request(within_budget, args, kwargs, endpoint, data, rate_limit_args)
            except _PastTheBudget as late:
                raise late.error from None
            except _HeldBack:
                continue
            except NetworkError as error:
                # A send whose connection broke or timed out may have been posted all the same: better no reply
                # twice than a retry.
                if not transient(error) or (endpoint.startswith("send") and not not_taken(error)):
                    raise
                wait = random.uniform(delay / 2, delay)  # jitter: many replies must not retry in step
                if loop.time() + wait > give_up:
                    raise
                log.info("Telegram failed on %s (%s); retrying in %.2f s", endpoint, error, wait)
                if monitor is not None:
                    monitor.telegram_retry(endpoint, "unavailable")
                await asyncio.sleep(wait)
                delay = min(delay * 2, _MAX_DELAY)
