"""``Sandbox``: the server's lifecycle and the handles tests use to steer it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from types import TracebackType
from typing import Any

from aiohttp import web

from newtel._signing import is_key

from ._app import RecordedRequest, make_app
from ._calls import Call, Direction
from ._company import Company, generate_company
from ._faults import Faults

log = logging.getLogger("newtel.sandbox")


def new_key() -> str:
    return secrets.token_hex(24)


class Sandbox:
    """A New-Tel API server over loopback HTTP with a demo company behind it.

    ``async with Sandbox() as sb:`` starts it on a free port; ``sb.url`` is the API root.
    """

    def __init__(
        self,
        access_key: str | None = None,
        signing_key: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 1,
        history_size: int = 60,
        ring_seconds: float = 1.0,
        talk_seconds: float = 3.0,
        activity: float | None = None,
    ) -> None:
        for name, key in (("access_key", access_key), ("signing_key", signing_key)):
            if key is not None and not is_key(key):
                raise ValueError(f"{name} must be 48 lowercase hex digits")
        self.access_key = access_key or new_key()
        self.signing_key = signing_key or new_key()
        self.host, self.port = host, port
        self.ring_seconds, self.talk_seconds = ring_seconds, talk_seconds
        self.activity = activity
        self.clock_offset = 0.0  # seconds added to the server clock: auth window, Date, call progress
        self.company: Company = generate_company(seed, history_size, now=self.now())
        self.outcomes: dict[str, str] = {}  # dstNumber -> "answered" | "no answer" (default "answered")
        self.requests: list[RecordedRequest] = []
        self.password_calls: list[dict[str, str]] = []  # call/start-password-call calls (not in the PBX)
        self.faults = Faults()
        self._activity_rng = random.Random(seed + 1)
        self._runner: web.AppRunner | None = None
        self._activity_task: asyncio.Task[None] | None = None
        self._url: str | None = None

    def now(self) -> float:
        return time.time() + self.clock_offset

    @property
    def url(self) -> str:
        """The API root, e.g. ``http://127.0.0.1:8080``; methods live at ``url + "/company/get-state"``."""
        if self._url is None:
            raise RuntimeError("the sandbox is not started")
        return self._url

    # --- lifecycle ------------------------------------------------------------------------------------------
    async def start(self) -> Sandbox:
        if self._runner is not None:
            return self
        runner = web.AppRunner(make_app(self), access_log=None)  # we log our own line, without headers
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self.port = port
        self._url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
        if self.activity:
            self._activity_task = asyncio.create_task(self._live(self.activity))
        return self

    async def close(self) -> None:
        if self._activity_task is not None:
            self._activity_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._activity_task
            self._activity_task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Sandbox:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _live(self, every: float) -> None:
        """The demo's background life: now and then a customer calls in (some hang up unanswered)."""
        while True:
            await asyncio.sleep(self._activity_rng.expovariate(1 / every))
            call = self.company.add_random_inbound(self.now(), self._activity_rng)
            log.info("activity: inbound call %s from %s", call.vpbx_id[:8], call.clid)

    # --- steering -------------------------------------------------------------------------------------------
    def set_state(self, **changes: Any) -> None:
        """Change the account state, e.g. ``set_state(balance=-10.5, status="blocked")``.

        Fields: balance, credit, currency, day_traffic_cost, month_traffic_cost, status.
        """
        self.company.state.update(**changes)

    def add_call(
        self,
        direction: Direction = "in",
        clid: str | None = None,
        dnid: str | None = None,
        status: str = "no answer",
        start: float | None = None,
        answer: float | None = None,
        end: float | None = None,
        active: bool = False,
        answered_numbers: tuple[str, ...] | list[str] = (),
        internal_clid: str | None = None,
    ) -> Call:
        """Put a call into the PBX's 24-hour cache.

        Defaults fill a believable call: inbound from 79161112233 to the first external number (outbound:
        the reverse, placed from the first member's desk phone); a finished call started three minutes
        ago, an active one a few seconds ago and still going (``end`` None unless given).
        """
        if direction not in ("in", "out"):
            raise ValueError("direction must be 'in' or 'out'")
        if status not in ("answered", "no answer"):
            raise ValueError("status must be 'answered' or 'no answer'")
        company, now = self.company, self.now()
        customer, external = "79161112233", company.external_numbers[0]
        if clid is None:
            clid = customer if direction == "in" else external
        if dnid is None:
            dnid = external if direction == "in" else customer
        if start is None:
            start = now - (20 if active else 180)
        if status == "answered" and answer is None:
            answer = start + 8
        if status == "no answer":
            answer = None
        if end is None and not active:
            end = (answer + 60) if answer is not None else start + 30
        first_internal = company.internal_numbers[0]
        answered = tuple(answered_numbers)
        if direction == "in" and answer is not None and not answered:
            answered = (first_internal,)
        if direction == "out" and internal_clid is None:
            internal_clid = first_internal
        call = Call(
            vpbx_id=company.new_vpbx_id(),
            direction=direction,
            clid=clid,
            dnid=dnid,
            start=start,
            answer=answer,
            end=end,
            answered_numbers=answered if direction == "in" else (),
            internal_clid=internal_clid if direction == "out" else None,
            ringing_numbers=tuple(company.registered_numbers[:3]) if direction == "in" else (),
            connect=answer if direction == "in" else start,
        )
        return company.add(call)

    def end_call(self, call: Call, *, at: float | None = None) -> None:
        """End an active call now (or at ``at``)."""
        call.end = self.now() if at is None else at
