"""Whoever reaches the bot's port cannot stop it, nor delay New-Tel's doorbell: 1,000 idle connections to it from 50
addresses (every fifth with half a request line; each one the bot closes opened again at once, by a process of
their own) while missed calls are alerted, /balance answered and the doorbell rung.

What is at stake is the bot process's file descriptors (316 idle connections once took them all: for 90 s no command
was answered and no missed call alerted), and its few connection places (idle clients that reconnect at once once
held them all, so a ring waited 4-5 s for one), so the bot runs as a process of its own, ``python -m bot``, with the
open-files limit of that incident, 1,024 soft and hard (``--limit``; 0: this machine's). It polls the fake Bot API
(in this process) and watches the New-Tel sandbox (a process of its own, ``_sandbox_process``, steered: the benchmark
puts the missed calls into its PBX); the doorbell on its port, LIVE_INTERVAL 1 s, POLL_INTERVAL 2 s, the group
subscribed. Measured first without the attack, then under it:

1. /balance: N round trips from an admin, one every 300 ms at most (a person's pace, within NEWTEL_MAX_RPS beside
   the watch); from handing the update to the fake Bot API to the reply arriving there. Target: median ≤ 50 ms (as
   ``bot_latency.py``), max ≤ 1 s.
2. Missed calls: M, each put into the sandbox as just ended, at a random point of the poll interval, to its alert in
   the group at the fake Bot API. Target: each ≤ POLL_INTERVAL + 0.3 s (as ``alert_latency.py``).
3. The doorbell: N rings (POST /newtel/<secret> on a new connection, one every 300 ms), from connecting to the
   answer's status line. Target: median ≤ 50 ms, max ≤ 1 s.
4. Under attack only: the most descriptors the bot held (``/proc/<pid>/fd`` every 50 ms; target ≤ the limit less
   ``bot.web.RESERVED_DESCRIPTORS``, the room kept for its own connections); how soon the bot closed the first idle
   connections (target ≤ ``bot.web.HEADERS_SECONDS`` + 1.5 s) and how many it closed; what the bot logged meanwhile
   (target ≤ 20 KB, no traceback).

Exits 1 if a target is missed. Linux only (reads /proc). ~40 s.

Usage: python bench/idle_connections.py [--attackers 1000] [--sources 50] [--limit 1024] [-n 20] [-m 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import random
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _sandbox_process import SteeredSandboxProcess, steered_sandbox_process

from bot import web
from localchat import FakeBotAPI
from localchat.settings import TOKEN
from storage import Storage

PROJECT = Path(__file__).resolve().parent.parent  # the bot's process runs this checkout
ADMIN, GROUP = 1001, -100_500
SECRET = "doorbell-secret-0123456789"
POLL_INTERVAL, LIVE_INTERVAL = 2.0, 1.0
PACE = 0.3  # a person's pace, and within NEWTEL_MAX_RPS (10) beside the live watch and the poll
BALANCE_MEDIAN_MS, BALANCE_MAX_MS = 50.0, 1000.0
RING_MEDIAN_MS, RING_MAX_MS = 50.0, 1000.0
RING_TIMEOUT_S = 10.0
ALERT_MAX_S = POLL_INTERVAL + 0.3
FIRST_CLOSED_S = web.HEADERS_SECONDS + 1.5
LOG_BYTES = 20_000
HALF_LINE = b"POST /newtel/" + SECRET.encode()[:7]  # the request line never ends


@dataclass
class Figures:
    balance_ms: list[float] = field(default_factory=list)
    alert_s: list[float] = field(default_factory=list)
    ring_ms: list[float] = field(default_factory=list)


@dataclass
class Attacked:
    closed_by_bot: int = 0  # connections the bot closed (each opened again at once)
    first_closed: float | None = None  # seconds from the start of the attack


class Attack:
    """``count`` connections from ``sources`` addresses (127.0.1.x: this host too) that never finish a request; each
    one the bot closes is opened again at once. In a process of its own, so that its churn does not slow the fake
    Bot API and the measuring; ``stop()`` ends it and returns what it saw."""

    def __init__(self, port: int, count: int, sources: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._stop, self._started = context.Event(), context.Event()
        self._results, child = context.Pipe(duplex=False)
        self._process = context.Process(target=_attack, args=(port, count, sources, self._stop, self._started, child))
        self.started = 0.0

    def start(self) -> None:
        self._process.start()
        self._started.wait(30)
        self.started = time.monotonic()

    def stop(self) -> Attacked:
        self._stop.set()
        attacked: Attacked = self._results.recv() if self._results.poll(30) else Attacked()
        self._process.join(30)
        return attacked


def _attack(port: int, count: int, sources: int, stop: Any, started: Any, results: Connection) -> None:
    results.send(asyncio.run(_attacking(port, count, sources, stop, started)))


async def _attacking(port: int, count: int, sources: int, stop: Any, started: Any) -> Attacked:
    attacked, began = Attacked(), time.monotonic()

    async def attacker(index: int) -> None:
        source = f"127.0.1.{1 + index % sources}"
        while True:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
            except OSError:  # the backlog is full: the kernel refused it for now
                await asyncio.sleep(0.05)
                continue
            with contextlib.suppress(OSError):
                if index % 5 == 0:
                    writer.write(HALF_LINE)
                await reader.read()  # until the bot closes it
            writer.close()
            attacked.closed_by_bot += 1
            if attacked.first_closed is None:
                attacked.first_closed = time.monotonic() - began

    tasks = [asyncio.create_task(attacker(index)) for index in range(count)]
    started.set()
    while not stop.is_set():
        await asyncio.sleep(0.1)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return attacked


async def balance(tg: FakeBotAPI, n: int) -> list[float]:
    latencies = []
    for _ in range(n):
        started = time.monotonic()
        tg.send_text(ADMIN, "/balance")
        reply = await tg.wait_for("sendMessage", chat_id=ADMIN, ok=True, timeout=30)
        latencies.append((reply.time - started) * 1000)
        await asyncio.sleep(PACE - (time.monotonic() - started))  # pacing, not waiting for an event
    return latencies


async def missed_calls(sandbox: SteeredSandboxProcess, tg: FakeBotAPI, m: int, first: int) -> list[float]:
    latencies = []
    for index in range(first, first + m):
        await asyncio.sleep(random.uniform(0, POLL_INTERVAL))  # a random point of the poll interval
        customer = f"7903{index:07d}"
        since, now = tg.mark(), time.time()
        sandbox.add_calls([{"direction": "in", "clid": customer, "status": "no answer", "start": now - 20, "end": now}])
        appeared = time.monotonic()
        alert = await tg.wait_for(
            "sendMessage",
            chat_id=GROUP,
            ok=True,
            since=since,
            predicate=lambda call, digits=customer[1:]: digits in "".join(filter(str.isdigit, call.params["text"])),
            timeout=POLL_INTERVAL * 5 + 5,
        )
        latencies.append(alert.time - appeared)
    return latencies


async def rings(port: int, n: int) -> list[float]:
    """Each ring's wait in ms; one that got no answer within RING_TIMEOUT_S (or failed) counts as that long."""
    latencies = []
    request = b"POST /newtel/" + SECRET.encode() + b" HTTP/1.1\r\nHost: bot\r\nContent-Length: 0\r\n"

    async def ring() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(request + b"Connection: close\r\n\r\n")
            return await reader.readline()
        finally:
            writer.close()

    for _ in range(n):
        started = time.monotonic()
        try:
            status = await asyncio.wait_for(ring(), RING_TIMEOUT_S)
        except (OSError, TimeoutError):
            status = b""
        latencies.append(1000 * (time.monotonic() - started if status.startswith(b"HTTP/1.1 204") else RING_TIMEOUT_S))
        await asyncio.sleep(PACE - (time.monotonic() - started))  # pacing, not waiting for an event
    return latencies


async def measure(
    sandbox: SteeredSandboxProcess, tg: FakeBotAPI, port: int, n: int, m: int, first_call: int
) -> Figures:
    return Figures(await balance(tg, n), await missed_calls(sandbox, tg, m, first_call), await rings(port, n))


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def most_open_files(pid: int, stop: asyncio.Event) -> int:
    most = 0
    while not stop.is_set():
        most = max(most, open_files(pid))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.05)
    return most


@contextlib.contextmanager
def bot_process(sandbox: SteeredSandboxProcess, tg: FakeBotAPI, tmp: Path, port: int, limit: int) -> Iterator[int]:
    """``python -m bot`` with the group subscribed, on ``limit`` open files; yields its pid. Its log: tmp/bot.log."""
    storage = Storage.open(tmp / "bot.db")
    storage.chats.subscribe(GROUP, "Sales", [], False, now=int(time.time()) - 60)
    storage.close()
    env = {
        "PATH": os.environ.get("PATH", ""), "HOME": str(tmp), "PYTHONPATH": str(PROJECT),
        "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_URL": tg.url, "NEWTEL_API_URL": sandbox.url,
        "NEWTEL_ACCESS_KEY": sandbox.access_key, "NEWTEL_SIGNING_KEY": sandbox.signing_key,
        "ADMIN_IDS": str(ADMIN), "DATABASE_PATH": str(tmp / "bot.db"), "NEWTEL_EVENTS_SECRET": SECRET,
        "NEWTEL_EVENTS_PORT": str(port), "LIVE_INTERVAL": str(LIVE_INTERVAL), "POLL_INTERVAL": str(POLL_INTERVAL),
        "ALERT_BOARD": "false",
    }  # fmt: skip

    def limited() -> None:
        if limit:
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

    with (tmp / "bot.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot"], env=env, cwd=tmp, stdout=log, stderr=subprocess.STDOUT, preexec_fn=limited
        )
    try:
        yield process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def room_for(attackers: int) -> int:
    """Raise this process's soft open-files limit for the attackers; fewer of them if the hard limit is lower."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = attackers + 200
    if hard != resource.RLIM_INFINITY and hard < wanted:
        print(f"  (this machine's hard limit on open files, {hard}, allows {hard - 200} attackers)")
        attackers, wanted = hard - 200, hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return attackers


def ms(values: Sequence[float]) -> str:
    ordered = sorted(values)
    return f"median {statistics.median(ordered):6.1f} ms   max {ordered[-1]:6.1f} ms"


def seconds(values: Sequence[float]) -> str:
    ordered = sorted(values)
    return f"median {statistics.median(ordered):5.2f} s   max {ordered[-1]:5.2f} s"


class Verdicts:
    """Every target is printed; only a broken protection (descriptors, idle connections kept, a flooded log) fails
    the run. Times are figures, as in the other scripts: a slow machine shows them missed without failing make bench."""

    def __init__(self) -> None:
        self.broken = 0

    def __call__(self, ok: bool, *, protection: bool = False) -> str:
        self.broken += protection and not ok
        return "OK" if ok else "MISSED"


async def run(attackers: int, sources: int, limit: int, n: int, m: int) -> int:
    """Both phases; returns how many protections broke."""
    attackers = room_for(attackers)
    port = free_port()
    with (
        steered_sandbox_process(history=5) as sandbox,  # a short day: the first reconcile is done at once
        tempfile.TemporaryDirectory(prefix="idle-connections-") as directory,
    ):
        tmp = Path(directory)
        async with FakeBotAPI(TOKEN) as tg:
            tg.group(GROUP, title="Sales")
            with bot_process(sandbox, tg, tmp, port, limit) as pid:
                await tg.wait_for("getUpdates", timeout=60)
                await missed_calls(sandbox, tg, 1, first=9999)  # warm-up: past the first reconcile
                await balance(tg, 3)
                hard = open_files_limit(pid)
                print(f"The bot as a process, open files limited to {hard}; doorbell on 127.0.0.1:{port}.")
                calm = await measure(sandbox, tg, port, n, m, first_call=0)
                print(f"Without the attack, at rest with {open_files(pid)} descriptors open:")
                print(f"  /balance      n={n:<3} {ms(calm.balance_ms)}")
                print(f"  missed call   n={m:<3} {seconds(calm.alert_s)}")
                print(f"  doorbell      n={n:<3} {ms(calm.ring_ms)}")

                stop, attack = asyncio.Event(), Attack(port, attackers, sources)
                log_before = (tmp / "bot.log").stat().st_size
                attack.start()
                sampling = asyncio.create_task(most_open_files(pid, stop))
                under = await measure(sandbox, tg, port, n, m, first_call=m)
                while time.monotonic() - attack.started < FIRST_CLOSED_S + 1:  # long enough to see closing
                    await asyncio.sleep(0.1)
                attacked = attack.stop()
                lasted = time.monotonic() - attack.started
                stop.set()
                most = await sampling
                logged = (tmp / "bot.log").read_bytes()[log_before:]
    print(
        f"Under attack: {attackers} idle connections from {sources} addresses (every fifth with half a request line,"
        f" each opened again as soon as the bot closes it), {lasted:.0f} s:"
    )
    return report(calm, under, attacked, most, hard, logged, n, m)


def report(
    calm: Figures, under: Figures, attacked: Attacked, most: int, hard: int, logged: bytes, n: int, m: int
) -> int:
    verdict = Verdicts()
    balance_ok = statistics.median(under.balance_ms) <= BALANCE_MEDIAN_MS and max(under.balance_ms) <= BALANCE_MAX_MS
    target = f"median ≤ {BALANCE_MEDIAN_MS:.0f} ms, max ≤ {BALANCE_MAX_MS:.0f} ms"
    print(f"  /balance      n={n:<3} {ms(under.balance_ms)}   target {target}: {verdict(balance_ok)}")
    alert_ok = max(under.alert_s) <= ALERT_MAX_S
    print(f"  missed call   n={m:<3} {seconds(under.alert_s)}   target max ≤ {ALERT_MAX_S:.1f} s: {verdict(alert_ok)}")
    ring_ok = statistics.median(under.ring_ms) <= RING_MEDIAN_MS and max(under.ring_ms) <= RING_MAX_MS
    target = f"median ≤ {RING_MEDIAN_MS:.0f} ms, max ≤ {RING_MAX_MS:.0f} ms"
    print(f"  doorbell      n={n:<3} {ms(under.ring_ms)}   target {target}: {verdict(ring_ok)}")
    room = hard - web.RESERVED_DESCRIPTORS
    print(f"  descriptors   at most {most} of {hard} open   target ≤ {room}: {verdict(most <= room, protection=True)}")
    first = attacked.first_closed
    closed_ok = first is not None and first <= FIRST_CLOSED_S
    when = "none" if first is None else f"the first after {first:.1f} s"
    print(f"  closed by the bot: {attacked.closed_by_bot} idle ones, {when}   ", end="")
    print(f"target ≤ {FIRST_CLOSED_S:.1f} s: {verdict(closed_ok, protection=True)}")
    log_ok = len(logged) <= LOG_BYTES and b"Traceback" not in logged
    said = verdict(log_ok, protection=True)
    print(f"  the bot's log meanwhile: {len(logged):,} bytes   target ≤ {LOG_BYTES:,}, no traceback: {said}")
    # At rest against the same targets: a slow machine shows here, not as the attack's doing.
    calm_ok = (
        statistics.median(calm.balance_ms) <= BALANCE_MEDIAN_MS
        and max(calm.alert_s) <= ALERT_MAX_S
        and statistics.median(calm.ring_ms) <= RING_MEDIAN_MS
    )
    print(f"  (at rest, the same targets: {verdict(calm_ok)})")
    return verdict.broken


def open_files_limit(pid: int) -> int:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])  # the soft limit: the bot raises it to the hard one at start-up
    raise RuntimeError("no open-files limit")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attackers", type=int, default=1000, help="idle connections (default 1000)")
    parser.add_argument("--sources", type=int, default=50, help="addresses they come from, 1-254 (default 50)")
    parser.add_argument("--limit", type=int, default=1024, help="the bot's open-files limit (default 1024; 0: as is)")
    parser.add_argument("-n", type=int, default=20, help="/balance round trips in each phase (default 20)")
    parser.add_argument("-m", type=int, default=3, help="missed calls in each phase (default 3)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random pauses")
    args = parser.parse_args()
    if not Path("/proc/self/fd").is_dir():
        sys.exit("Linux only: reads /proc")
    random.seed(args.seed)
    broken = asyncio.run(run(args.attackers, args.sources, args.limit, args.n, args.m))
    sys.exit(1 if broken else 0)


if __name__ == "__main__":
    main()
