"""The job that polls ``vpbx/get-calls``: records missed calls as alerts (exactly once per call and
chat, in SQLite), follows callbacks to their outcome, closes alerts answered later, watches the balance
and delivers whatever changed. It never dies: a failure is logged, backed off and retried next time."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from telegram import Bot
from telegram.ext import ContextTypes

import newtel
from bot.alerts import detect
from bot.alerts.balance import BalanceWatch
from bot.alerts.delivery import Delivery
from bot.services import Services, services
from newtel import Call

log = logging.getLogger(__name__)

JOB_NAME = "poll-calls"
BASELINE_KEY = "alerts.baseline"
CALLBACK_GIVE_UP = 300  # seconds after which a callback that never showed up in the history counts as failed
_MAX_SKIPS = 8  # at most this many intervals between attempts while New-Tel keeps failing


class Poller:
    def __init__(self, svc: Services) -> None:
        self._svc = svc
        self.delivery = Delivery(svc)
        self.balance = BalanceWatch(svc)
        self._failures = 0
        self._skip = 0
        self.cycles = 0  # completed polls, successful or not; tests and benchmarks wait on it
        # Per chat, the missed calls of the last poll known to be recorded in storage (which stays the source of
        # truth: rows are never removed), so a poll asks SQLite only about calls it has not seen recorded yet.
        self._recorded: dict[int, set[str]] = {}
        self._cycle_done = asyncio.Condition()

    async def job(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The JobQueue callback: one poll, with back-off after New-Tel failures."""
        try:
            if self._skip > 0:
                self._skip -= 1
                return
            await self._poll_with_backoff(context.bot)
        finally:
            async with self._cycle_done:
                self.cycles += 1
                self._cycle_done.notify_all()

    async def wait_cycles(self, count: int = 1, timeout: float = 10.0) -> None:
        """Wait until ``count`` more polls have completed."""
        async with self._cycle_done:
            target = self.cycles + count
            await asyncio.wait_for(self._cycle_done.wait_for(lambda: self.cycles >= target), timeout)

    async def _poll_with_backoff(self, bot: Bot) -> None:
        try:
            await self.poll_once(bot)
        except newtel.NewtelError as error:
            self._failures += 1
            self._skip = min(2 ** (self._failures - 1) - 1, _MAX_SKIPS)
            log.warning(
                "Poll failed (%s: %s); next attempt in %d interval(s)", type(error).__name__, error, self._skip + 1
            )
            await self.delivery.deliver_pending(bot)  # Telegram may still take what is pending
        else:
            self._failures = 0

    async def poll_once(self, bot: Bot) -> None:
        # The balance first: company/get-state is the one method that still answers when the account is blocked.
        # Its failure must not cost the missed calls, so it is only logged.
        try:
            await self.balance.check(bot)
        except newtel.NewtelError as error:
            log.warning("Balance check failed (%s: %s)", type(error).__name__, error)
        calls = await self._svc.newtel.vpbx.get_calls()
        now = int(time.time())
        self.record(calls, now)
        await self.resolve_callbacks(calls, now)
        await self.delivery.deliver_pending(bot)

    def record(self, calls: Sequence[Call], now: int) -> int:
        """Record new missed calls and answered-later closures; returns how many alerts changed."""
        storage, settings = self._svc.storage, self._svc.settings
        if storage.kv.get(BASELINE_KEY) is None:
            # The very first start: what is already in the history is known, not news.
            at, known = detect.baseline(calls, now)
            storage.kv.set_if_absent(BASELINE_KEY, {"at": at, "known": known}, now=now)
        baseline = storage.kv.get(BASELINE_KEY)
        since = max(int(baseline["at"]), now - int(settings.alert_max_age))
        missed = detect.missed_calls(calls, since, baseline["known"])
        chats = storage.chats.subscribed()
        changed = 0
        recorded, self._recorded = self._recorded, {}
        if missed and chats:
            subscribed_at = {chat.chat_id: chat.subscribed_at or chat.created_at for chat in chats}
            for chat_id, wanted in detect.per_chat(missed, chats, subscribed_at).items():
                seen = recorded.get(chat_id, set())
                unseen = [m.vpbx_id for m in wanted if m.vpbx_id not in seen]
                new_ids = storage.alerts.filter_new(chat_id, unseen) if unseen else set()
                if new_ids:
                    fresh = [m for m in wanted if m.vpbx_id in new_ids]
                    changed += sum(not r.is_duplicate for r in storage.alerts.record_missed_many(chat_id, fresh, now))
                self._recorded[chat_id] = {m.vpbx_id for m in wanted}  # all of them are in storage now
        # Most answered calls cannot close anything (no live alert missed before them): no write transaction for those.
        live = storage.alerts.live_customers()
        for answered in detect.answered_inbound(calls, since):
            if answered.answered_at > live.get(answered.clid, answered.answered_at):
                changed += len(storage.alerts.close_answered_later(None, answered.clid, answered.answered_at, now))
        return changed

    async def resolve_callbacks(self, calls: Sequence[Call], now: int) -> None:
        """Write each finished callback's outcome into its alert."""
        alerts = self._svc.storage.alerts
        by_id = {call.vpbx_id: call for call in calls}
        for alert in alerts.calling():
            call = await self._find_callback(alert, calls, by_id)
            if call is None:
                started = alert.callback_started_at or now
                if now - started > CALLBACK_GIVE_UP:
                    log.warning("Callback of alert %s never appeared in the call history; reopening", alert.id)
                    alerts.callback_failed(alert.id, now, claim=alert)
                continue
            if call.active:
                continue  # still ringing or talking: the outcome comes on a later poll
            answered = call.status == "answered"
            alerts.callback_finished(alert.id, answered, call.talk_seconds, call.vpbx_id, now, claim=alert)

    async def _find_callback(self, alert: Any, calls: Sequence[Call], by_id: dict[str, Call]) -> Call | None:
        """The outbound call a callback became: by its call id when New-Tel maps it, else the first
        outbound call to the customer after the button was pressed."""
        if alert.callback_call_id:
            try:
                vpbx_id = await self._svc.newtel.call.get_vpbx_id(alert.callback_call_id)
            except newtel.NewtelError as error:  # not mapped yet, or New-Tel hiccuped: match by number instead
                log.debug("call/get-vpbx-id for alert %s: %s", alert.id, error)
                vpbx_id = None
            if vpbx_id is not None and vpbx_id in by_id:
                return by_id[vpbx_id]
        started = (alert.callback_started_at or 0) - 5
        candidates = [
            call
            for call in calls
            if call.direction == "out" and call.dnid == alert.clid and call.start_time.timestamp() >= started
        ]
        return min(candidates, key=lambda call: call.start_time) if candidates else None


def poller(context: ContextTypes.DEFAULT_TYPE | Any) -> Poller:
    found = context.bot_data.get("poller")
    if not isinstance(found, Poller):
        raise RuntimeError("the poller is created in post_init")
    return found


def start(application: Any) -> Poller:
    """Create the poller and schedule it (first run right away)."""
    svc = services(application)
    instance = Poller(svc)
    application.bot_data["poller"] = instance
    application.job_queue.run_repeating(
        instance.job,
        interval=svc.settings.poll_interval,
        first=0.1,
        name=JOB_NAME,
        job_kwargs={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
    )
    return instance
