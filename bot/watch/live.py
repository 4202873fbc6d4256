"""The live watch: every ``LIVE_INTERVAL`` seconds (default 3) New-Tel's active calls, a few calls' worth of bytes.

A call that left the active list is asked for with ``vpbx/get-call-details`` and ingested at once, so a missed call
is alerted within an interval of its end; while an inbound call rings, ``vpbx/get-ringing-numbers-list`` says whose
desk phones ring (the ringing cards). An inbound call answered is asked who answered it then and there (the card
names them; the "who" worker then has nothing left to ask). The doorbell (``ring``) makes a check happen now, at
most one a second however often it rings, and none sooner than the back-off allows while New-Tel fails.

It only observes: what it sees goes to the one ingest, and the features react to the archive's changes. New-Tel
failing here backs off and loses nothing: the reconcile poll catches up whatever the watch did not see.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from telegram import Bot

import newtel
from bot import jobs
from bot.ringing.cards import RingingCards, is_ringing
from bot.services import Services
from newtel._vpbx import VpbxMethods
from storage import DatabaseBusy

if TYPE_CHECKING:
    from bot.watch.poller import Poller

log = logging.getLogger(__name__)

ATTEMPT_TIMEOUT = 5.0  # seconds for one live request, and no retries: the next check is seconds away
DETAILS_CONCURRENCY = 4  # calls that ended in one interval, asked for at once
DETAILS_TRIES = 3  # checks that ask for an ended call's details before it is left to the reconcile
MAX_BACKOFF = 60.0  # seconds between checks at most while New-Tel keeps failing
DOORBELL_GAP = 1.0  # seconds between two checks at least, however often the doorbell rings
STALE_AFTER = 30.0  # seconds without a successful check after which the reconcile no longer leaves calls to it


class LiveWatch:
    def __init__(self, svc: Services, poller: Poller) -> None:
        self._svc = svc
        self._poller = poller
        self.cards = RingingCards(svc, poller.lanes)  # sent in each user's lane
        # Calls active at the last check (at start: those the archive holds as active), with the checks that failed
        # to learn how each ended; when one leaves the list it is asked for once more, then left to the reconcile.
        self._active: dict[str, int] = {call.vpbx_id: 0 for call in svc.storage.calls.active_since(_day_ago())}
        self._bell = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_check = 0.0
        self.last_success = float("-inf")  # time.monotonic() of the last check New-Tel answered (health, metrics)
        self._failures = 0
        self.checks = 0  # completed checks; tests and benchmarks wait on it
        self._checked = asyncio.Condition()

    @property
    def _vpbx(self) -> VpbxMethods:
        """The jobs' client, one attempt at a time and a short one."""
        return self._svc.background.with_options(timeout=ATTEMPT_TIMEOUT, max_retries=0).vpbx

    @property
    def active_ids(self) -> frozenset[str]:
        """Calls the watch follows, which the reconcile leaves to it; none while the watch is failing (New-Tel
        refusing get-active-calls for good must not keep the reconcile from learning how those calls ended)."""
        stale_after = max(3 * self._svc.settings.live_interval, STALE_AFTER)
        if time.monotonic() - self.last_success > stale_after:
            return frozenset()
        return frozenset(self._active)

    def ring(self) -> None:
        """The doorbell: check now (or as soon as a second has passed since the last check, or while New-Tel fails,
        the back-off step)."""
        self._bell.set()

    def start(self, bot: Bot) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(bot), name="live-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def wait_checks(self, count: int = 1, timeout: float = 10.0) -> None:
        async with self._checked:
            target = self.checks + count
            await asyncio.wait_for(self._checked.wait_for(lambda: self.checks >= target), timeout)

    async def _run(self, bot: Bot) -> None:
        interval, loop = self._svc.settings.live_interval, asyncio.get_running_loop()
        while True:
            pause = min(interval * 2**self._failures, MAX_BACKOFF)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._bell.wait(), timeout=max(0.0, self._last_check + pause - loop.time()))
            # Rung right after a check: the rest of the second first; while New-Tel fails, the rest of the back-off
            # step (the doorbell rings for every call that changes, and must not make the steps a second each).
            gap = pause if self._failures else DOORBELL_GAP
            if self._bell.is_set() and (early := self._last_check + gap - loop.time()) > 0:
                await asyncio.sleep(early)
            self._bell.clear()
            self._last_check = loop.time()
            try:
                ok = await self.check(bot)
            except Exception as error:
                jobs.failed("Live check", error)
                # Refused by the database once New-Tel had answered: no reason to ask New-Tel less often.
                ok = isinstance(error, DatabaseBusy)
            self._failures = 0 if ok else min(self._failures + 1, 6)
            async with self._checked:
                self.checks += 1
                self._checked.notify_all()

    async def check(self, bot: Bot) -> bool:
        """One look at the active calls; False when New-Tel failed (the next one waits longer)."""
        try:
            active = await self._vpbx.get_active_calls()
        except newtel.NewtelError as error:
            log.warning("Live check: vpbx/get-active-calls failed (%s: %s)", type(error).__name__, error)
            return False
        self.last_success = time.monotonic()
        seen = {call.vpbx_id for call in active}
        gone = {vpbx_id: tries for vpbx_id, tries in self._active.items() if vpbx_id not in seen}
        ended, unresolved = await self._details(gone)
        # Followed even when the archive refuses them this time (the database locked): their end is asked for later.
        self._active = self._active | {vpbx_id: 0 for vpbx_id in seen}
        now = int(time.time())
        changes = self._svc.ingest.take([*active, *ended], now)
        still = {call.vpbx_id: 0 for call in ended if call.active}  # left the list, yet not over (a transfer)
        self._active = {vpbx_id: 0 for vpbx_id in seen} | unresolved | still
        answered = [
            change.call for change in changes
            if change.call.direction == "in" and change.call.status == "answered"
            and (change.before is None or change.before.status != "answered")
        ]  # fmt: skip
        ringing = [call for call in map(self._svc.storage.calls.get, sorted(seen)) if call and is_ringing(call)]
        ringing.sort(key=lambda call: (call.started_at, call.vpbx_id))
        numbers: list[str] = []
        if ringing:
            try:
                numbers = await self._vpbx.get_ringing_numbers_list()
            except newtel.NewtelError as error:  # no cards this time; the next check asks again
                log.info("Live check: vpbx/get-ringing-numbers-list failed (%s)", type(error).__name__)
        # The cards recorded and handed to their users' lanes, the alerts to their chats': neither waits for Telegram.
        # Who answered after them (a card says so on the next check), since those requests queue behind
        # NEWTEL_MAX_RPS with everyone else's.
        try:
            self.cards.update(bot, ringing, numbers)
        except Exception as error:
            jobs.failed("Ringing cards", error)
        await self._poller.react(bot, now)
        if answered:
            await self._poller.who.ask_now(answered, now)
        return True

    async def _details(self, gone: dict[str, int]) -> tuple[list[newtel.Call], dict[str, int]]:
        """How the calls that left the active list ended; those New-Tel failed to tell, with one more try each."""
        gate = asyncio.Semaphore(DETAILS_CONCURRENCY)

        async def ask(vpbx_id: str) -> newtel.Call | Exception | None:
            async with gate:
                try:
                    return await self._vpbx.get_call_details(vpbx_id)
                except (newtel.CallNotFound, newtel.ResponseError):
                    return None  # gone from New-Tel's day, or unreadable: the reconcile logs and skips it
                except newtel.NewtelError as error:
                    return error

        ids = sorted(gone)
        answers = await asyncio.gather(*(ask(vpbx_id) for vpbx_id in ids))
        ended: list[newtel.Call] = []
        unresolved: dict[str, int] = {}
        for vpbx_id, answer in zip(ids, answers, strict=True):
            if isinstance(answer, Exception):
                if gone[vpbx_id] + 1 < DETAILS_TRIES:
                    unresolved[vpbx_id] = gone[vpbx_id] + 1
                log.info("Live check: details of %s failed (%s)", vpbx_id[:8], type(answer).__name__)
            elif answer is not None:
                ended.append(answer)
        return ended, unresolved


def _day_ago() -> int:
    return int(time.time()) - 86_400
