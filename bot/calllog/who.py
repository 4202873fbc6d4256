"""Who answered an inbound call or placed an outbound one: asked of New-Tel once per ended call, after the
alerts are out, a few calls a poll, and kept in the archive with the member's name as it was then."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import newtel
from bot.services import Services
from storage import CallRecord

log = logging.getLogger(__name__)

WHO_BATCH = 12  # calls asked about per poll at most: a busy day's ended calls (~7 a minute at 10,000 a day) keep up
WHO_CONCURRENCY = 3  # requests in flight at once
RETRY_AFTER = (60, 300, 900, 3_600)  # seconds before the 1st, 2nd, … retry of a call New-Tel failed to answer for


class WhoAnswered:
    def __init__(self, svc: Services) -> None:
        self._svc = svc

    async def ask_due(self, now: int) -> int:
        """Ask about the calls that are due (newest first); returns how many got their member. A failure of
        New-Tel's (down, slow, limiting) is retried later with back-off and ends this round, so that a
        struggling provider is not asked a dozen more times."""
        due = self._svc.storage.calls.who_due(now, WHO_BATCH)
        if not due:
            return 0
        names = {m.internal_number: m.name for m in await self._svc.directory.members() if m.internal_number}
        gate = asyncio.Semaphore(WHO_CONCURRENCY)
        failing = asyncio.Event()

        async def ask(call: CallRecord) -> bool:
            async with gate:
                if failing.is_set():
                    return False
                return await self._ask(call, names, now, failing)

        return sum(await asyncio.gather(*(ask(call) for call in due)))

    async def ask_now(self, calls: Sequence[CallRecord], now: int) -> int:
        """Ask about these calls at once (inbound calls just answered: their ringing cards name who answered)."""
        names = {m.internal_number: m.name for m in await self._svc.directory.members() if m.internal_number}
        failing = asyncio.Event()
        return sum(await asyncio.gather(*(self._ask(call, names, now, failing) for call in calls[:WHO_BATCH])))

    async def _ask(self, call: CallRecord, names: dict[str, str], now: int, failing: asyncio.Event) -> bool:
        calls, vpbx = self._svc.storage.calls, self._svc.background.vpbx
        try:
            if call.direction == "out":
                internal = await vpbx.get_outbound_call_internal_clid(call.vpbx_id)
            else:
                internal = await vpbx.get_inbound_call_first_answered_number(call.vpbx_id)
        except newtel.MethodError as error:  # gone from New-Tel's day, or it will not say
            log.info("No member for call %s (%s)", call.vpbx_id, type(error).__name__)
            calls.who_failed(call.vpbx_id, retry_at=None)
            return False
        except newtel.NewtelError as error:
            failing.set()
            log.warning("Who answered call %s: New-Tel failed (%s); retried later", call.vpbx_id, type(error).__name__)
            # who_tries counts the attempts so far: the n-th retry waits RETRY_AFTER[n], the last one repeating.
            tries = calls.who_tries(call.vpbx_id)
            calls.who_failed(call.vpbx_id, retry_at=now + RETRY_AFTER[min(tries, len(RETRY_AFTER) - 1)])
            return False
        if not internal:
            calls.who_failed(call.vpbx_id, retry_at=None)
            return False
        # A number no member has now (a deleted member, a queue) is kept as the number itself.
        calls.set_who(call.vpbx_id, internal, names.get(internal, internal))
        return True
