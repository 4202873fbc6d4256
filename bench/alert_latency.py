"""How soon a missed call becomes an alert in the group: the real Application and its poll job, end to end.

A missed call is put into the New-Tel sandbox (``add_call(direction="in", status="no answer", end=now)``), each from
a new customer so each makes a new alert; the latency runs from that moment (``time.monotonic()``) to the bot's
``sendMessage`` to the subscribed group reaching the fake Bot API (``ApiCall.time``). N calls, each after a random
pause, so they fall at different points of the poll interval. Target: no worse than the poll interval + 0.3 s.

The sandbox and the fake Bot API run in this process, on the bot's event loop (``add_call`` needs the sandbox at
hand); with a small history their share is small.

Usage: python bench/alert_latency.py [N] [--interval SECONDS]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path

from bot.alerts.poller import poller
from bot.app import build_application, running
from localchat import FakeBotAPI
from localchat.settings import TOKEN, local_settings
from newtel.sandbox import Sandbox

GROUP = -100_500
SLACK = 0.3  # seconds on top of the poll interval


async def one_alert(sandbox: Sandbox, tg: FakeBotAPI, customer: str, timeout: float) -> float:
    """Seconds from the missed call appearing in the sandbox to its alert arriving at the Bot API."""
    since = tg.mark()
    now = sandbox.now()
    sandbox.add_call(direction="in", clid=customer, status="no answer", start=now - 20, end=now)
    appeared = time.monotonic()
    sent = await tg.wait_for("sendMessage", chat_id=GROUP, ok=True, since=since, timeout=timeout)
    return float(sent.time - appeared)


async def run(n: int, interval: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    async with Sandbox() as sandbox, FakeBotAPI(TOKEN) as tg:
        tg.group(GROUP, title="Sales")
        with tempfile.TemporaryDirectory(prefix="alert-latency-") as tmp:
            app = build_application(
                local_settings(sandbox, tg, Path(tmp) / "bench.db", poll_interval=interval, log_level="WARNING")
            )
            async with running(app) as svc:
                svc.storage.chats.subscribe(GROUP, "Sales", [], False, now=int(time.time()) - 60)
                await poller(app).wait_cycles(1, timeout=30)  # the first poll sets the baseline
                latencies = []
                for index in range(n):
                    await asyncio.sleep(rng.uniform(0, interval))  # a random point of the poll interval
                    latencies.append(await one_alert(sandbox, tg, f"7903{index:07d}", timeout=interval * 5 + 5))
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=20, help="missed calls (default 20)")
    parser.add_argument("--interval", type=float, default=2.0, help="POLL_INTERVAL in seconds (default 2)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random pauses")
    args = parser.parse_args()
    latencies = sorted(asyncio.run(run(args.n, args.interval, args.seed)))
    median, p90 = statistics.median(latencies), latencies[int(0.9 * (len(latencies) - 1))]
    target = args.interval + SLACK
    print(f"Missed call in the sandbox → alert at the Bot API, POLL_INTERVAL {args.interval:g} s, n={len(latencies)}:")
    print(f"  median {median:.3f} s   p90 {p90:.3f} s   max {latencies[-1]:.3f} s   min {latencies[0]:.3f} s")
    verdict = "OK" if latencies[-1] <= target else "MISSED"
    print(f"  target: every alert within the poll interval + {SLACK:g} s = {target:.1f} s: {verdict}")


if __name__ == "__main__":
    main()
