"""The bot's own Prometheus registry and what feeds it, the event loop's lag, and whether the bot is healthy.

Counters are fed by thin hooks where things happen: New-Tel's client (its observer), Telegram's rate limiter (it sees
every request and retry), delivery (an alert posted). What storage holds (the outbox, the last backup) and the ages of
the last successful live check and reconcile are read when scraped, cheaply: counts over partial indexes, one kv row.
The registry is the bot's own, not prometheus-client's global one, so several Applications in one process (the tests)
never collide.

Healthy: New-Tel answered the live watch or the reconcile within HEALTH_ROUNDS of its interval (plus NEWTEL_TIMEOUT
for the round itself), and the database takes a tiny write (kv ``health.probe``, in a worker thread on a connection of
its own: a lock held elsewhere waits there, never on the event loop)."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import sqlite3
import time
from collections import Counter as Tally
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot import __version__
from bot.monitor.lag import LAG_WARN, LAG_WINDOW, LOOP_TICK, LoopLag
from newtel import NewtelError
from storage import DatabaseBusy
from storage.kv import write_probe

if TYPE_CHECKING:
    from bot.context import BotData

log = logging.getLogger(__name__)

LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# From a missed call's end to its alert: the live watch's interval (seconds), the reconcile's (a minute), hours.
LATENCY_BUCKETS = (1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
HEALTH_ROUNDS = 3  # intervals without a success after which a way of hearing from New-Tel is stale
PROBE_KEY = "health.probe"
PROBE_REUSE = 1.0  # seconds a probe's result answers for: a healthcheck hammered still writes once a second
BACKUP_KEY = "backup.last"  # the last successful backup, CLI or scheduled: {"at", "path", "bytes", "schema"}
ERRORS_WINDOW_MINUTES = 60  # /status's "New-Tel errors in the last hour"


@dataclass(frozen=True, slots=True)
class Freshness:
    """How long ago one way of hearing from New-Tel last succeeded."""

    name: str  # "live_check" or "reconcile"
    age: float | None  # seconds since its last success; None: none since the start
    window: float  # seconds: older than this it is stale (before the first success, counted from the start)
    stale: bool


@dataclass(frozen=True, slots=True)
class Health:
    newtel: tuple[Freshness, ...]  # the live check (unless LIVE_INTERVAL is 0) and the reconcile
    database: str  # "writable", "busy" (another connection holds its write lock) or "failing"

    @property
    def healthy(self) -> bool:
        return self.database == "writable" and any(not fresh.stale for fresh in self.newtel)

    @property
    def stale(self) -> list[str]:
        return [fresh.name for fresh in self.newtel if fresh.stale]

    def as_json(self) -> dict[str, Any]:
        """What /healthz answers: what is checked, the ages, and what is stale."""
        return {
            "status": "ok" if self.healthy else "unhealthy",
            "checked": [*(fresh.name for fresh in self.newtel), "database"],
            "age_seconds": {fresh.name: None if fresh.age is None else round(fresh.age, 1) for fresh in self.newtel},
            "window_seconds": {fresh.name: round(fresh.window, 1) for fresh in self.newtel},
            "stale": self.stale,
            "database": self.database,
        }


@dataclass(frozen=True, slots=True)
class Backup:
    at: float  # Unix time
    size: int  # bytes


class Monitor:
    """Created with the Application (its rate limiter reports here), started in post_init, stopped in post_shutdown."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._created = time.monotonic()
        self._watching_since = self._created  # when the watchers began: a first success is awaited from then
        self._data: BotData | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._errors_by_minute: Tally[int] = Tally()
        self._probing = asyncio.Lock()
        self._probe: tuple[float, str] | None = None  # (monotonic time, result) of the last database probe
        r = self.registry
        self._newtel_requests = Counter(
            "bot_newtel_requests", "New-Tel API requests (each attempt), by method", ["method"], registry=r
        )
        self._newtel_errors = Counter(
            "bot_newtel_errors",
            "New-Tel API requests that failed (no answer, an HTTP error, an unreadable or unsigned answer), by method "
            "and error; a method's own refusal such as CallNotFound is an answer",
            ["method", "error"],
            registry=r,
        )
        self._telegram_requests = Counter(
            "bot_telegram_requests", "Bot API requests (each attempt; getUpdates aside), by method", ["method"],
            registry=r,
        )  # fmt: skip
        self._telegram_errors = Counter(
            "bot_telegram_errors", "Bot API requests that failed for good, by method and error", ["method", "error"],
            registry=r,
        )  # fmt: skip
        self._telegram_retries = Counter(
            "bot_telegram_retries",
            "Bot API requests made again: after a 429's wait (rate_limited), or a 5xx or network failure (unavailable)",
            ["method", "reason"],
            registry=r,
        )
        self._alerts_posted = Counter(
            "bot_alerts_posted", "Missed-call alerts posted (each in a message of its own)", registry=r
        )
        self._alert_latency = Histogram(
            "bot_alert_latency_seconds", "From a missed call's end to its alert's post", buckets=LATENCY_BUCKETS,
            registry=r,
        )  # fmt: skip
        self._loop_lag = Histogram(
            "bot_event_loop_lag_seconds",
            f"How late the event loop wakes a task that sleeps {LOOP_TICK:g} s at a time",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self._lag = LoopLag(self._loop_lag.observe)
        Gauge(
            "bot_event_loop_lag_longest_seconds",
            f"The event loop's longest late wake-up in the last full {LAG_WINDOW:g} s (logged with what held it past"
            f" {LAG_WARN:g} s)",
            registry=r,
        ).set_function(lambda: self._lag.longest)
        Info("bot", "The bot's version", registry=r).info({"version": __version__})
        ProcessCollector(registry=r)  # memory, CPU, open files, start time (Linux)
        r.register(_AtScrape(self))

    # --- the hooks --------------------------------------------------------------------------------------------------
    def newtel_answered(self, method: str, failure: NewtelError | None) -> None:
        """New-Tel's client observer: one attempt of ``method``, and the failure it met."""
        self._newtel_requests.labels(method).inc()
        if failure is not None:
            self._newtel_errors.labels(method, type(failure).__name__).inc()
            minute = int(time.monotonic() // 60)
            self._errors_by_minute[minute] += 1
            if len(self._errors_by_minute) > ERRORS_WINDOW_MINUTES:
                for old in [m for m in self._errors_by_minute if m <= minute - ERRORS_WINDOW_MINUTES]:
                    del self._errors_by_minute[old]

    def telegram_request(self, method: str) -> None:
        self._telegram_requests.labels(method).inc()

    def telegram_retry(self, method: str, reason: str) -> None:
        """``reason``: "rate_limited" (a 429 waited out) or "unavailable" (a 5xx or a network failure)."""
        self._telegram_retries.labels(method, reason).inc()

    def telegram_failed(self, method: str, error: Exception) -> None:
        self._telegram_errors.labels(method, type(error).__name__).inc()

    def alert_posted(self, call_ended_at: float) -> None:
        """A missed-call alert was posted; ``call_ended_at``: when its (latest) call ended, Unix time."""
        self._alerts_posted.inc()
        self._alert_latency.observe(max(0.0, time.time() - call_ended_at))

    # --- life -------------------------------------------------------------------------------------------------------
    def start(self, data: BotData) -> None:
        """Read the bot's state from ``data`` from now on, and time the event loop."""
        self._data, self._watching_since = data, time.monotonic()
        if self._ticker is None:
            self._ticker = asyncio.create_task(self._lag.run(), name="loop-lag")

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
            self._ticker = None
        self._data = None  # its storage is closed next

    # --- what is read -----------------------------------------------------------------------------------------------
    @property
    def uptime(self) -> float:
        return time.monotonic() - self._created

    def newtel_errors_last_hour(self) -> int:
        minute = int(time.monotonic() // 60)
        return sum(n for m, n in self._errors_by_minute.items() if m > minute - ERRORS_WINDOW_MINUTES)

    def freshness(self) -> tuple[Freshness, ...]:
        """The live check's (unless it is off) and the reconcile's."""
        data = self._data
        if data is None or data.settings is None:
            return ()
        settings, now = data.settings, time.monotonic()
        slack = settings.newtel_timeout  # the round itself may take one request's time

        def fresh(name: str, last: float, interval: float) -> Freshness:
            window = HEALTH_ROUNDS * interval + slack
            age = now - last if last > -math.inf else None
            return Freshness(name, age, window, min(now - last, now - self._watching_since) > window)

        found = []
        if settings.live_interval > 0:
            live = data.live
            found.append(fresh("live_check", live.last_success if live else -math.inf, settings.live_interval))
        poller = data.poller
        found.append(fresh("reconcile", poller.reconcile.last_success if poller else -math.inf, settings.poll_interval))
        return tuple(found)

    async def health(self) -> Health:
        return Health(self.freshness(), await self._database())

    async def _database(self) -> str:
        """Whether the database takes a write now (at most one probe a PROBE_REUSE, one at a time)."""
        async with self._probing:
            if self._probe is not None and time.monotonic() - self._probe[0] < PROBE_REUSE:
                return self._probe[1]
            data = self._data
            if data is None or data.settings is None:
                return "failing"
            try:
                await asyncio.to_thread(write_probe, data.settings.database_path, PROBE_KEY, int(time.time()))
                result = "writable"
            except DatabaseBusy:  # the storage logs each episode of it
                result = "busy"
            except sqlite3.Error as error:
                if self._probe is None or self._probe[1] != "failing":
                    log.warning("The database does not take the health probe's write: %s", error)
                result = "failing"
            self._probe = (time.monotonic(), result)
            return result

    def database_bytes(self) -> tuple[int, int]:
        """The database file's size and its write-ahead log's."""
        if self._data is None or self._data.settings is None:
            return 0, 0
        path = self._data.settings.database_path
        return _size(path), _size(f"{path}-wal")

    def last_backup(self) -> Backup | None:
        """The last successful backup, as the backups record it; None before the first (or unreadable)."""
        data = self._data
        found = data.services.storage.kv.get(BACKUP_KEY) if data is not None and data.services is not None else None
        if not isinstance(found, dict) or not isinstance(found.get("at"), int | float):
            return None
        size = found.get("bytes")
        return Backup(float(found["at"]), size if isinstance(size, int) else 0)

    @property
    def backups_on(self) -> bool:
        """Whether backups are scheduled (BACKUP_DIR set)."""
        settings = self._data.settings if self._data is not None else None
        return getattr(settings, "backup_dir", None) is not None


def _size(path: str | os.PathLike[str]) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


class _AtScrape(Collector):
    """What is read when scraped: the ages of the last successes, and what waits in the outbox."""

    def __init__(self, monitor: Monitor) -> None:
        self._monitor = monitor

    def collect(self) -> Iterable[Metric]:
        monitor, data = self._monitor, self._monitor._data
        if data is None or data.services is None:
            return
        ages = GaugeMetricFamily(
            "bot_last_success_age_seconds",
            "Seconds since the last successful live check, reconcile and backup (+Inf: none yet)",
            labels=["what"],
        )
        for fresh in monitor.freshness():
            ages.add_metric([fresh.name], math.inf if fresh.age is None else fresh.age)
        pending = GaugeMetricFamily(
            "bot_outbox_pending",
            "Rows waiting to go out: alerts to post or edit, recordings and reminders due, archived calls not yet "
            "taken",
            labels=["kind"],
        )
        try:
            backup = monitor.last_backup()
            for kind, count in data.services.storage.outbox.pending(int(time.time())).items():
                pending.add_metric([kind], count)
        except sqlite3.Error as error:  # a scrape must not fail for it: these go without
            log.warning("The metrics read from the database failed: %s", error)
            yield ages
            return
        if backup is not None:
            ages.add_metric(["backup"], max(0.0, time.time() - backup.at))
        elif monitor.backups_on:
            ages.add_metric(["backup"], math.inf)
        yield ages
        yield pending
