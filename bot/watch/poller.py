"""The poll job and the features' reaction to the archive's changes.

Every ``POLL_INTERVAL`` the poll checks the balance, reconciles New-Tel's day into the archive (``bot.watch``'s
reconcile: what the live watch did not see) and asks New-Tel who answered the calls that ended. Whoever observed a
change (the poll, the live watch, a command), ``react`` lets the features take it: missed calls become alerts
(exactly once per call and chat, in SQLite), callbacks are followed to their outcome, alerts answered later
close, and whatever changed is handed to each chat's lane (``bot.alerts.lanes``), which delivers it at that chat's
Telegram pace: no look at New-Tel waits for a group. It never dies: each step's failure is logged and costs no other
step; when New-Tel or the database fails, the poll backs off and a later one retries. The recordings the poll queues go
out in a job of their own (a recording is big: up to 50 MB to download), which never holds it up."""

from __future__ import annotations

import asyncio
import inspect
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from telegram import Bot

import newtel
from bot import jobs
from bot.alerts import deadlines, detect
from bot.alerts.board import Board
from bot.alerts.delivery import Delivery
from bot.alerts.lanes import FreeIn, Lanes
from bot.calllog.recordings import RecordingPosts
from bot.calllog.who import WhoAnswered
from bot.ratelimit import PatientRateLimiter
from bot.services import Services
from bot.watch.balance import BalanceWatch
from bot.watch.live import LiveWatch
from bot.watch.reconcile import Reconcile
from storage import CallRecord
from storage.kv import KV

if TYPE_CHECKING:
    from bot.context import App, Context

log = logging.getLogger(__name__)

JOB_NAME = "poll-calls"
RECORDINGS_JOB = "post-recordings"  # the recordings the poll queued, posted beside it at the same interval
CALLBACK_GIVE_UP = 300  # seconds after which a callback that never showed up in the history counts as failed
_MAX_SKIPS = 8  # at most this many intervals between attempts while New-Tel or the database keeps failing
_FAILED = object()  # what a failed step returns
PENDING_BATCH = 2_000  # changed calls the features take per poll at most (the ingest writes at most 500 a poll)


class Baseline:
    """Where the news begins, taken once at the very first start and kept in storage: what the history held
    then is known, not news (the latest end time on New-Tel's clock, and the calls that ended in that second)."""

    KEY = "alerts.baseline"

    def __init__(self, kv: KV) -> None:
        self._kv = kv

    def take(self, calls: Sequence[CallRecord], now: int) -> tuple[int, list[str]]:
        """The baseline, taken from ``calls`` (the first calls the archive took in) when there is none yet."""
        if self._kv.get(self.KEY) is None:
            at, known = detect.baseline(calls, now)
            self._kv.set_if_absent(self.KEY, {"at": at, "known": known}, now=now)
        stored = self._kv.get(self.KEY)
        return int(stored["at"]), list(stored["known"])

    def set(self, at: int, known: list[str], now: int) -> None:
        self._kv.set(self.KEY, {"at": at, "known": known}, now=now)


class Poller:
    def __init__(self, svc: Services, free_in: FreeIn | None = None) -> None:
        """``free_in``: the bot's rate limiter's, which each chat's lane asks for its turn (None: no pace)."""
        self._svc = svc
        self.lanes = Lanes(free_in)  # each chat's messages, at its own Telegram pace
        self.delivery = Delivery(svc, self.lanes)
        self.board = Board(svc, self.lanes)  # each chat's pinned list of open alerts
        self.balance = BalanceWatch(svc)
        self.recordings = RecordingPosts(svc)
        self.who = WhoAnswered(svc)
        self.reconcile = Reconcile(svc)
        self._reacting = asyncio.Lock()
        self._failures = 0
        self._skip = 0
        self._storage_failed = False  # set by a step the database failed, in the current poll
        self.cycles = 0  # completed polls, successful or not; tests and benchmarks wait on it
        self.recording_rounds = 0  # completed runs of the recordings job, likewise
        self._cycle_done = asyncio.Condition()

    async def job(self, context: Context) -> None:
        """The JobQueue callback: one poll, with back-off after New-Tel or database failures."""
        try:
            if self._skip > 0:
                self._skip -= 1
                return
            await self._poll_with_backoff(context.bot)
        finally:
            async with self._cycle_done:
                self.cycles += 1
                self._cycle_done.notify_all()

    async def post_recordings(self, context: Context) -> None:
        """The recordings job's callback: a few due recordings posted, apart from the poll. A failure is logged
        and the next run tries again (what is due stays due)."""
        try:
            await jobs.logged("Posting recordings", self.recordings.post_due(context.bot, int(time.time())))
        finally:
            async with self._cycle_done:
                self.recording_rounds += 1
                self._cycle_done.notify_all()

    async def wait_cycles(self, count: int = 1, timeout: float = 10.0) -> None:
        """Wait until ``count`` more polls have completed."""
        await self._wait(lambda: self.cycles, count, timeout)

    async def wait_recording_rounds(self, count: int = 1, timeout: float = 10.0) -> None:
        """Wait until the recordings job has run ``count`` more times."""
        await self._wait(lambda: self.recording_rounds, count, timeout)

    async def _wait(self, done: Callable[[], int], count: int, timeout: float) -> None:
        async with self._cycle_done:
            target = done() + count
            await asyncio.wait_for(self._cycle_done.wait_for(lambda: done() >= target), timeout)

    async def _poll_with_backoff(self, bot: Bot) -> None:
        if await self.poll_once(bot):
            self._failures = 0
            return
        self._failures += 1
        self._skip = min(2 ** (self._failures - 1) - 1, _MAX_SKIPS)
        log.info("Next poll in %d interval(s)", self._skip + 1)  # why was logged by the step that failed

    async def poll_once(self, bot: Bot) -> bool:
        """One poll, each step on its own: a step's failure is logged and the others still run. The history goes
        into the archive; the features take what changed from there (so also what an earlier poll or /calls
        archived and a failure or a crash kept them from taking). False when the history or the database failed."""
        self._storage_failed = False
        # The balance first: company/get-state is the one method that still answers when the account is blocked.
        await self._step("Balance check", lambda: self.balance.check(bot))
        reconciled = await self._step("Reconciling the calls", self.reconcile.run)
        now = int(time.time())
        await self.react(bot, now)
        # What can wait comes after the alerts are out (the recordings have a job of their own: see start).
        await self._step("Asking who answered", lambda: self.who.ask_due(now))
        return reconciled is not _FAILED and not self._storage_failed

    async def react(self, bot: Bot, now: int) -> None:
        """The features take what the archive changed (whoever observed it): alerts, callbacks, then the chats' lanes
        are kicked. One reaction at a time: the live watch and the reconcile both call it."""
        async with self._reacting:
            await self._step("Taking the changes", lambda: self.take_changes(now))
            await self._step("Resolving callbacks", lambda: self.resolve_callbacks(now))
        # Kicked, not awaited: a group Telegram holds must not hold up the next look, nor with it every other chat.
        await self._step("Delivery", lambda: self.delivery.kick(bot))
        await self._step("Refreshing the boards", lambda: self.board.kick(bot))

    async def _step(self, name: str, run: Callable[[], Any]) -> Any:
        """``run()`` (awaited if need be), or _FAILED after logging why."""
        try:
            result = run()
            return await result if inspect.isawaitable(result) else result
        except Exception as error:
            if isinstance(error, sqlite3.OperationalError):  # locked by another process, disk full: the poll backs off
                self._storage_failed = True
            jobs.failed(name, error)
        return _FAILED

    def take_changes(self, now: int) -> int:
        """The features take the calls the archive changed and settles them: missed calls become alerts, answered
        ones close alerts and queue recordings. Returns how many alerts changed. Until settled a call stays
        pending, and what was recorded is recorded exactly once, so a failure here is retried, never doubled."""
        storage = self._svc.storage
        pending = storage.calls.pending(PENDING_BATCH)
        if not pending:
            return 0
        changed = self.record(pending, now)
        self.recordings.enqueue(pending, now)
        storage.calls.settle(call.vpbx_id for call in pending)
        return changed

    def record(self, calls: Sequence[CallRecord], now: int) -> int:
        """Record new missed calls and answered-later closures; returns how many alerts changed."""
        storage, settings = self._svc.storage, self._svc.settings
        at, known = Baseline(storage.kv).take(calls, now)
        since = max(at, now - int(settings.alert_max_age))
        missed = detect.missed_calls(calls, since, known)
        chats = storage.chats.subscribed()
        changed = 0
        if missed and chats:
            subscribed_at = {chat.chat_id: chat.since for chat in chats}
            by_id = {chat.chat_id: chat for chat in chats}
            for chat_id, wanted in detect.per_chat(missed, chats, subscribed_at).items():
                new_ids = storage.alerts.filter_new(chat_id, [m.vpbx_id for m in wanted]) if wanted else set()
                if new_ids:
                    fresh = [m for m in wanted if m.vpbx_id in new_ids]
                    # Each new alert's deadline and hold (business hours) are written with it, in one transaction.
                    stamp = deadlines.stamp(by_id[chat_id], settings, now)
                    recorded = storage.alerts.record_missed_scheduled(chat_id, fresh, now, stamp)
                    changed += sum(not r.is_duplicate for r in recorded)
        # Most answered calls cannot close anything (no live alert missed before them): no write transaction for those.
        answered_calls = detect.answered_inbound(calls, since)
        live = storage.alerts.live_customers(a.clid for a in answered_calls) if answered_calls else {}
        for answered in answered_calls:
            if answered.answered_at > live.get(answered.clid, answered.answered_at):
                changed += len(storage.alerts.close_answered_later(None, answered.clid, answered.answered_at, now))
        return changed

    async def resolve_callbacks(self, now: int) -> None:
        """Write each finished callback's outcome into its alert, from the archive."""
        alerts = self._svc.storage.alerts
        for alert in alerts.calling():
            call = await self._find_callback(alert, now)
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

    async def _find_callback(self, alert: Any, now: int) -> CallRecord | None:
        """The outbound call a callback became: by its call id when New-Tel maps it; else, once its start can no
        longer be on its way (an uncertain start has no id), the first outbound call to the customer after the
        button was pressed. Not sooner: the previous try's call may have begun in the seconds before the press."""
        calls = self._svc.storage.calls
        if alert.callback_call_id:
            try:
                vpbx_id = await self._svc.background.call.get_vpbx_id(alert.callback_call_id)
            except newtel.NewtelError as error:  # not mapped yet, or New-Tel hiccuped: match by number instead
                log.debug("call/get-vpbx-id for alert %s: %s", alert.id, error)
                vpbx_id = None
            found = calls.get(vpbx_id) if vpbx_id is not None else None
            if found is not None:
                return found
        pressed = alert.callback_started_at or 0
        if now - pressed <= self._svc.settings.newtel_command_deadline:
            return None
        candidates = calls.find(number=alert.clid, start=pressed - 5, kind="out", limit=50)
        return min(candidates, key=lambda call: (call.started_at, call.vpbx_id)) if candidates else None


def poller(application: App) -> Poller:
    return application.bot_data.need_poller()


def start(application: App) -> Poller:
    """Create the poller and schedule it (first run right away), and beside it the recordings it queues (their
    downloads, up to 50 MB, never hold up the poll; one round of them never overlaps the next) and the live watch."""
    svc = application.bot_data.need_services()
    limiter = application.bot.rate_limiter
    instance = Poller(svc, limiter.free_in if isinstance(limiter, PatientRateLimiter) else None)
    application.bot_data.poller = instance
    jobs.every(application, instance.job, svc.settings.poll_interval, first=0.1, name=JOB_NAME)
    jobs.every(application, instance.post_recordings, svc.settings.poll_interval, first=0.1, name=RECORDINGS_JOB)
    if svc.settings.live_interval > 0:
        live = LiveWatch(svc, instance)
        instance.reconcile.followed = lambda: live.active_ids
        application.bot_data.live = live
        live.start(application.bot)
    return instance
