"""CPU time and peak memory of one missed-call poll cycle, by the size of the 24-hour call history.

One cycle is what ``Poller.poll_once`` does with the history: fetch ``vpbx/get-calls`` and parse it into models
(``client.vpbx.get_calls``), take it into the archive (``Ingest.take``), let the alerts decide from what changed
(``Poller.take_changes`` and ``resolve_callbacks``), record alerts (the storage writes, timed separately by
wrapping them). The balance check and the sends
to Telegram are left out: they do not depend on the history's size.

The CPU time is ``time.process_time()`` of the bot side only: the sandbox runs in its own process
(``_sandbox_process``), the bot's services (``Services.create``: client, storage) and the real ``Poller`` run here.
Each history size runs in a fresh subprocess of this script, so its peak RSS (``ru_maxrss``) is its own.
Two subscribed chats: one takes every number, one only the main number. Two situations, medians of ``--reps``:

- steady: the bot has run for over a day and recorded everything; a cycle where nothing is new.
- catching up: the first cycle after ``DOWNTIME`` seconds down (the baseline that long ago, a fresh database):
  the calls missed meanwhile become alerts for both chats.

Targets: 10,000 calls ≤ 150 ms, growth linear, peak RSS ≤ 150 MB at 50,000.

Usage: python bench/poll_cycle.py [--sizes 1000,10000,50000] [--reps 7] [--profile SIZE]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import itertools
import json
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _sandbox_process import SandboxProcess, sandbox_process

import bot.app  # noqa: F401  (the whole bot's modules, as in the bot process: part of its memory)
from bot.config import Settings
from bot.services import Services
from bot.watch.poller import Baseline, Poller
from localchat.settings import local_settings

SIZES = (1_000, 10_000, 50_000)
DOWNTIME = 2 * 3600  # seconds the bot was down before the catching-up cycle
DAY = 24 * 3600
CHATS = (-100_001, -100_002)  # every number; only the main number
TARGET_MS, TARGET_SIZE, TARGET_RSS_MB = 150.0, 10_000, 150.0

F = TypeVar("F", bound=Callable[..., Any])


class _Unreachable:
    url = "http://127.0.0.1:9"  # the poll cycle is timed without Telegram


_NO_TELEGRAM = _Unreachable()


@dataclass
class Cycle:
    """CPU milliseconds of one cycle by phase, its wall time, and what it found."""

    fetch: float = 0.0  # vpbx/get-calls: request, response, JSON, models
    decide: float = 0.0  # detect, diff against SQLite, callbacks
    record: float = 0.0  # storage writes: the archive's ingest, record_missed_many, close_answered_later
    wall: float = 0.0
    calls: int = 0
    changed: int = 0

    @property
    def cpu(self) -> float:
        return self.fetch + self.decide + self.record


def settings_for(sandbox: SandboxProcess, database: Path) -> Settings:
    return local_settings(sandbox, _NO_TELEGRAM, database, log_level="WARNING")


def timed_writes(svc: Services, spent: list[float]) -> None:
    """Wrap the alert repository's writes of the poll so their CPU time adds up in ``spent[0]``."""

    def wrap(method: F) -> F:
        @functools.wraps(method)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.process_time()
            try:
                return method(*args, **kwargs)
            finally:
                spent[0] += time.process_time() - started

        return timed  # type: ignore[return-value]

    alerts = svc.storage.alerts
    alerts.record_missed_many = wrap(alerts.record_missed_many)  # type: ignore[method-assign]
    alerts.close_answered_later = wrap(alerts.close_answered_later)  # type: ignore[method-assign]
    svc.storage.calls.ingest = wrap(svc.storage.calls.ingest)  # type: ignore[method-assign]


async def cycle(poller: Poller, svc: Services, spent: list[float]) -> Cycle:
    spent[0] = 0.0
    wall, started = time.perf_counter(), time.process_time()
    calls = await svc.newtel.vpbx.get_calls()
    fetched = time.process_time()
    now = int(time.time())
    svc.ingest.take(calls, now)  # the archive: in the steady state it compares in memory and writes nothing
    changed = poller.take_changes(now)  # the alerts take what the archive changed
    await poller.resolve_callbacks(now)
    done = time.process_time()
    return Cycle(
        fetch=(fetched - started) * 1000,
        decide=(done - fetched - spent[0]) * 1000,
        record=spent[0] * 1000,
        wall=(time.perf_counter() - wall) * 1000,
        calls=len(calls),
        changed=changed,
    )


async def prepared(sandbox: SandboxProcess, database: Path, down_for: int) -> tuple[Services, Poller, list[float]]:
    """Services on a fresh database: two chats subscribed long ago, the baseline ``down_for`` seconds ago."""
    svc = await Services.create(settings_for(sandbox, database))
    now = int(time.time())
    main_number = (await svc.newtel.company.get_numbers()).external[0]  # also opens the kept-alive connection
    svc.storage.chats.subscribe(CHATS[0], "Sales", [], False, now=now - 3 * DAY)
    svc.storage.chats.subscribe(CHATS[1], "Main line", [main_number], False, now=now - 3 * DAY)
    Baseline(svc.storage.kv).set(now - down_for, [], now=now - down_for)
    # The archive holds what the bot saw before it went down (it takes a day's history in over a few polls).
    calls = await svc.background.vpbx.get_calls()
    archive(svc, [call for call in calls if call.start_time.timestamp() < now - down_for], now)
    svc.storage.calls.settle(call.vpbx_id for call in calls)  # what the bot saw then, its alerts took then
    spent = [0.0]
    timed_writes(svc, spent)
    return svc, Poller(svc), spent


def archive(svc: Services, calls: list[Any], now: int) -> None:
    """Everything in ``calls`` into the archive, as the polls before would have."""
    while svc.ingest.take(calls, now):
        pass


def median_cycle(cycles: list[Cycle]) -> Cycle:
    fields = ("fetch", "decide", "record", "wall", "calls", "changed")
    return Cycle(**{name: statistics.median(getattr(c, name) for c in cycles) for name in fields})


async def measure(size: int, reps: int, profile: cProfile.Profile | None) -> dict[str, Any]:
    """One history size (in this process): the median steady and catching-up cycles, and the peak RSS."""
    with sandbox_process(history=size) as sandbox, tempfile.TemporaryDirectory(prefix="poll-cycle-") as tmp:
        steady: list[Cycle] = []
        svc, poller, spent = await prepared(sandbox, Path(tmp) / "steady.db", down_for=DAY + 3600)
        rss_ready = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        try:
            archive(svc, await svc.background.vpbx.get_calls(), int(time.time()))
            while svc.storage.calls.pending(1):  # the alerts take the whole day: from now on nothing is new
                await cycle(poller, svc, spent)
            if profile is not None:
                profile.enable()
            for _ in range(reps):
                steady.append(await cycle(poller, svc, spent))
            if profile is not None:
                profile.disable()
        finally:
            await svc.close()
        catching_up: list[Cycle] = []
        for rep in range(reps):
            svc, poller, spent = await prepared(sandbox, Path(tmp) / f"catch-up-{rep}.db", down_for=DOWNTIME)
            try:
                catching_up.append(await cycle(poller, svc, spent))
            finally:
                await svc.close()
    return {
        "size": size,
        "steady": asdict(median_cycle(steady)),
        "catching_up": asdict(median_cycle(catching_up)),
        "rss_ready_mb": rss_ready,
        "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def in_subprocess(size: int, reps: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", str(size), "--reps", str(reps)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def report(results: list[dict[str, Any]], reps: int) -> None:
    print(f"One poll cycle, bot-side CPU (process_time), median of {reps}; sandbox in a subprocess; 2 subscribed chats")
    header = f"{'calls':>7} {'fetch+parse':>12} {'diff/decide':>12} {'record':>9} {'CPU total':>10} {'µs/call':>8}"
    header += f" {'wall':>9}  alerts changed"
    situations = {"steady": "steady (nothing new)", "catching_up": f"catching up ({DOWNTIME // 3600} h down)"}
    for situation, title in situations.items():
        print(f"\n{title}:")
        print(header)
        for result in results:
            c = Cycle(**result[situation])
            line = f"{result['size']:>7,} {c.fetch:10.1f}ms {c.decide:10.1f}ms {c.record:7.1f}ms {c.cpu:8.1f}ms"
            line += f" {c.cpu * 1000 / result['size']:8.2f} {c.wall:7.1f}ms  {c.changed:>14.0f}"
            print(line)
        for smaller, larger in itertools.pairwise(results):
            a, b = Cycle(**smaller[situation]), Cycle(**larger[situation])
            print(
                f"  {smaller['size']:,} → {larger['size']:,} calls (×{larger['size'] / smaller['size']:.0f}):"
                f" CPU ×{b.cpu / a.cpu:.1f}   fetch+parse ×{b.fetch / a.fetch:.1f}"
                f"   diff/decide ×{b.decide / max(a.decide, 1e-3):.1f}   record ×{b.record / max(a.record, 1e-3):.1f}"
            )
    print("\nPeak RSS of the bot process (a fresh process per size; 'ready': services up, before the first fetch):")
    for result in results:
        ready, peak = result["rss_ready_mb"], result["rss_peak_mb"]
        print(f"  {result['size']:>7,} calls: ready {ready:6.1f} MB, peak {peak:6.1f} MB")
    by_size = {r["size"]: r for r in results}
    if TARGET_SIZE in by_size:
        worst = max(Cycle(**by_size[TARGET_SIZE][s]).cpu for s in situations)
        verdict = "OK" if worst <= TARGET_MS else "MISSED"
        print(f"Target: {TARGET_SIZE:,} calls ≤ {TARGET_MS:.0f} ms CPU: worst {worst:.1f} ms: {verdict}")
    largest = max(by_size)
    peak = by_size[largest]["rss_peak_mb"]
    verdict = "OK" if peak <= TARGET_RSS_MB else "MISSED"
    print(f"Target: peak RSS ≤ {TARGET_RSS_MB:.0f} MB at {largest:,} calls: {peak:.1f} MB: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES), help="history sizes, comma-separated")
    parser.add_argument("--reps", type=int, default=7, help="cycles per situation (default 7)")
    parser.add_argument("--profile", type=int, metavar="SIZE", help="cProfile the steady cycles at this size instead")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)  # one size, in this process, JSON out
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(asyncio.run(measure(args.child, args.reps, None))))
    elif args.profile is not None:
        profile = cProfile.Profile()
        asyncio.run(measure(args.profile, args.reps, profile))
        pstats.Stats(profile).sort_stats("cumulative").print_stats(30)
    else:
        sizes = [int(s) for s in args.sizes.split(",")]
        report([in_subprocess(size, args.reps) for size in sizes], args.reps)


if __name__ == "__main__":
    main()
