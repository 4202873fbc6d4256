"""The reconcile: every ``POLL_INTERVAL`` seconds, what the live watch cannot see (a call that rang and ended between
two of its checks, a restart, a gap while New-Tel failed), for as few bytes as the API allows.

``vpbx/get-calls-list`` gives the day's call ids (~45 bytes each, a fifth of a whole call); only the ids the archive
does not hold as ended, and the live watch does not follow, are asked for one by one. Past ``DETAILS_MAX`` of them
(a first start, a long gap) one whole ``vpbx/get-calls`` is cheaper, and is taken instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import newtel
from bot.services import Services

log = logging.getLogger(__name__)

DETAILS_MAX = 20  # unknown calls asked for one by one at most; more take one whole vpbx/get-calls
DETAILS_CONCURRENCY = 4


class Reconcile:
    def __init__(self, svc: Services, followed: Callable[[], frozenset[str]] = frozenset) -> None:
        """``followed``: the ids the live watch follows now (it learns how they end by itself)."""
        self._svc = svc
        self.followed = followed
        self.full_fetches = 0  # whole vpbx/get-calls taken: benchmarks print it
        # Calls whose details New-Tel answers malformed: logged once and not asked for again (the whole list's
        # parser skips such a call the same way).
        self._unreadable: set[str] = set()
        self.last_success = float("-inf")  # time.monotonic() of the last reconcile that went through (health, metrics)

    async def run(self) -> None:
        """One reconcile; a failure of New-Tel's raises (the poll backs off), what was learnt is archived."""
        vpbx, ingest = self._svc.background.vpbx, self._svc.ingest
        ids = await vpbx.get_calls_list()
        followed = self.followed()
        skip = followed | self._unreadable
        unknown = [vpbx_id for vpbx_id in ids if not ingest.knows_ended(vpbx_id) and vpbx_id not in skip]
        if len(unknown) > DETAILS_MAX:
            self.full_fetches += 1
            calls = await vpbx.get_calls()
            await ingest.take_all(calls, int(time.time()))
        elif unknown:
            found, failure = await self._details(unknown)
            await ingest.take_all(found, int(time.time()))
            if failure is not None:
                raise failure
        ingest.window(ids)
        self._unreadable &= set(ids)
        self.last_success = time.monotonic()

    async def _details(self, ids: list[str]) -> tuple[list[newtel.Call], newtel.NewtelError | None]:
        """The calls New-Tel told about, and a failure if it failed to tell of some (they are asked for next time)."""
        gate = asyncio.Semaphore(DETAILS_CONCURRENCY)

        async def ask(vpbx_id: str) -> newtel.Call | newtel.NewtelError | None:
            async with gate:
                try:
                    return await self._svc.background.vpbx.get_call_details(vpbx_id)
                except newtel.CallNotFound:  # left New-Tel's day since the list was made
                    return None
                except newtel.ResponseError as error:
                    log.warning("Call %s: New-Tel's details of it cannot be read (%s); skipped", vpbx_id, error)
                    self._unreadable.add(vpbx_id)
                    return None
                except newtel.NewtelError as error:
                    return error

        answers = await asyncio.gather(*(ask(vpbx_id) for vpbx_id in ids))
        failures = [answer for answer in answers if isinstance(answer, newtel.NewtelError)]
        return [answer for answer in answers if isinstance(answer, newtel.Call)], failures[0] if failures else None
