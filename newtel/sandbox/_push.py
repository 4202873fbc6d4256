"""Call and registration events POSTed to a URL of the user's: ``Sandbox(push_url=…)``.

New-Tel can push call events to a customer's URL, but the document does not describe that channel, so this
format is the sandbox's own, small and plausible. Each event is one JSON object::

    {"event": "call.ringing", "vpbxId": "…40 hex digits…", "time": 1700000000}
    {"event": "number.unregistered", "number": "103", "time": 1700000000}

Call events are ``call.ringing``, ``call.answered``, ``call.transferred`` and ``call.ended``; number events
``number.registered`` and ``number.unregistered``; ``time`` is the sandbox's clock. A receiver should take an
event as a doorbell (something changed: ask the API what) and never trust its body; the bot does just that.

A call's state is computed from its timestamps, so nothing happens in the sandbox when a call moves on. Instead
one task looks every ``TICK`` seconds at the calls that can still change (those active when pushing started and
every call added since, each dropped once it has ended) and at the registered numbers, and queues an event for
every difference: a call that rings and ends within one tick pushes only ``call.ended``. A second task POSTs the
queue in order over one session. A failed delivery (refused, timed out, not 2xx) is logged at debug and
dropped, never retried, so a dead receiver costs one attempt per event and never slows the API down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import aiohttp

from ._calls import DAY, Call, Phase

if TYPE_CHECKING:
    from ._sandbox import Sandbox

log = logging.getLogger("newtel.sandbox")

TICK = 0.1  # seconds between looks: an event leaves at most this long after the change
POST_TIMEOUT = 2.0
QUEUE_LIMIT = 1_000  # events waiting for a slow receiver; more are dropped
RECENT = 600  # a call added after it ended is news only if it ended within these seconds


class Pusher:
    def __init__(self, sandbox: Sandbox, url: str) -> None:
        self.url = url
        self._sandbox = sandbox
        self._phases: dict[Call, Phase | None] = {}  # the calls that can still change, as last seen
        self._registered: list[str] = []
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE_LIMIT)
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        company, now = self._sandbox.company, self._sandbox.now()
        self._phases = {call: call.phase(now) for call in company.active_calls(now)}
        self._registered = list(company.registered_numbers)
        company.observers.append(self._watch)
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=POST_TIMEOUT))
        self._tasks = [asyncio.create_task(self._look()), asyncio.create_task(self._deliver())]

    async def close(self) -> None:
        with contextlib.suppress(ValueError):
            self._sandbox.company.observers.remove(self._watch)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _watch(self, call: Call) -> None:
        self._phases.setdefault(call, None)  # whatever its first phase is, it is news

    async def _look(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            try:
                self._diff()
            except Exception:  # a bug here must not end the pushes for the rest of the run
                log.exception("push: looking for changes failed")

    def _diff(self) -> None:
        company, now = self._sandbox.company, self._sandbox.now()
        for call, before in list(self._phases.items()):
            if call not in company or call.start < now - DAY:  # forgotten, or out of the 24-hour cache
                del self._phases[call]
                continue
            phase = call.phase(now)
            if phase != before:
                stale = before is None and phase == "ended" and call.end is not None and call.end < now - RECENT
                if not stale:
                    self._emit(f"call.{phase}", now, vpbxId=call.vpbx_id)
            if phase == "ended":
                del self._phases[call]
            else:
                self._phases[call] = phase
        registered = company.registered_numbers
        if registered != self._registered:
            before_set, after_set = set(self._registered), set(registered)
            for number in sorted(after_set - before_set):
                self._emit("number.registered", now, number=number)
            for number in sorted(before_set - after_set):
                self._emit("number.unregistered", now, number=number)
            self._registered = list(registered)

    def _emit(self, event: str, now: float, **fields: str) -> None:
        body = {"event": event, **fields, "time": int(now)}
        self._sandbox.pushed.append(body)
        try:
            self._queue.put_nowait(body)
        except asyncio.QueueFull:
            log.debug("push: %d events waiting, %s dropped", QUEUE_LIMIT, event)

    async def _deliver(self) -> None:
        assert self._session is not None
        while True:
            body = await self._queue.get()
            try:
                async with self._session.post(self.url, json=body, allow_redirects=False) as response:
                    if not 200 <= response.status < 300:
                        log.debug("push: %s answered HTTP %d to %s", self.url, response.status, body["event"])
            except (aiohttp.ClientError, TimeoutError) as error:
                log.debug("push: %s to %s failed: %s", body["event"], self.url, type(error).__name__)
