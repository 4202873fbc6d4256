"""How fast the bot answers: the real Application between the fake Telegram Bot API and the New-Tel sandbox.

1. One allowed manager sends N ``/balance`` and N ``/calls`` (after a warm-up), once at a person's pace (one every
   ``PACE`` seconds, below ``NEWTEL_MAX_RPS``: each costs a New-Tel request) and once back to back (faster than the
   limit lets New-Tel be asked: the limit's wait is shown apart, and the target is judged without it). Latency runs
   from just before the fake API enqueues the update (``send_text``) to the moment the bot's reply, known by its
   opening text, reaches the fake API (``ApiCall.time``); split into before the New-Tel request, waiting for its
   turn in the request limit, on the wire, and after (``_newtel_timing``). Target: median ≤ 50 ms.
2. 100 different allowed managers send ``/balance`` at once (the default ``NEWTEL_MAX_RPS``): the time until the
   last reply arrives, and the New-Tel requests they cost. Target ≤ 2 s.

The sandbox runs as a subprocess (``_sandbox_process``): in production New-Tel is another machine, so its work must
not share the bot's event loop. The fake Bot API does share the bot's loop (users act through it synchronously),
so its small cost (long-poll answers, sendMessage handling) is inside the figures, as Telegram's would be. Alert
polls are pushed out (POLL_INTERVAL 3600 s) and the live watch is off (its ringing cards would reach the managers),
so only the commands are measured. Exits 1 when a target is missed.

Usage: python bench/bot_latency.py [N] [--profile]   (--profile: cProfile of the crowd in 2, by own time)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _newtel_timing import Attempt, Breakdown, breakdown, describe, noting_attempts
from _sandbox_process import SandboxProcess, sandbox_process

from bot.app import build_application, running
from bot.services import Services
from bot.texts import CATALOGS
from localchat import FakeBotAPI
from localchat.fake_api import ApiCall
from localchat.settings import TOKEN, local_settings

MANAGER = 5_000
CROWD = 100
CROWD_IDS = [MANAGER + 1 + i for i in range(CROWD)]
WARMUP = 20
PACE = 0.25  # a person's pace: a command every quarter second, below NEWTEL_MAX_RPS (10) as a person is
SINGLE_TARGET_MS = 50.0
CROWD_TARGET_S = 2.0
# How each command's reply opens (the text before its first value), so nothing else the bot sends is taken for it.
REPLIES = {
    "/balance": (CATALOGS["ru"]["balance"].partition("{")[0],),
    "/calls": tuple(CATALOGS["ru"][key].partition("{")[0] for key in ("calls_header", "calls_empty")),
}


async def allow_managers(services: Services, user_ids: Sequence[int]) -> None:
    members = await services.newtel.company.get_members()
    now = int(time.time())
    for index, user_id in enumerate(user_ids):
        member = members[index % len(members)]
        services.storage.users.allow_member(user_id, "manager", member, now=now)


def is_reply(command: str) -> Callable[[ApiCall], bool]:
    return lambda call: str(call.params.get("text", "")).startswith(REPLIES[command])


async def round_trip(tg: FakeBotAPI, user_id: int, command: str, attempts: list[Attempt]) -> Breakdown:
    started = time.monotonic()
    tg.send_text(user_id, command)  # marks the cursor: wait_for looks only at what comes after
    reply = await tg.wait_for("sendMessage", chat_id=user_id, ok=True, predicate=is_reply(command), timeout=30)
    return breakdown(started, reply.time, attempts)


async def single(tg: FakeBotAPI, command: str, n: int, attempts: list[Attempt], pace: float = 0.0) -> list[Breakdown]:
    """``n`` round trips after a warm-up, each started at least ``pace`` seconds after the previous one."""
    samples = []
    for _ in range(WARMUP + n):
        started = time.monotonic()
        samples.append(await round_trip(tg, MANAGER, command, attempts))
        await asyncio.sleep(pace - (time.monotonic() - started))  # pacing, not waiting for an event
    return samples[WARMUP:]


async def crowd(tg: FakeBotAPI, user_ids: Sequence[int]) -> list[float]:
    """Each user's latency when all of them send /balance at once; the largest is the wall time."""
    wanted = {str(user_id) for user_id in user_ids}  # chat_id arrives form-encoded
    since = tg.mark()
    started = time.monotonic()
    for user_id in user_ids:
        tg.send_text(user_id, "/balance")
    replies = await tg.wait_for(
        "sendMessage",
        ok=True,
        since=since,
        count=len(wanted),
        predicate=lambda c: str(c.chat_id) in wanted and is_reply("/balance")(c),
        timeout=60,
    )
    return [r.time - started for r in replies]


@contextlib.asynccontextmanager
async def bot(sandbox: SandboxProcess) -> AsyncIterator[tuple[FakeBotAPI, Services]]:
    """The real Application on a fresh database and fake Bot API, with the benchmark's managers allowed."""
    with tempfile.TemporaryDirectory(prefix="bot-latency-") as tmp:
        async with FakeBotAPI(TOKEN) as tg:
            settings = local_settings(
                sandbox, tg, Path(tmp) / "bench.db", poll_interval=3600, live_interval=0, log_level="WARNING"
            )
            app = build_application(settings)
            async with running(app) as services:
                await allow_managers(services, [MANAGER, *CROWD_IDS])
                yield tg, services


def ms(seconds: Sequence[float]) -> str:
    values = sorted(s * 1000 for s in seconds)
    median, p90 = statistics.median(values), values[int(0.9 * (len(values) - 1))]
    return f"n={len(values):<4} median {median:7.1f} ms   p90 {p90:7.1f} ms   max {values[-1]:7.1f} ms"


def report_single(name: str, samples: Sequence[Breakdown], *, apart: bool = False) -> bool:
    """Prints the figures; True when the target is met (``apart``: judged without the limit's wait)."""
    judged = [s.total - s.limiter if apart else s.total for s in samples]
    ok = statistics.median(judged) * 1000 <= SINGLE_TARGET_MS
    target = "without the limit's wait " if apart else ""
    print(f"  {name:<9} {ms([s.total for s in samples])}   target median {target}≤ {SINGLE_TARGET_MS:.0f} ms:"
          f" {'OK' if ok else 'MISSED'}")  # fmt: skip
    if apart:
        print(f"  {'':<9} without the limit's wait: {ms(judged)}")
    print(f"  {'':<9} {describe(samples)}")
    return ok


def report_crowd(latencies: Sequence[float], cpu: float, asked: Sequence[Attempt]) -> bool:
    wall = max(latencies)
    ok = wall <= CROWD_TARGET_S
    print(f"  all answered in {wall:.2f} s   target ≤ {CROWD_TARGET_S:.0f} s: {'OK' if ok else 'MISSED'}")
    print(f"  CPU of this process meanwhile (the bot and the fake Bot API): {cpu:.2f} s")
    print(f"  per user: {ms(latencies)}")
    waits = ", ".join(f"{(a.turn - a.asked) * 1000:.1f}" for a in asked)
    print(f"  New-Tel company/get-state requests: {len(asked)} (the limit's wait: {waits or '-'} ms)")
    return ok


async def run(n: int, profile: cProfile.Profile | None) -> bool:
    """True when every target is met."""
    results = []
    with sandbox_process() as sandbox, noting_attempts() as attempts:
        print("Bot latency: update handed to the bot → reply at the fake Bot API; New-Tel sandbox in a subprocess.")
        async with bot(sandbox) as (tg, services):
            limit = services.settings.newtel_max_rps
            print(f"One manager, a command every {PACE * 1000:.0f} ms (a person's pace; NEWTEL_MAX_RPS {limit:g}):")
            for command in ("/balance", "/calls"):
                results.append(report_single(command, await single(tg, command, n, attempts, pace=PACE)))
            print("One manager, back to back (the next command as soon as the reply arrives: faster than the limit):")
            for command in ("/balance", "/calls"):
                results.append(report_single(command, await single(tg, command, n, attempts), apart=True))
            print(f"{CROWD} managers send /balance at once:")
            await crowd(tg, CROWD_IDS)  # warm-up: every user's first message
            if profile is not None:
                profile.enable()
            since, cpu = len(attempts), time.process_time()
            latencies = await crowd(tg, CROWD_IDS)
            cpu = time.process_time() - cpu
            if profile is not None:
                profile.disable()
            asked = [a for a in attempts[since:] if a.method == "company/get-state" and a.urgent]
            results.append(report_crowd(latencies, cpu, asked))
    return all(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=200, help="sequential commands of each kind (default 200)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the crowd")
    args = parser.parse_args()
    profile = cProfile.Profile() if args.profile else None
    ok = asyncio.run(run(args.n, profile))
    if profile is not None:
        pstats.Stats(profile).sort_stats("tottime").print_stats(30)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
