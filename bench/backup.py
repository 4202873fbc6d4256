"""A scheduled backup of a big archive, taken the way the running bot takes it, and what the event loop feels of it.

The archive: 1,000,000 calls over 90 days, built by ``bench/archive.py``'s ``build_archive`` (which caches nothing:
``--archive PATH`` keeps it for the next run). The backup: ``bot.backups.take`` in a worker thread of its own, steps of
``storage.backup.STEP_PAGES`` pages from one held snapshot, then ``PRAGMA integrity_check`` on the copy, while the
event loop ticks every millisecond and archives a call every 100 ms on its own connection, as the poll does. Printed:
the backup's time, size and rate; the loop's longest stall and p99 (quiet, and during the backup: target < 50 ms);
the loop's slowest archive write meanwhile, and how many of them the database refused (none expected).

Usage: python bench/backup.py [--calls 1000000] [--archive PATH]
Exits 1 when the stall target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from archive import build_archive

from bot import backups
from storage import CallRecord, DatabaseBusy, Storage

STALL_TARGET_MS = 50.0
TICK = 0.001
WRITE_EVERY = 0.1


async def ticking(seconds: float | None, done: asyncio.Event | None = None) -> list[float]:
    """The loop's late wake-ups (ms) while it sleeps a millisecond at a time, for ``seconds`` or until ``done``."""
    late: list[float] = []
    end = None if seconds is None else time.perf_counter() + seconds
    last = time.perf_counter()
    while (done is None or not done.is_set()) and (end is None or last < end):
        await asyncio.sleep(TICK)
        now = time.perf_counter()
        late.append((now - last - TICK) * 1000)
        last = now
    return late


async def archiving(storage: Storage, done: asyncio.Event) -> tuple[list[float], int]:
    """A new call archived every 100 ms on the loop's own connection, as the poll writes: each write's time (ms), and
    how many the database refused (locked past the busy timeout)."""
    took, refused, n = [], 0, 0
    while not done.is_set():
        n += 1
        at = int(time.time())
        call = CallRecord(f"bench{n:035x}", "in", f"7916{n:07d}", "74955325585", "no answer", False, at, None, at)
        started = time.perf_counter()
        try:
            storage.calls.ingest([call], now=at)
        except DatabaseBusy:
            refused += 1
        took.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(WRITE_EVERY)
    return took, refused


async def measure(database: Path, folder: Path) -> dict[str, Any]:
    quiet = await ticking(2.0)
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="backup")  # as bot.backups.Backups has it
    loop, done = asyncio.get_running_loop(), asyncio.Event()
    with Storage.open(database) as storage:
        ticker = asyncio.create_task(ticking(None, done))
        writer = asyncio.create_task(archiving(storage, done))
        started = time.perf_counter()
        made = await loop.run_in_executor(
            worker, backups.take, database, folder, 1, int(time.time()), lambda remaining, total: None
        )
        seconds = time.perf_counter() - started
        done.set()
        late, (writes, refused) = await ticker, await writer
    worker.shutdown()
    return {"made": made, "seconds": seconds, "quiet": quiet, "late": late, "writes": writes, "refused": refused}


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--archive", type=Path, help="keep the built archive here, and use it when it is there")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="backup-bench-") as tmp:
        database = args.archive or Path(tmp) / "archive.db"
        if not database.exists():
            started = time.perf_counter()
            build_archive(database, args.calls)
            print(f"(archive of {args.calls:,} calls built in {time.perf_counter() - started:.0f} s)")
        result = asyncio.run(measure(database, Path(tmp) / "backups"))
    made, seconds, late, quiet = result["made"], result["seconds"], result["late"], result["quiet"]
    print(f"A scheduled backup of {database.name} (schema {made.schema}): {made.bytes / 1e6:.0f} MB in {seconds:.1f} s "
          f"({made.bytes / 1e6 / seconds:.0f} MB/s, the integrity check included)")  # fmt: skip
    print(f"   the loop's stalls: quiet max {max(quiet):.1f} ms, p99 {p99(quiet):.1f} ms; during the backup max "
          f"{max(late):.1f} ms, p99 {p99(late):.1f} ms, median {statistics.median(late):.2f} ms")  # fmt: skip
    writes = result["writes"]
    print(f"   the loop's archive writes meanwhile: {len(writes)}, median {statistics.median(writes):.1f} ms, "
          f"max {max(writes):.1f} ms; refused (database locked): {result['refused']}")  # fmt: skip
    ok = max(late) < STALL_TARGET_MS
    print(f"   target: longest stall < {STALL_TARGET_MS:.0f} ms: {'OK' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
