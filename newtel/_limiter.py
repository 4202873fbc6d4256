"""The request limit (``max_rps``) of a client and its views, with people first.

A token bucket: ``rate`` turns a second, up to ``burst`` at once. Requests wait in two queues, one for requests a
person waits on (``urgent``) and one for the rest (background jobs). A free turn goes to the oldest urgent request,
else to the oldest background one. Background work leaves the bucket's last ``RESERVE`` (30 %, 3 of 10) to people,
so a burst of it does not leave the next person an empty bucket; while both wait, every ``PEOPLE_TURNS + 1``-th turn
is background's, so that people asking nonstop slow the jobs down without stopping them. So:

- over any ``t`` seconds at most ``burst + rate * t`` requests go, whoever sends them;
- a person goes at once while the reserve lasts, and waits for at most one refill (``1 / rate``) however many
  background requests wait, unless other people already hold the queue (then their requests share the turns,
  three in four at least);
- background work may use the whole rate when no person asks, in bursts of ``burst`` less the reserve.

``Turns`` makes the decisions on a clock it is given (what the property tests drive); ``Limiter`` runs it on the
event loop.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

W = TypeVar("W", bound=Hashable)

PEOPLE_TURNS = 3  # turns people may take in a row while background work waits
RESERVE = 0.3  # the share of the bucket background work leaves to people (whole turns: none below a burst of 4)
_EPSILON = 1e-9  # a turn counts as come when this close (float sums; the loop's timers may fire a little early)


class Turns(Generic[W]):
    """Who sends next and when: the bucket, the two queues and the rule between them; no clock of its own."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst = rate, burst
        self.reserve = float(int(burst * RESERVE))  # turns background work leaves in the bucket for people
        self._tokens, self._at = burst, now
        self._people: deque[W] = deque()
        self._background: deque[W] = deque()
        self._people_in_a_row = 0  # urgent turns given while background work waited, since its last turn

    def join(self, waiter: W, *, urgent: bool) -> None:
        (self._people if urgent else self._background).append(waiter)

    def leave(self, waiter: W) -> None:
        """``waiter`` gave up before its turn came (a cancelled or timed-out request); no-op when it had it."""
        for queue in (self._people, self._background):
            if waiter in queue:
                queue.remove(waiter)
                return

    def give_back(self, now: float) -> None:
        """A turn given was not used (its request was cancelled just then): the next waiter may have it."""
        self._refill(now)
        self._tokens = min(self.burst, self._tokens + 1)

    def grant(self, now: float) -> list[W]:
        """The waiters whose turn has come, in order, each taking one token."""
        self._refill(now)
        granted = []
        while (needed := self._needed()) is not None and self._tokens >= needed - _EPSILON:
            self._tokens -= 1
            granted.append(self._next())
        return granted

    def next_turn(self) -> float | None:
        """When the next waiter's turn comes; None when nobody waits."""
        needed = self._needed()
        return None if needed is None else self._at + max(0.0, needed - self._tokens) / self.rate

    def _people_first(self) -> bool:
        return bool(self._people) and (not self._background or self._people_in_a_row < PEOPLE_TURNS)

    def _needed(self) -> float | None:
        """The tokens the next waiter's turn takes to be in the bucket: one, and the reserve for background work
        unless it is its one turn in four; None when nobody waits."""
        if self._people:
            return 1.0
        return 1.0 + self.reserve if self._background else None

    def _next(self) -> W:
        if self._people_first():
            self._people_in_a_row = self._people_in_a_row + 1 if self._background else 0
            return self._people.popleft()
        self._people_in_a_row = 0
        return self._background.popleft()

    def _refill(self, now: float) -> None:
        if now > self._at:
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now


class Limiter:
    """``Turns`` on the running event loop: ``await limiter.turn(urgent=…)`` returns when the request may go."""

    def __init__(self, max_rps: float) -> None:
        self.max_rps = max_rps
        # Up to one second's worth at once (a poll's few requests are not spread out); below one a second, one.
        self._burst = max(1.0, max_rps)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._turns: Turns[asyncio.Future[None]] = Turns(max_rps, self._burst, 0.0)
        self._timer: asyncio.TimerHandle | None = None

    async def turn(self, *, urgent: bool) -> None:
        """Wait for this request's turn. Cancelling the wait (a deadline) gives up its place, or the turn it got."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # the first use, or a client reused on another loop (tests): start afresh
            self._loop, self._turns, self._timer = loop, Turns(self.max_rps, self._burst, loop.time()), None
        waiter = loop.create_future()
        self._turns.join(waiter, urgent=urgent)
        self._wake()
        if waiter.done():
            return
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._turns.give_back(loop.time())  # granted, then cancelled before it could go
            else:
                self._turns.leave(waiter)
            self._wake()
            raise

    def _wake(self) -> None:
        """Hand out the turns that have come and set the timer for the next one."""
        loop, turns = self._loop, self._turns
        assert loop is not None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while True:
            unused = 0
            for waiter in turns.grant(loop.time()):
                if waiter.done():  # cancelled while queued, its task not yet resumed to leave
                    unused += 1
                else:
                    waiter.set_result(None)
            if not unused:
                break
            for _ in range(unused):
                turns.give_back(loop.time())
        if (at := turns.next_turn()) is not None:
            self._timer = loop.call_at(at, self._wake)
