"""What ``/forget`` costs on a year's archive: the count shown before the confirm (``storage.erasure.footprint``) and
the erasure (``erase``), for a customer with a handful of calls and for the busiest one, while another connection writes
as the bot's event loop does (a short transaction every 5 ms, waiting at most the bot's 200 ms busy timeout): how
long its writes waited at most, and how many were refused. Targets: a busy customer's erasure holds the lock under
100 ms at a time (no write of the loop's refused), a typical one is over in under 100 ms.

Usage: python bench/forget.py [--calls 300000] [--busiest 20000]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from storage import CallRecord, Storage
from storage.erasure import erase, footprint
from storage.storage import BUSY_TIMEOUT_MS

COMPANY, BUSIEST = "74955325585", "79160000001"
NOW = int(time.time())


def archive(path: Path, calls: int, busiest: int) -> str:
    """A year of ``calls`` calls, ``busiest`` of them with one customer; returns a customer with a few calls."""
    rng = random.Random(1)
    storage = Storage.open(path)
    batch: list[CallRecord] = []
    for n in range(calls):
        customer = BUSIEST if n < busiest else f"7916{rng.randrange(10**7):07d}"
        started = NOW - rng.randrange(365 * 86_400)
        inbound, talked = rng.random() < 0.6, rng.random() < 0.7
        clid, dnid = (customer, COMPANY) if inbound else (COMPANY, customer)
        batch.append(
            CallRecord(f"{n:040x}", "in" if inbound else "out", clid, dnid, "answered" if talked else "no answer",
                       False, started, started + 5 if talked else None, started + 65)
        )  # fmt: skip
        if len(batch) == 5_000:
            storage.calls.ingest(batch, now=NOW)
            batch = []
    storage.calls.ingest(batch, now=NOW)
    typical = storage.db.execute(
        "SELECT customer FROM calls WHERE customer <> ? GROUP BY customer ORDER BY count(*) DESC LIMIT 1", (BUSIEST,)
    ).fetchone()[0]
    storage.close()
    return str(typical)


class LoopWrites:
    """Another connection writing as the event loop does, timing each wait for the lock."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self._stop = threading.Event()
        self.longest, self.refused, self.writes = 0.0, 0, 0
        self._thread = threading.Thread(target=self._run)

    def __enter__(self) -> LoopWrites:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._conn.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:
                self.refused += 1
                continue
            self.longest = max(self.longest, time.perf_counter() - started)
            self._conn.execute("INSERT OR REPLACE INTO kv (key, value, updated_at) VALUES ('bench', '1', 1)")
            self._conn.execute("COMMIT")
            self.writes += 1
            time.sleep(0.005)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300_000)
    parser.add_argument("--busiest", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bot.db"
        started = time.perf_counter()
        typical = archive(path, args.calls, args.busiest)
        print(f"archive: {args.calls:,} calls in {time.perf_counter() - started:.0f} s")
        for customer in (typical, BUSIEST):
            started = time.perf_counter()
            found = footprint(path, customer)
            counted = time.perf_counter() - started
            with LoopWrites(path) as loop:
                started = time.perf_counter()
                gone = erase(path, customer, by=1, now=NOW)
                took = time.perf_counter() - started
            assert gone.calls == found.calls and footprint(path, customer).empty
            print(
                f"{found.calls:>6,} calls: counted in {counted * 1000:.0f} ms, forgotten in {took * 1000:.0f} ms;"
                f" the loop's writes meanwhile: {loop.writes}, longest wait {loop.longest * 1000:.0f} ms,"
                f" refused {loop.refused}"
            )


if __name__ == "__main__":
    main()
