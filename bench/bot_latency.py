"""How fast the bot answers: the real Application between the fake Telegram Bot API and the New-Tel sandbox.

1. One allowed manager sends N ``/balance`` and N ``/calls`` (after a warm-up), once at a person's pace and once
   back to back. Latency runs from just before the fake API enqueues the update (``send_text``) to the moment the
   bot's ``sendMessage`` reaches the fake API (``ApiCall.time``), split at its "typing…". Target: median ≤ 50 ms.
2. 100 different allowed managers send ``/balance`` at once: the time until the last reply arrives. Target ≤ 2 s.

The sandbox runs as a subprocess (``_sandbox_process``): in production New-Tel is another machine, so its work must
not share the bot's event loop. The fake Bot API does share the bot's loop (users act through it synchronously),
so its small cost (long-poll answers, sendMessage handling) is inside the figures, as Telegram's would be. Alert
polls are pushed out (POLL_INTERVAL 3600 s) so only the commands are measured.

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
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _sandbox_process import SandboxProcess, sandbox_process

from bot.app import build_application, running
from bot.services import Services
from localchat import FakeBotAPI
from localchat.settings import TOKEN, local_settings

MANAGER = 5_000
CROWD = 100
CROWD_IDS = [MANAGER + 1 + i for i in range(CROWD)]
WARMUP = 20
PACE = 0.1  # a person's pace: the next command a tenth of a second after the previous one
SINGLE_TARGET_MS = 50.0
CROWD_TARGET_S = 2.0


async def allow_managers(services: Services, user_ids: Sequence[int]) -> None:
    members = await services.newtel.company.get_members()
    now = int(time.time())
    for index, user_id in enumerate(user_ids):
        member = members[index % len(members)]
        services.storage.users.allow_member(user_id, "manager", member, now=now)


@dataclass(frozen=True)
class Sample:
    typing: float  # seconds from the update to the bot's "typing…" (sendChatAction) at the API
    reply: float  # seconds from the update to the bot's reply (sendMessage) at the API


async def round_trip(tg: FakeBotAPI, user_id: int, text: str) -> Sample:
    started = time.monotonic()
    tg.send_text(user_id, text)  # marks the cursor: wait_for looks only at what comes after
    reply = await tg.wait_for("sendMessage", chat_id=user_id, ok=True, timeout=30)
    typing = await tg.wait_for("sendChatAction", chat_id=user_id, timeout=0)
    return Sample(typing.time - started, reply.time - started)


async def single(tg: FakeBotAPI, text: str, n: int, pace: float = 0.0) -> list[Sample]:
    """``n`` round trips after a warm-up, each started at least ``pace`` seconds after the previous one."""
    samples = []
    for _ in range(WARMUP + n):
        started = time.monotonic()
        samples.append(await round_trip(tg, MANAGER, text))
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
        "sendMessage", ok=True, since=since, count=len(wanted), predicate=lambda c: str(c.chat_id) in wanted, timeout=60
    )
    return [r.time - started for r in replies]


@contextlib.asynccontextmanager
async def bot(sandbox: SandboxProcess) -> AsyncIterator[FakeBotAPI]:
    """The real Application on a fresh database and fake Bot API, with the benchmark's managers allowed."""
    with tempfile.TemporaryDirectory(prefix="bot-latency-") as tmp:
        async with FakeBotAPI(TOKEN) as tg:
            settings = local_settings(
                sandbox, tg, Path(tmp) / "bench.db", poll_interval=3600, live_interval=0, log_level="WARNING"
            )  # commands only: no live watch, so no ringing card comes in between a command and its reply
            app = build_application(settings)
            async with running(app) as services:
                await allow_managers(services, [MANAGER, *CROWD_IDS])
                yield tg


def ms(seconds: Sequence[float]) -> str:
    values = sorted(s * 1000 for s in seconds)
    median, p90 = statistics.median(values), values[int(0.9 * (len(values) - 1))]
    return f"n={len(values):<4} median {median:7.1f} ms   p90 {p90:7.1f} ms   max {values[-1]:7.1f} ms"


def report_single(name: str, samples: Sequence[Sample]) -> None:
    replies = [s.reply for s in samples]
    verdict = "OK" if statistics.median(replies) * 1000 <= SINGLE_TARGET_MS else "MISSED"
    print(f"  {name:<9} {ms(replies)}   target median ≤ {SINGLE_TARGET_MS:.0f} ms: {verdict}")
    typing = statistics.median(s.typing for s in samples) * 1000
    rest = statistics.median(s.reply - s.typing for s in samples) * 1000
    print(f"  {'':<9} of which: update → 'typing' {typing:.1f} ms, 'typing' → reply {rest:.1f} ms (medians)")


def report_crowd(latencies: Sequence[float]) -> None:
    wall = max(latencies)
    verdict = "OK" if wall <= CROWD_TARGET_S else "MISSED"
    print(f"  all answered in {wall:.2f} s   target ≤ {CROWD_TARGET_S:.0f} s: {verdict}")
    print(f"  per user: {ms(latencies)}")


async def run(n: int, profile: cProfile.Profile | None) -> None:
    with sandbox_process() as sandbox:
        print("Bot latency: update handed to the bot → reply at the fake Bot API; New-Tel sandbox in a subprocess.")
        async with bot(sandbox) as tg:
            print(f"One manager, a command every {PACE * 1000:.0f} ms (a person's pace):")
            for command in ("/balance", "/calls"):
                report_single(command, await single(tg, command, n, pace=PACE))
            print("One manager, back to back (the next command as soon as the reply arrives):")
            for command in ("/balance", "/calls"):
                report_single(command, await single(tg, command, n))
            print(f"{CROWD} managers send /balance at once:")
            await crowd(tg, CROWD_IDS)  # warm-up: every user's first message
            if profile is not None:
                profile.enable()
            report_crowd(await crowd(tg, CROWD_IDS))
            if profile is not None:
                profile.disable()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=200, help="sequential commands of each kind (default 200)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the crowd")
    args = parser.parse_args()
    profile = cProfile.Profile() if args.profile else None
    asyncio.run(run(args.n, profile))
    if profile is not None:
        pstats.Stats(profile).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
