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
from urllib.parse import urlsplit

from aiohttp import web

from newtel._signing import is_key

from ._app import RecordedRequest, Traffic, make_app
from ._calls import Call, Direction
from ._company import Company, generate_company
from ._faults import Faults
from ._push import Pusher

log = logging.getLogger("newtel.sandbox")


def new_key() -> str:
    return secrets.token_hex(24)


def is_http_url(text: str) -> bool:
    try:
        parts = urlsplit(text)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. a malformed IPv6 host or port
        return False


class Sandbox:
    """A New-Tel API server over loopback HTTP with a demo company behind it.

    ``async with Sandbox() as sb:`` starts it on a free port; ``sb.url`` is the API root.

    ``activity`` (mean seconds between events) gives the company a life of its own (see ``_live``);
    ``unanswered`` (0 to 1) is the share of calls started through the API whose customer does not pick up, drawn
    from the seed (``outcomes`` decides for the numbers it names);
    ``push_url`` makes it POST call and registration events there (see ``newtel.sandbox._push``);
    ``record_requests=False`` keeps ``requests`` empty, for a long run (``traffic`` counts either way).
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
        unanswered: float = 0.0,
        push_url: str | None = None,
        record_requests: bool = True,
    ) -> None:
        if not 0 <= unanswered <= 1:
            raise ValueError("unanswered must be a share from 0 to 1")
        for name, key in (("access_key", access_key), ("signing_key", signing_key)):
            if key is not None and not is_key(key):
                raise ValueError(f"{name} must be 48 lowercase hex digits")
        if push_url is not None and not is_http_url(push_url):
            raise ValueError("push_url must be an http:// or https:// URL")
        self.access_key = access_key or new_key()
        self.signing_key = signing_key or new_key()
        self.host, self.port = host, port
        self.ring_seconds, self.talk_seconds = ring_seconds, talk_seconds
        self.activity = activity
        self.push_url = push_url
        self.record_requests = record_requests
        self.clock_offset = 0.0  # seconds added to the server clock: auth window, Date, call progress
        self.company: Company = generate_company(seed, history_size, now=self.now())
        self.outcomes: dict[str, str] = {}  # dstNumber -> "answered" | "no answer" (else as ``unanswered`` draws)
        self.unanswered = unanswered
        self._unanswered_rng = random.Random(seed + 2)
        self.requests: list[RecordedRequest] = []
        self.traffic: dict[str, Traffic] = {}  # method (or "records") -> requests and response body bytes
        self.pushed: list[dict[str, Any]] = []  # every event pushed to push_url (delivered or not), in order
        self.password_calls: list[dict[str, str]] = []  # call/start-password-call calls (not in the PBX)
        self.faults = Faults()
        self._activity_rng = random.Random(seed + 1)
        self._runner: web.AppRunner | None = None
        self._activity_task: asyncio.Task[None] | None = None
        self._away: dict[str, asyncio.TimerHandle] = {}  # desk phones the activity switched off, until back
        self._pusher: Pusher | None = None
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
        if self.push_url:
            self._pusher = Pusher(self, self.push_url)
            self._pusher.start()
        if self.activity:
            self._activity_task = asyncio.create_task(self._live(self.activity))
        return self

    async def close(self) -> None:
        if self._activity_task is not None:
            self._activity_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._activity_task
            self._activity_task = None
        for comeback in self._away.values():
            comeback.cancel()
        self._away.clear()
        if self._pusher is not None:
            await self._pusher.close()
            self._pusher = None
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
        """The demo's background life: an event every ``every`` seconds on average (exponential gaps), drawn
        with everything about it from the activity rng, so a seed replays the same day:

        - 55 %: a customer calls in, the sales group rings 4–20 s, seven in ten are answered
          (``Company.add_random_inbound``);
        - 15 %: a short ring, the customer hanging up after 1–2 s (over between two looks of a live watch);
        - 10 %: an answered customer transferred to a colleague after 15–60 s of talk;
        - 17 %: a manager calls a customer from a desk phone;
        -  3 %: a desk phone unregisters (switched off, network gone) for 2–5 minutes, then comes back.
        """
        rng, company = self._activity_rng, self.company
        while True:
            await asyncio.sleep(rng.expovariate(1 / every))
            now, draw = self.now(), rng.random()
            if draw < 0.55:
                call, what = company.add_random_inbound(now, rng), "inbound call"
            elif draw < 0.70:
                call, what = company.add_short_ring(now, rng), "short ring"
            elif draw < 0.80:
                call, what = company.add_random_transfer(now, rng), "transferred call"
            elif draw < 0.97:
                call, what = company.add_random_outbound(now, rng), "outbound call"
            else:
                self._phone_goes_away(rng)
                continue
            log.info("activity: %s %s from %s", what, call.vpbx_id[:8], call.internal_clid or call.clid)

    def _phone_goes_away(self, rng: random.Random) -> None:
        candidates = [n for n in self.company.registered_numbers if n not in self._away]
        if not candidates:
            return
        number, seconds = rng.choice(candidates), rng.uniform(120, 300)
        self.set_registered(number, False)
        self._away[number] = asyncio.get_running_loop().call_later(seconds, self._phone_comes_back, number)
        log.info("activity: %s unregistered for %.0f s", number, seconds)

    def _phone_comes_back(self, number: str) -> None:
        del self._away[number]
        self.set_registered(number, True)
        log.info("activity: %s registered again", number)

    # --- steering -------------------------------------------------------------------------------------------
    def outcome(self, destination: str) -> str:
        """How a call started through the API to ``destination`` ends: as ``outcomes`` names it, else "no answer"
        for a seeded ``unanswered`` share of them, else "answered"."""
        if destination in self.outcomes:
            return self.outcomes[destination]
        missed = self.unanswered and self._unanswered_rng.random() < self.unanswered
        return "no answer" if missed else "answered"

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
        transfer: float | None = None,
    ) -> Call:
        """Put a call into the PBX's 24-hour cache.

        Defaults fill a believable call: inbound from 79161112233 to the first external number (outbound:
        the reverse, placed from the first member's desk phone); a finished call started three minutes
        ago, an active one a few seconds ago and still going (``end`` None unless given). ``transfer``: when
        the second of two ``answered_numbers`` takes the call over (None: both count from the answer on).
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
            transfer=transfer if direction == "in" else None,
        )
        return company.add(call)

    def end_call(self, call: Call, *, at: float | None = None) -> None:
        """End an active call now (or at ``at``)."""
        call.end = self.now() if at is None else at

    def set_registered(self, number: str, registered: bool) -> None:
        """Switch a member's desk phone off (``False``) or back on: vpbx/get-registered-numbers-list shows it at
        once, in the members' order. Raises ``ValueError`` for a number that is not a member's internal one."""
        self.company.set_registered(number, registered)
