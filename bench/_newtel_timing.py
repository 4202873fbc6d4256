"""Where a command's time goes, for the benchmarks: before its New-Tel request, waiting for a turn in the request
limit (``NEWTEL_MAX_RPS``), on the wire, and after the answer until the reply reaches the Bot API.

Each attempt's wait and send are noted by wrapping the transport's two steps (``Transport._wait_turn`` and
``Transport._send``); a reply is matched to the urgent (a person's) attempts that began within its round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import statistics
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from newtel._transport import Transport


@dataclass(frozen=True)
class Attempt:
    method: str
    urgent: bool  # a person's (``with_options(urgent=True)``), not the jobs'
    asked: float  # time.monotonic(): it began waiting for its turn
    turn: float  # the limit let it go
    answered: float  # its answer (or failure) came


@contextlib.contextmanager
def noting_attempts() -> Iterator[list[Attempt]]:
    """Every New-Tel attempt made meanwhile, in the order their answers came."""
    attempts: list[Attempt] = []
    turns: dict[asyncio.Task[Any] | None, tuple[float, float]] = {}
    wait_turn, send = Transport._wait_turn, Transport._send

    async def timed_wait(self: Transport, give_up: float | None) -> bool:
        asked = time.monotonic()
        went = await wait_turn(self, give_up)
        turns[asyncio.current_task()] = (asked, time.monotonic())
        return went

    async def timed_send(self: Transport, url: str, body: bytes, headers: Any, timeout: Any, method: str) -> Any:
        asked, turn = turns.pop(asyncio.current_task(), (math.nan, math.nan))
        try:
            return await send(self, url, body, headers, timeout, method)
        finally:
            attempts.append(Attempt(method, self._urgent, asked, turn, time.monotonic()))

    Transport._wait_turn = timed_wait  # type: ignore[method-assign]
    Transport._send = timed_send  # type: ignore[method-assign]
    try:
        yield attempts
    finally:
        Transport._wait_turn = wait_turn  # type: ignore[method-assign]
        Transport._send = send  # type: ignore[method-assign]


@dataclass(frozen=True)
class Breakdown:
    """One reply's seconds: update → its first New-Tel attempt asks for a turn, in the limit, on the wire, the
    last answer → the reply at the Bot API (for a command whose attempts go one after another)."""

    total: float
    before: float
    limiter: float
    wire: float
    after: float


def breakdown(started: float, replied: float, attempts: Sequence[Attempt]) -> Breakdown:
    mine = [a for a in attempts if a.urgent and started <= a.asked <= replied]
    if not mine:  # answered without New-Tel (a shared request already under way is not seen here)
        return Breakdown(replied - started, replied - started, 0.0, 0.0, 0.0)
    first, last = min(a.asked for a in mine), max(a.answered for a in mine)
    return Breakdown(
        replied - started,
        first - started,
        sum(a.turn - a.asked for a in mine),
        sum(a.answered - a.turn for a in mine),
        replied - last,
    )


def describe(parts: Sequence[Breakdown]) -> str:
    """The medians of each part, and the limit's share of the slowest tenth."""

    def ms(values: Sequence[float]) -> str:
        return f"{statistics.median(values) * 1000:.1f}"

    slowest = sorted(parts, key=lambda p: p.total)[-max(1, len(parts) // 10) :]
    share = sum(p.limiter for p in slowest) / max(sum(p.total for p in slowest), 1e-9)
    return (
        f"medians: before {ms([p.before for p in parts])} ms, in the limiter {ms([p.limiter for p in parts])} ms,"
        f" on the wire {ms([p.wire for p in parts])} ms, after {ms([p.after for p in parts])} ms;"
        f" the limiter's share of the slowest {len(slowest)}: {share:.0%}"
    )


def slowest(parts: Sequence[Breakdown], n: int = 3) -> str:
    """The ``n`` slowest replies, each split."""
    return "; ".join(
        f"{p.total * 1000:.0f} ms (before {p.before * 1000:.0f}, limiter {p.limiter * 1000:.0f},"
        f" wire {p.wire * 1000:.0f}, after {p.after * 1000:.0f})"
        for p in sorted(parts, key=lambda p: p.total)[-n:][::-1]
    )
