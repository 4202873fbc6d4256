"""The live watch against the old 15-s full poll on a busy day (issue 10's "Performance"): New-Tel's traffic, the
missed-call alerts' and the ringing cards' latency, and /balance while the observers run.

The real Application between the fake Telegram Bot API (in the bot's process, on its loop, as in
``bench/bot_latency.py``) and the New-Tel sandbox in a process of its own (``_sandbox_process``, steered: the
benchmark puts the arriving calls into its PBX). Each mode runs in a fresh process of this script, on a fresh
database and sandbox (same seed: the same company and history), over the same arrival script (same seed):

- new: the defaults (``POLL_INTERVAL`` 60 s reconcile, ``LIVE_INTERVAL`` 3 s live watch);
- old: the old 15-s full poll, ``POLL_INTERVAL`` 15, ``LIVE_INTERVAL`` 0, ``bot.watch.reconcile.DETAILS_MAX`` -1
  (every reconcile one whole ``vpbx/get-calls``; it also asks ``vpbx/get-calls-list`` first, which the old poll did
  not: the ratio is given with and without it, the verdict on the one without).

The day: the sandbox's 24-hour history (``--history``, 10,000 calls) and calls arriving at the busy hour's rate,
Poisson, one every ``--gap`` seconds on average (3 s: 10,000 a day is one every 8.6 s; office hours and the peak
make the busy hour about 3 times the mean). Of those: 57 % inbound answered after ringing 2–8 s, 25 % inbound missed
after ringing 3–15 s, 6 % short rings of 1–2 s (between two live checks, mostly: the reconcile must catch them),
12 % outbound (70 % answered); talk as the history's, 10 s + exponential with a 150-s mean; each from a customer of
its own, ringing the sales group (desk phones 100–102). The script starts 10 minutes back: the calls still going on
when it is put in (~35) are the active calls a busy hour has. A manager on desk phone 101 (ringing cards), another
on 104 (asks /balance), the group subscribed to every number.

1. Traffic: the response bodies' bytes (``GET /sandbox/traffic``, before and after) over a window of whole
   reconciles (``--minutes`` long: 4 of the new mode's, 16 of the old mode's), scaled to an hour (every job is
   periodic, so a window of whole periods gives the hourly rate); requests a minute; per method. Target: old/new
   ≥ 10×.
2. Missed-call alerts: from the call's end (its planned timeline, on the sandbox's clock: ``time.time()``) to the
   group's ``sendMessage`` arriving at the fake Bot API (``ApiCall.time``, monotonic, turned into wall time once at
   the start), for the misses that end in the window. Apart: those the live watch saw ringing (target p50 ≤ 2 s, max
   ≤ LIVE_INTERVAL + 1 s) and those it never saw (target max ≤ POLL_INTERVAL + 1 s); the old mode for comparison.
   Which calls a live check saw is taken from ``vpbx/get-active-calls`` answers (the client's method wrapped).
3. Ringing cards: from the call's start to the first message at the Bot API that shows it to the manager on 101 (a
   new card's ``sendMessage``, or the edit that adds it to a card already ringing), for the inbound calls the live
   watch saw ringing. Target max ≤ LIVE_INTERVAL + 0.5 s.
4. /balance at ``--balance-history`` (50,000) calls while the observers run, the same arrivals: the manager on 104
   sends /balance, the next 250 ms after each reply (``--balance-pace``; see BALANCE_PACE for why not 50 ms), for
   ``--balance-seconds`` and at least two reconciles; time from the update to the reply at the Bot API. New mode
   with POLL_INTERVAL 10 s (``--balance-poll``) so that a short run holds several reconciles; old mode (15-s full
   poll) for comparison (the issue: p99 220 ms). Each reply is split (``_newtel_timing``): before its New-Tel
   request, waiting for a turn in the request limit, on the wire, after; the limit's share of the slowest tenth
   and the slowest three are printed. Target p99 ≤ 50 ms.

Bot-side warnings and errors are counted and the first few printed. ``--profile``: a cProfile (own time) of the
bot's process over part 4's new-mode run, on stderr.

``--quick`` (~3 minutes): a 30-s window (1 reconcile of the new mode, 2 of the old), part 4 at 10,000 calls for 15 s.

Usage: python bench/live.py [--quick] [--part all|watch|balance] [--modes new,old] [--minutes 4] [--gap 3]
                            [--history 10000] [--balance-history 50000] [--balance-seconds 60] [--seed 1] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import dataclasses
import json
import logging
import os
import pstats
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _newtel_timing import Attempt, Breakdown, breakdown, describe, noting_attempts, slowest
from _sandbox_process import SteeredSandboxProcess, steered_sandbox_process

import bot.watch.reconcile
from bot.app import build_application, running
from bot.config import Settings
from bot.services import Services
from bot.texts import Texts
from bot.watch.poller import Poller, poller
from localchat import FakeBotAPI
from localchat.settings import TOKEN, local_settings
from newtel import Call
from newtel._vpbx import VpbxMethods
from newtel.phones import format_for_people
from storage._db import write

GROUP = -100_500
ALERT = Texts("ru")("alert_title")  # how an alert opens (the group's other messages, e.g. its board, do not)
CARDS_USER, CARDS_PHONE = 5_001, "101"  # in the sales group: gets the ringing cards
ASKER, ASKER_PHONE = 5_002, "104"  # not in the group: its chat holds only the /balance replies
SALES = ("100", "101", "102")  # the sales group the inbound calls ring (the sandbox's first three registered phones)
DESKS = ("100", "101", "102", "103", "104")  # outbound calls are placed from these
KINDS = {"answered": 0.57, "missed": 0.25, "short": 0.06, "out": 0.12}
WARMUP = 600.0  # seconds of arrivals before the window: what is still going on then is put in with it
SETTLE = 10.0  # seconds from putting the script in to the window: the calls going on at 0 are news to the bot then
# Part 4: the next /balance this long after the previous reply. Each /balance is one company/get-state: at 50 ms
# (bench/archive.py's pace) one user alone asks ~10-13 a second, over NEWTEL_MAX_RPS (10): the figure would be the
# limiter's queue. At 250 ms (~3.5 a second) the user keeps to a third of it, and the observers' share shows.
BALANCE_PACE = 0.25
NEW_POLL = float(Settings.model_fields["poll_interval"].default)
NEW_LIVE = float(Settings.model_fields["live_interval"].default)
TARGETS = {"ratio": 10.0, "alert_p50": 2.0, "alert_slack": 1.0, "card_slack": 0.5, "balance_p99_ms": 50.0}


# --- the modes and the arrival script ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Mode:
    name: str
    poll_interval: float
    live_interval: float
    details_max: int | None  # None: the product's DETAILS_MAX

    def describe(self) -> str:
        if self.details_max is None:
            return f"POLL_INTERVAL {self.poll_interval:g} s reconcile, LIVE_INTERVAL {self.live_interval:g} s"
        return f"POLL_INTERVAL {self.poll_interval:g} s, LIVE_INTERVAL 0, DETAILS_MAX {self.details_max}"


MODES = {
    "new": Mode("new", NEW_POLL, NEW_LIVE, None),
    "old": Mode("old", 15.0, 0.0, -1),
}


@dataclass(frozen=True)
class Planned:
    """One arriving call, its times in seconds from the moment the script is put into the sandbox."""

    kind: str  # one of KINDS
    customer: str
    start: float
    answer: float | None
    end: float
    phone: str  # inbound: who answers (if anyone); outbound: the desk phone that calls

    @property
    def inbound(self) -> bool:
        return self.kind != "out"

    @property
    def missed(self) -> bool:
        return self.kind in ("missed", "short")

    def add_call(self, t0: float) -> dict[str, Any]:
        """``Sandbox.add_call``'s keyword arguments, the times on the sandbox's clock."""
        answered = self.answer is not None
        call: dict[str, Any] = {
            "direction": "in" if self.inbound else "out",
            "status": "answered" if answered else "no answer",
            "start": t0 + self.start,
            "answer": None if self.answer is None else t0 + self.answer,
            "end": t0 + self.end,
            "active": True,
        }
        if self.inbound:
            call.update(clid=self.customer, answered_numbers=[self.phone] if answered else [])
        else:
            call.update(dnid=self.customer, internal_clid=self.phone)
        return call


def arrivals(seed: int, gap: float, span: float) -> list[Planned]:
    """Poisson arrivals from ``-WARMUP`` to ``span`` seconds, one every ``gap`` on average; of the calls before 0
    only those still going on at 0 (the active calls of a busy hour)."""
    rng = random.Random(seed)
    names, weights = list(KINDS), list(KINDS.values())
    planned: list[Planned] = []
    moment, n = -WARMUP, 0
    while True:
        moment += rng.expovariate(1 / gap)
        if moment >= span:
            return [call for call in planned if call.end > 0.5]
        kind = rng.choices(names, weights)[0]
        talk = 10 + rng.expovariate(1 / 150)
        answer: float | None
        if kind == "answered":
            answer = moment + rng.uniform(2, 8)
            end, phone = answer + talk, rng.choice(SALES)
        elif kind in ("missed", "short"):
            answer, phone = None, ""
            end = moment + (rng.uniform(3, 15) if kind == "missed" else rng.uniform(1, 2))
        else:
            ring, phone = rng.uniform(5, 15), rng.choice(DESKS)
            answer = moment + ring if rng.random() < 0.7 else None
            end = answer + talk if answer is not None else moment + ring
        n += 1
        planned.append(Planned(kind, f"7903{n:07d}", moment, answer, end, phone))


# --- the bot's process: one mode ---------------------------------------------------------------------------------
@dataclass
class Seen:
    """What the live checks saw, by customer number, and when (wall clock, as each answer arrived): first active,
    first ringing (inbound, not answered yet), first missing from the list after being in it."""

    active: dict[str, float] = dataclasses.field(default_factory=dict)
    ringing: dict[str, float] = dataclasses.field(default_factory=dict)
    gone: dict[str, float] = dataclasses.field(default_factory=dict)
    last: set[str] = dataclasses.field(default_factory=set)


@contextlib.contextmanager
def watching_active_calls(seen: Seen) -> Iterator[None]:
    """Wrap the client's ``vpbx/get-active-calls`` (only the live watch asks it) to note what each answer held."""
    original = VpbxMethods.get_active_calls

    async def observed(self: VpbxMethods) -> list[Call]:
        calls = await original(self)
        now, current = time.time(), set()
        for call in calls:
            customer = call.clid if call.direction == "in" else call.dnid
            current.add(customer)
            seen.active.setdefault(customer, now)
            if call.direction == "in" and call.status != "answered":
                seen.ringing.setdefault(customer, now)
        for customer in seen.last - current:
            seen.gone.setdefault(customer, now)
        seen.last = current
        return calls

    VpbxMethods.get_active_calls = observed  # type: ignore[method-assign]
    try:
        yield
    finally:
        VpbxMethods.get_active_calls = original  # type: ignore[method-assign]


class Complaints(logging.Handler):
    """The bot's warnings and errors, counted (a benchmark's run should have none)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[str] = []
        self.phase = "warm-up"  # then "window", then "after"

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"({self.phase}) {record.levelname} {record.name}: {record.getMessage()}"[:300])


async def traffic(http: aiohttp.ClientSession, sandbox: SteeredSandboxProcess) -> dict[str, list[int]]:
    async with http.get(f"{sandbox.url}/sandbox/traffic") as answer:
        found = await answer.json()
    return {method: [t["requests"], t["bodyBytes"]] for method, t in found.items()}


def minus(after: dict[str, list[int]], before: dict[str, list[int]]) -> dict[str, list[int]]:
    spent = {m: [a[0] - before.get(m, [0, 0])[0], a[1] - before.get(m, [0, 0])[1]] for m, a in after.items()}
    return {m: t for m, t in spent.items() if t[0]}


def settle(poll: Poller, svc: Services) -> None:
    """The preloaded day as a bot that has run all day holds it: the alerts have taken it (not news: the bot would
    over its first minutes), and who answered each call was asked as it ended (else the backlog, 12 a poll, newest
    first, would be asked during the window)."""
    while svc.storage.calls.pending(1):
        poll.take_changes(int(time.time()))
    with write(svc.storage.db) as conn:
        conn.execute("UPDATE calls SET who_due = NULL WHERE who_due IS NOT NULL")


async def balances_until(tg: FakeBotAPI, stop: asyncio.Event, pace: float, attempts: list[Attempt]) -> list[Breakdown]:
    """/balance from ASKER, the next ``pace`` seconds after each reply, until ``stop``: where each reply's time went
    (ASKER is the only person asking: the urgent New-Tel attempts within a round trip are its)."""
    found = []
    while not stop.is_set():
        started = time.monotonic()
        tg.send_text(ASKER, "/balance")
        reply = await tg.wait_for("sendMessage", chat_id=ASKER, ok=True, timeout=30)
        found.append(breakdown(started, reply.time, attempts))
        await asyncio.sleep(pace)
    return found


async def run_mode(spec: dict[str, Any]) -> dict[str, Any]:
    """One mode in this process: warm up, put the arrivals in, measure; the raw figures as a dict."""
    mode = MODES[spec["mode"]]
    if spec["part"] == "balance" and mode.name == "new":
        mode = dataclasses.replace(mode, poll_interval=spec["balance_poll"])
    wall = time.time() - time.monotonic()  # ApiCall.time (monotonic) + wall = wall-clock time
    complaints = Complaints()
    logging.getLogger().addHandler(complaints)
    if mode.details_max is not None:
        bot.watch.reconcile.DETAILS_MAX = mode.details_max
    seen = Seen()
    window = spec["window"]
    cycles_wanted = max(1, round(window / mode.poll_interval)) if spec["part"] == "watch" else 0
    span = (cycles_wanted + 2) * mode.poll_interval + spec["tail"] + window + 60
    plan = arrivals(spec["seed"], spec["gap"], span)
    profile = cProfile.Profile() if spec.get("profile") else None
    result: dict[str, Any] = {"mode": dataclasses.asdict(mode), "history": spec["history"], "load": os.getloadavg()}
    with (
        steered_sandbox_process(history=spec["history"]) as sandbox,
        tempfile.TemporaryDirectory(prefix="bench-live-") as tmp,
        watching_active_calls(seen),
    ):
        async with FakeBotAPI(TOKEN) as tg, aiohttp.ClientSession() as http:
            tg.group(GROUP, title="Sales")
            for user_id in (CARDS_USER, ASKER):
                tg.user(user_id)
            settings = local_settings(
                sandbox, tg, Path(tmp) / "bench.db", poll_interval=mode.poll_interval,
                live_interval=mode.live_interval, log_level="WARNING",
            )  # fmt: skip
            app = build_application(settings)
            started = time.monotonic()
            async with running(app) as svc:
                members = {m.internal_number: m for m in await svc.newtel.company.get_members()}
                now = int(time.time())
                svc.storage.users.allow_member(CARDS_USER, "manager", members[CARDS_PHONE], now=now)
                svc.storage.users.allow_member(ASKER, "manager", members[ASKER_PHONE], now=now)
                svc.storage.chats.subscribe(GROUP, "Sales", [], False, now=now - 60)
                poll = poller(app)
                await poll.wait_cycles(1, timeout=600)  # the first reconcile: the whole day into the archive
                settle(poll, svc)
                result["warmup_s"] = time.monotonic() - started
                live = app.bot_data.live
                t0 = time.time() + 1.0  # the sandbox's clock is this machine's (its offset 0)
                await asyncio.to_thread(sandbox.add_calls, [call.add_call(t0) for call in plan])
                await asyncio.sleep(1.0 + SETTLE)  # the calls going on at 0 appear at once: the first looks at them
                checks, cycles, full = (live.checks if live else 0), poll.cycles, poll.reconcile.full_fetches
                before = await traffic(http, sandbox)
                opened, complaints.phase = time.monotonic(), "window"
                if spec["part"] == "watch":
                    await asyncio.sleep(cycles_wanted * mode.poll_interval)  # periodic: holds that many reconciles
                else:
                    if profile is not None:
                        profile.enable()
                    stop = asyncio.Event()
                    with noting_attempts() as attempts:
                        asker = asyncio.create_task(balances_until(tg, stop, spec["balance_pace"], attempts))
                        await asyncio.sleep(window)
                        while poll.cycles - cycles < 2:
                            await asyncio.sleep(0.1)
                        stop.set()
                        replies = await asker
                    result["balance_ms"] = [reply.total * 1000 for reply in replies]
                    result["balance_parts"] = [dataclasses.astuple(reply) for reply in replies]
                    if profile is not None:
                        profile.disable()
                closed, complaints.phase = time.monotonic(), "after"
                spent = minus(await traffic(http, sandbox), before)
                result.update(
                    window_s=closed - opened,
                    cycles=poll.cycles - cycles,
                    checks=(live.checks if live else 0) - checks,
                    full_fetches=poll.reconcile.full_fetches - full,
                    traffic=spent,
                )
                if spec["part"] == "watch":
                    window_end = time.time()
                    await wait_alerts(tg, plan, t0, window_end, wall, mode, spec["tail"])
                    result.update(latencies(tg, plan, t0, window_end, wall, seen))
    result["load"] = [*result["load"], *os.getloadavg()]  # the machine's other work, at the start and the end
    logging.getLogger().removeHandler(complaints)
    result["complaints"] = complaints.records
    if profile is not None:
        pstats.Stats(profile, stream=sys.stderr).sort_stats("tottime").print_stats(35)
    return result


def first_shown(
    tg: FakeBotAPI, chat_id: int, methods: Sequence[str], plan: Sequence[Planned], opening: str = ""
) -> dict[str, Any]:
    """customer → (the first ok call of ``methods`` to ``chat_id`` whose text starts with ``opening`` and shows
    their number)."""
    shown = {format_for_people(call.customer): call.customer for call in plan}
    first: dict[str, Any] = {}
    for api_call in tg.calls:
        if api_call.method not in methods or not api_call.ok or str(api_call.chat_id) != str(chat_id):
            continue
        text = str(api_call.params.get("text", ""))
        if not text.startswith(opening):
            continue
        for formatted, customer in shown.items():
            if customer not in first and formatted in text:
                first[customer] = api_call
    return first


def measured_misses(plan: Sequence[Planned], t0: float, window_end: float) -> list[Planned]:
    """The missed calls that started after the script was put in and ended within the window."""
    return [call for call in plan if call.missed and call.start >= 0 and t0 + call.end <= window_end]


async def wait_alerts(
    tg: FakeBotAPI, plan: Sequence[Planned], t0: float, window_end: float, wall: float, mode: Mode, tail: float
) -> None:
    """Until every miss of the window is alerted, or the reconcile has had its chance (``tail`` at most)."""
    wanted = {call.customer for call in measured_misses(plan, t0, window_end)}
    deadline = time.monotonic() + min(tail, mode.poll_interval + 3)
    while time.monotonic() < deadline and not wanted <= set(first_shown(tg, GROUP, ["sendMessage"], plan, ALERT)):
        await asyncio.sleep(0.5)


def latencies(
    tg: FakeBotAPI, plan: Sequence[Planned], t0: float, window_end: float, wall: float, seen: Seen
) -> dict[str, Any]:
    alerts = first_shown(tg, GROUP, ["sendMessage"], plan, ALERT)
    missed = []
    for call in measured_misses(plan, t0, window_end):
        sent, gone = alerts.get(call.customer), seen.gone.get(call.customer)
        missed.append(
            {
                "kind": call.kind,
                "seen_ringing": call.customer in seen.ringing,
                "seen_active": call.customer in seen.active,
                "latency": None if sent is None else sent.time + wall - (t0 + call.end),
                "noticed": None if gone is None else gone - (t0 + call.end),  # the end → the check that found it gone
                "after_notice": None if sent is None or gone is None else sent.time + wall - gone,
            }
        )
    shown = first_shown(tg, CARDS_USER, ["sendMessage", "editMessageText"], plan)
    cards = []
    for call in plan:
        if call.inbound and call.start >= 0 and t0 + call.start <= window_end and call.customer in seen.ringing:
            card, ringing = shown.get(call.customer), seen.ringing[call.customer]
            cards.append(
                {
                    "kind": call.kind,
                    "how": None if card is None else card.method,
                    "latency": None if card is None else card.time + wall - (t0 + call.start),
                    "noticed": ringing - (t0 + call.start),  # the start → the check that saw it ringing
                    "after_notice": None if card is None else card.time + wall - ringing,
                }
            )
    arrived = sum(1 for call in plan if call.start >= 0 and t0 + call.start <= window_end)
    return {"missed": missed, "cards": cards, "arrived": arrived}


# --- the report --------------------------------------------------------------------------------------------------
def in_subprocess(spec: dict[str, Any]) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", json.dumps(spec)]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)  # stderr: the child's own
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def spread(values: Sequence[float], unit: str = "s", digits: int = 2) -> str:
    if not values:
        return "n=0"
    p50, p90, top = statistics.median(values), quantile(values, 0.9), max(values)
    return f"n={len(values):<4} p50 {p50:.{digits}f} {unit}   p90 {p90:.{digits}f} {unit}   max {top:.{digits}f} {unit}"


def per_hour(run: dict[str, Any], skip: Sequence[str] = ()) -> float:
    return float(sum(t[1] for m, t in run["traffic"].items() if m not in skip) * 3600 / run["window_s"])


def report_traffic(runs: dict[str, dict[str, Any]], spec: dict[str, Any]) -> None:
    print(
        f"\n1. New-Tel traffic per hour: history {spec['history']:,} calls, arrivals one every {spec['gap']:g} s"
        f" (seed {spec['seed']}); a window of whole reconciles (~{spec['window'] / 60:g} min), scaled to an hour"
    )
    print(f"   {'mode':<5}{'window':>8}{'reconciles':>12}{'live checks':>13}{'full get-calls':>16}"
          f"{'requests/min':>14}{'MB/hour':>10}{'(warm-up)':>11}")  # fmt: skip
    for name, run in runs.items():
        requests = sum(t[0] for t in run["traffic"].values()) * 60 / run["window_s"]
        print(
            f"   {name:<5}{run['window_s']:>7.0f}s{run['cycles']:>12}{run['checks']:>13}{run['full_fetches']:>16}"
            f"{requests:>14.1f}{per_hour(run) / 1e6:>10.2f}{run['warmup_s']:>10.0f}s"
        )
    methods = sorted({m for run in runs.values() for m in run["traffic"]})
    print(f"   per method: requests/min, KB/hour{'':<12}" + "".join(f"{name:>26}" for name in runs))
    for method in methods:
        cells = []
        for run in runs.values():
            requests, body = run["traffic"].get(method, [0, 0])
            cells.append(f"{requests * 60 / run['window_s']:>9.1f}/min {body * 3.6 / run['window_s']:>10.1f} KB")
        print(f"     {method:<41}" + "".join(f"{cell:>26}" for cell in cells))
    if {"old", "new"} <= runs.keys():
        new = per_hour(runs["new"])
        strict = per_hour(runs["old"], skip=["vpbx/get-calls-list"]) / new
        ratio = per_hour(runs["old"]) / new
        print(
            f"   old/new: ×{strict:.1f} (the old poll as it was: without the vpbx/get-calls-list DETAILS_MAX=-1 adds;"
            f" with it ×{ratio:.1f})"
        )
        print(f"   target ≥ ×{TARGETS['ratio']:g}; verdict: {'OK' if strict >= TARGETS['ratio'] else 'MISSED'}")


def report_alerts(runs: dict[str, dict[str, Any]]) -> None:
    print("\n2. Missed call's end (its planned timeline) → the group's alert (sendMessage) at the fake Bot API")
    ok = True
    for name, run in runs.items():
        mode, missed = run["mode"], run["missed"]
        kinds = ", ".join(f"{k} {sum(1 for m in missed if m['kind'] == k)}" for k in ("missed", "short"))
        lost = [m for m in missed if m["latency"] is None]
        print(f"   {name} ({Mode(**mode).describe()}): {len(missed)} misses ended in the window ({kinds})")
        if mode["live_interval"] > 0:
            seen = [m["latency"] for m in missed if m["seen_ringing"] and m["latency"] is not None]
            unseen = [m["latency"] for m in missed if not m["seen_active"] and m["latency"] is not None]
            bound, late = mode["live_interval"] + TARGETS["alert_slack"], mode["poll_interval"] + TARGETS["alert_slack"]
            seen_ok = bool(seen) and statistics.median(seen) <= TARGETS["alert_p50"] and max(seen) <= bound
            unseen_ok = not unseen or max(unseen) <= late
            print(f"     seen ringing by a live check: {spread(seen)}")
            print(f"       target p50 ≤ {TARGETS['alert_p50']:g} s, max ≤ LIVE_INTERVAL + 1 = {bound:g} s:"
                  f" {'OK' if seen_ok else 'MISSED'}")  # fmt: skip
            noticed = [m["noticed"] for m in missed if m["seen_ringing"] and m["noticed"] is not None]
            after = [m["after_notice"] for m in missed if m["seen_ringing"] and m["after_notice"] is not None]
            print(f"       of which the end → the check that finds it gone: {spread(noticed)}")
            print(f"                that check → the alert at the Bot API:  {spread(after)}")
            print(f"     never seen active (left to the reconcile): {spread(unseen)}")
            print(f"       target max ≤ POLL_INTERVAL + 1 = {late:g} s: {'OK' if unseen_ok else 'MISSED'}")
            ok = ok and seen_ok and unseen_ok and not lost
        else:
            every = [m["latency"] for m in missed if m["latency"] is not None]
            print(f"     every miss (for comparison): {spread(every)}")
        if lost:
            print(f"     NOT ALERTED by the end of the run: {len(lost)} ({', '.join(m['kind'] for m in lost)})")
    if "new" in runs:
        print(f"   verdict: {'OK' if ok else 'MISSED'}")


def report_cards(runs: dict[str, dict[str, Any]]) -> None:
    run = runs.get("new")
    if run is None:
        return
    live = run["mode"]["live_interval"]
    cards = run["cards"]
    shown = [c["latency"] for c in cards if c["latency"] is not None]
    fresh = [c["latency"] for c in cards if c["how"] == "sendMessage"]
    added = [c["latency"] for c in cards if c["how"] == "editMessageText"]
    print(
        f"\n3. Ringing card: call's start → the card showing it to the manager on desk phone {CARDS_PHONE}"
        f" ({len(cards)} inbound calls of the window seen ringing, of {run['arrived']} arrived)"
    )
    print(f"   all:                      {spread(shown)}")
    print(f"   a new card (sendMessage): {spread(fresh)}")
    print(f"   added to a ringing card:  {spread(added)}")
    noticed = [c["noticed"] for c in cards]
    after = [c["after_notice"] for c in cards if c["after_notice"] is not None]
    print(f"   of which the start → the check that sees it ringing: {spread(noticed)}")
    print(f"            that check → the card at the Bot API:       {spread(after)}")
    unshown = [c["kind"] for c in cards if c["latency"] is None]
    if unshown:
        print(f"   seen ringing, on no card: {len(unshown)} ({', '.join(unshown)})")
    bound = live + TARGETS["card_slack"]
    ok = bool(shown) and max(shown) <= bound and not unshown
    print(f"   target max ≤ LIVE_INTERVAL + 0.5 = {bound:g} s; verdict: {'OK' if ok else 'MISSED'}")


def report_balance(runs: dict[str, dict[str, Any]], seconds: float, pace: float) -> None:
    some = next(iter(runs.values()))
    print(
        f"\n4. /balance at {some['history']:,} calls while the observers run: the next {pace * 1000:.0f} ms after each"
        f" reply, {seconds:g} s and at least 2 reconciles, the same arrivals"
    )
    for name, run in runs.items():
        values = run["balance_ms"]
        mode = Mode(**run["mode"])
        line = (
            f"   {name} ({mode.describe()}): {run['cycles']} reconciles, {run['checks']} live checks,"
            f" {run['full_fetches']} full get-calls"
        )
        print(line)
        median, p99, top = statistics.median(values), quantile(values, 0.99), max(values)
        print(f"     n={len(values)}  median {median:.1f} ms   p99 {p99:.1f} ms   max {top:.1f} ms")
        parts = [Breakdown(*found) for found in run["balance_parts"]]
        print(f"     {describe(parts)}")
        print(f"     the slowest: {slowest(parts)}")
        everything = sum(t[0] for t in run["traffic"].values()) / run["window_s"]
        asked = run["traffic"].get("company/get-state", [0, 0])[0] / run["window_s"]
        print(f"     New-Tel requests a second: {everything:.1f} in all, {asked:.1f} of them /balance's get-state")
        if name == "new":
            verdict = "OK" if p99 <= TARGETS["balance_p99_ms"] else "MISSED"
            print(f"     target p99 ≤ {TARGETS['balance_p99_ms']:g} ms; verdict: {verdict}")
        else:
            print("     (for comparison; the issue: p99 220 ms)")


def report_complaints(runs: dict[str, dict[str, Any]], part: str) -> None:
    loads = ", ".join(f"{name} {run['load'][0]:.1f} → {run['load'][3]:.1f}" for name, run in runs.items())
    print(f"   (load average, 1 min, at each run's start → end, {os.cpu_count()} CPUs: {loads})")
    for name, run in runs.items():
        if run["complaints"]:
            print(f"   [{part} {name}: the bot logged {len(run['complaints'])} warnings/errors; the first ones:]")
            for line in run["complaints"][:5]:
                print(f"     {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few minutes: shorter, smaller")
    parser.add_argument("--part", choices=("all", "watch", "balance"), default="all", help="watch: 1-3; balance: 4")
    parser.add_argument("--modes", default="new,old", help="modes to run, comma-separated (default new,old)")
    parser.add_argument("--minutes", type=float, default=4.0, help="parts 1-3: the window (default 4)")
    parser.add_argument("--gap", type=float, default=3.0, help="mean seconds between arriving calls (default 3)")
    parser.add_argument("--history", type=int, default=10_000, help="parts 1-3: the day's calls (default 10,000)")
    parser.add_argument("--balance-history", type=int, default=50_000, help="part 4: the day's calls")
    parser.add_argument("--balance-seconds", type=float, default=60.0, help="part 4: seconds of /balance per mode")
    parser.add_argument("--balance-poll", type=float, default=10.0, help="part 4: the new mode's POLL_INTERVAL")
    parser.add_argument("--balance-pace", type=float, default=BALANCE_PACE, help="part 4: seconds between a reply and"
                        " the next /balance (default 0.25)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=1, help="the arrival script's seed (default 1)")
    parser.add_argument("--profile", action="store_true", help="cProfile the bot in part 4's new mode (stderr)")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # one mode, in this process, JSON out
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(asyncio.run(run_mode(json.loads(args.child)))))
        return
    if args.quick:
        args.minutes, args.balance_history, args.balance_seconds = 0.5, 10_000, 15.0
    modes = [name.strip() for name in args.modes.split(",") if name.strip()]
    tail = 10.0 if args.quick else 120.0
    common = {"seed": args.seed, "gap": args.gap, "tail": tail, "balance_poll": args.balance_poll,
              "balance_pace": args.balance_pace}  # fmt: skip
    print("Live watch vs the old 15-s full poll; the real bot, the fake Bot API in its process, the sandbox in its own")
    print(f"  new: {MODES['new'].describe()} (the defaults); old: {MODES['old'].describe()} (the 15-s full poll)")
    print(
        f"  targets: traffic old/new ≥ ×{TARGETS['ratio']:g}; alerts p50 ≤ {TARGETS['alert_p50']:g} s, max ≤"
        f" LIVE_INTERVAL + 1 s (seen ringing), ≤ POLL_INTERVAL + 1 s (short rings); cards ≤ LIVE_INTERVAL + 0.5 s;"
        f" /balance p99 ≤ {TARGETS['balance_p99_ms']:g} ms at {args.balance_history:,} calls"
    )
    if args.part in ("all", "watch"):
        spec = {**common, "part": "watch", "history": args.history, "window": args.minutes * 60}
        runs = {mode: in_subprocess({**spec, "mode": mode}) for mode in modes}
        report_traffic(runs, spec)
        report_alerts(runs)
        report_cards(runs)
        report_complaints(runs, "parts 1-3")
        sys.stdout.flush()
    if args.part in ("all", "balance"):
        spec = {**common, "part": "balance", "history": args.balance_history, "window": args.balance_seconds}
        balance = {
            mode: in_subprocess({**spec, "mode": mode, "profile": args.profile and mode == "new"}) for mode in modes
        }
        report_balance(balance, args.balance_seconds, args.balance_pace)
        report_complaints(balance, "part 4")


if __name__ == "__main__":
    main()
