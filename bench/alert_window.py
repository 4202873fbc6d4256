"""The window in which a crash posts an alert twice: from the fake Bot API answering ``sendMessage`` to the
alert's message id being committed in SQLite. A crash inside it leaves a message in the chat that the database
does not know, so the alert is posted again after the restart (Telegram has no idempotency key).

The real Application and its poll job; the sandbox and the fake Bot API in this process, on the bot's event loop.
The answer is stamped when the fake finishes the request (before the bytes go out), the commit when
``mark_delivered`` returns (after COMMIT, WAL on the local disk). Two loads, 5 new alerts per group at a time:
one group at a time, its sends one after another; and 10 groups, sent in parallel as the bot does (a lane each).

Usage: python bench/alert_window.py [N] [--interval SECONDS]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bot.app import build_application, running
from bot.watch.poller import poller
from localchat import FakeBotAPI
from localchat.settings import TOKEN, local_settings
from newtel.sandbox import Sandbox

PER_GROUP = 20  # the burst the bot's rate limiter lets through to one group (Telegram: ~20 messages a minute)
BATCH = 5  # new alerts per group at a time


class Stamps:
    """When the fake answered each sendMessage and when each (chat, message id) was committed."""

    def __init__(self, tg: FakeBotAPI, svc: Any) -> None:
        self.answered: dict[tuple[int, int], float] = {}
        self.committed: dict[tuple[int, int], float] = {}
        self.commits_ms: list[float] = []  # how long mark_delivered_many itself took (BEGIN IMMEDIATE … COMMIT)
        self.changed = asyncio.Event()
        finish, mark = tg._finish, svc.storage.alerts.mark_delivered_many

        def finished(call: Any, status: int, body: dict[str, Any]) -> Any:
            if call.method == "sendMessage" and status == 200:
                self.answered[(int(call.params["chat_id"]), body["result"]["message_id"])] = time.monotonic()
            return finish(call, status, body)

        def marked(shown: Any) -> int:  # delivery records what Telegram took in one transaction per look
            shown = list(shown)
            started = time.monotonic()
            result = mark(shown)
            self.commits_ms.append((time.monotonic() - started) * 1000)
            for alert_id, message_id, _ in shown:
                chat_id = svc.storage.alerts.get(alert_id).chat_id
                self.committed.setdefault((chat_id, message_id), time.monotonic())
            self.changed.set()
            return result

        tg._finish = finished  # type: ignore[method-assign]
        svc.storage.alerts.mark_delivered_many = marked

    async def wait(self, count: int, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while len(self.committed) < count:
                self.changed.clear()
                await self.changed.wait()

    def windows_ms(self) -> list[float]:
        return sorted((self.committed[key] - at) * 1000 for key, at in self.answered.items() if key in self.committed)


def miss(sandbox: Sandbox, customer: str) -> None:
    now = sandbox.now()
    sandbox.add_call(direction="in", clid=customer, status="no answer", start=now - 20, end=now)


async def measure(n: int, interval: float, parallel: int) -> tuple[list[float], list[float]]:
    """``n`` windows, ``parallel`` groups subscribed at a time, fresh ones every ``PER_GROUP`` alerts (beyond ~20 a
    minute the bot's rate limiter holds sends back: before the window, but it would make the run slow)."""
    async with Sandbox() as sandbox, FakeBotAPI(TOKEN) as tg:
        with tempfile.TemporaryDirectory(prefix="alert-window-") as tmp:
            # No board: it is one more message per change in each group, so past the group's burst of 20 every send
            # would wait for its turn of the group's pace (3 s), which is not the window measured here.
            settings = local_settings(
                sandbox, tg, Path(tmp) / "bench.db", poll_interval=interval, alert_board=False, log_level="WARNING"
            )
            app = build_application(settings)
            async with running(app) as svc:
                await poller(app).wait_cycles(1, timeout=30)  # the first poll sets the baseline
                stamps, customers, groups = Stamps(tg, svc), itertools.count(), itertools.count(100_500)
                while len(stamps.committed) < n:
                    for chat in svc.storage.chats.subscribed():
                        svc.storage.chats.unsubscribe(chat.chat_id, now=int(time.time()))
                    start = int(time.time()) + 1  # the groups hear only of calls that end from the next second on
                    for _ in range(parallel):
                        group = -next(groups)
                        tg.group(group, title=f"Sales {group}")
                        svc.storage.chats.subscribe(group, "Sales", [], False, now=start)
                    await asyncio.sleep(start - time.time())
                    for _ in range(PER_GROUP // BATCH):
                        for _ in range(BATCH):
                            miss(sandbox, f"7903{next(customers):07d}")
                        await stamps.wait(len(stamps.committed) + BATCH * parallel, timeout=60)
                return stamps.windows_ms()[:n], stamps.commits_ms


def report(title: str, measured: tuple[list[float], list[float]]) -> None:
    windows, commits = measured
    p99 = windows[min(len(windows) - 1, int(0.99 * len(windows)))]
    print(f"{title}: n={len(windows)}")
    print(f"  median {statistics.median(windows):.2f} ms   p99 {p99:.2f} ms   max {windows[-1]:.2f} ms")
    print(f"  of which the commit itself: median {statistics.median(commits):.2f} ms")


def main() -> None:
    # A poll every 0.2 s outlasts its interval whenever it asks who answered the sandbox's ended calls (a dozen
    # requests at the jobs' share of NEWTEL_MAX_RPS: up to 1.5 s). APScheduler logs every run it skips meanwhile
    # (~1,500 lines a run under load): expected here, and not what is measured.
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=300, help="alerts per load (default 300)")
    parser.add_argument("--interval", type=float, default=0.2, help="POLL_INTERVAL in seconds (default 0.2)")
    args = parser.parse_args()
    print("Fake Bot API answers sendMessage → the alert's message id committed in SQLite:")
    report("one group at a time, its sends one after another", asyncio.run(measure(args.n, args.interval, 1)))
    report("10 groups, their sends in parallel", asyncio.run(measure(args.n, args.interval, 10)))


if __name__ == "__main__":
    main()
