"""The archive's cost: on the poll, and as the memory of a busy company's 90 days.

1. The poll with the archive on, against the same poll with the archive's writes skipped (``Ingest.take`` answering
   "nothing changed" without touching SQLite), on a 24-hour history of 10,000 and 50,000 calls (the sandbox in a
   subprocess): bot-side CPU per steady poll, median of ``--reps``; and what a poll in which 200 calls changed
   (new, ended) adds. Targets: ratio ≤ 1.10, 200 changes ≤ +30 ms.
2. A synthetic archive of 1,000,000 calls over 90 days (150,000 customers, a few of them calling often; 20
   members; 20,000 names in the book), written as the ingest writes it: bytes per call on disk (≤ 300) and a
   customer's history, as ``/calls <number>`` and the caller's story ask it (≤ 20 ms), for the busiest customers
   and random ones.
3. On that archive, a month's report: the query (≤ 300 ms) and the chart (≤ 700 ms); a month's export streamed to
   an .xlsx from a fresh process as the bot runs it (in a process of its own, which a worker thread waits for):
   how long it takes (≤ 20 s, the export's process starting included), the RSS growth of the process asking
   (≤ 60 MB) and the export process's peak (≤ 120 MB: an interpreter and its imports, ~55 MB, and what the export
   holds), and the event loop's longest stall meanwhile (≤ 50 ms).
4. The real bot on that archive (the sandbox in a subprocess, the fake Bot API): a manager sends ``/balance`` at a
   person's pace (one every ``BALANCE_PACE``, below ``NEWTEL_MAX_RPS``: each costs a New-Tel request), alone
   ("quiet": median ≤ 20 ms) and while an admin asks for a month's ``/report`` and then its ``/export`` (p99 ≤ 100 ms;
   the heavy work runs in worker threads and the export's own process). Each reply, known by its opening text, is
   split (``_newtel_timing``): before its New-Tel request, waiting for a turn in the request limit, on the wire,
   after; the limit's share of the slowest tenth and the slowest three are printed.
5. The real bot on that archive, after a month's ``/report``, sent a 20,000-row import that its admin confirms: the
   event loop's longest stall while the file is read and while it is applied, both in worker threads (≤ 50 ms).

Usage: python bench/archive.py [--sizes 10000,50000] [--reps 5] [--calls 1000000] [--skip-poll | --poll-only]
                              [--parts 2,3,4,5] [--archive PATH]

Exits 1 when part 4 misses a target.

``--archive PATH`` keeps the synthetic archive there (and what was built with it in ``PATH.json``) and takes it
from there on the next run: building a million calls takes minutes. ``--skip-poll --parts 3`` measures a month's
report and export alone.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _newtel_timing import Breakdown, breakdown, describe, noting_attempts, slowest
from _sandbox_process import sandbox_process
from poll_cycle import CHATS, DAY, archive, settings_for

from bot.calllog.story import STORY_DAYS
from bot.services import Services
from bot.watch.poller import Baseline, Poller
from newtel import Call
from storage import Storage

SIZES = (10_000, 50_000)
CHANGED = 200
MEMBERS = 20
TARGETS = {
    "ratio": 1.10,
    "changed_ms": 30.0,
    "bytes_per_call": 300,
    "history_ms": 20.0,
    "query_ms": 300.0,
    "chart_ms": 700.0,
    "export_s": 20.0,
    "export_mb": 60.0,
    "export_process_mb": 120.0,
    "export_stall_ms": 50.0,
    "balance_median_ms": 20.0,  # quiet
    "balance_p99_ms": 100.0,  # while a report and an export run
}
MONTH = 30 * DAY
ADMIN, MANAGER = 1_001, 2_002


# --- 1. the poll -------------------------------------------------------------------------------------------------
async def poll_cpu(poller: Poller, svc: Services, extra: list[Call] | None = None) -> tuple[float, float]:
    """Bot-side CPU milliseconds of one poll's work on the history: the whole (fetch, archive, alerts, callbacks) and
    the part after the fetch (what the archive adds or spares; the fetch's own noise left out). Each starts from a
    collected heap, so that a cyclic collection the previous poll left due does not land on one side only."""
    gc.collect()
    started = time.process_time()
    calls = await svc.newtel.vpbx.get_calls()
    fetched = time.process_time()
    if extra:
        calls = [*calls, *extra]
    now = int(time.time())
    svc.ingest.take(calls, now)
    poller.take_changes(now)
    await poller.resolve_callbacks(now)
    done = time.process_time()
    return (done - started) * 1000, (done - fetched) * 1000


def changed_calls(calls: list[Call], count: int, round_: int) -> list[Call]:
    """``count`` calls new to the archive and already over (a mix of answered and missed, as the history is)."""
    ended = [call for call in calls if not call.active][:count]
    return [dataclasses.replace(call, vpbx_id=f"{round_:08x}{n:032x}") for n, call in enumerate(ended)]


async def measure_poll(size: int, reps: int) -> dict[str, Any]:
    with sandbox_process(history=size) as sandbox, tempfile.TemporaryDirectory(prefix="archive-poll-") as tmp:
        svc = await Services.create(settings_for(sandbox, Path(tmp) / "bench.db"))
        try:
            now = int(time.time())
            main_number = (await svc.newtel.company.get_numbers()).external[0]
            svc.storage.chats.subscribe(CHATS[0], "Sales", [], False, now=now - 3 * DAY)
            svc.storage.chats.subscribe(CHATS[1], "Main line", [main_number], False, now=now - 3 * DAY)
            Baseline(svc.storage.kv).set(now - DAY - 3600, [], now=now)
            poller = Poller(svc)
            calls = await svc.background.vpbx.get_calls()
            archive(svc, calls, now)
            while svc.storage.calls.pending(1):
                poller.take_changes(now)
            # Interleaved, round by round, so that the machine's drift touches all three alike.
            on: list[tuple[float, float]] = []
            off: list[tuple[float, float]] = []
            changed: list[tuple[float, float]] = []
            take = svc.ingest.take
            for round_ in range(reps):
                on.append(await poll_cpu(poller, svc))
                changed.append(await poll_cpu(poller, svc, changed_calls(calls, CHANGED, round_ + 1)))
                on.append(await poll_cpu(poller, svc))  # the changed calls are archived now: a steady poll again
                svc.ingest.take = lambda calls, now: []  # type: ignore[method-assign]  # the archive's writes skipped
                off.append(await poll_cpu(poller, svc))
                svc.ingest.take = take  # type: ignore[method-assign]
        finally:
            await svc.close()

    def median(samples: list[tuple[float, float]], part: int) -> float:
        return statistics.median(sample[part] for sample in samples)

    return {
        "size": size,
        **{f"{name}": median(samples, 0) for name, samples in (("on", on), ("off", off), ("changed", changed))},
        **{f"{name}_after": median(samples, 1) for name, samples in (("on", on), ("off", off), ("changed", changed))},
    }


def report_poll(results: list[dict[str, Any]], reps: int) -> None:
    print(f"1. Poll, bot-side CPU per poll (median of {reps} interleaved rounds; sandbox in a subprocess; 2 chats)")
    columns = f"{'calls':>8} {'archive on':>11} {'writes off':>11} {'ratio':>6}"
    print(f"{columns}   after the fetch: on / off / {CHANGED} changed")
    for r in results:
        ratio, adds = r["on"] / r["off"], r["changed_after"] - r["on_after"]
        after = f"{r['on_after']:.1f} / {r['off_after']:.1f} / {r['changed_after']:.1f} ms ({adds:+.1f} ms)"
        print(f"{r['size']:>8,} {r['on']:9.1f}ms {r['off']:9.1f}ms {ratio:6.2f}   {after}")
        verdict = "OK" if ratio <= TARGETS["ratio"] and adds <= TARGETS["changed_ms"] else "MISSED"
        limits = f"ratio ≤ {TARGETS['ratio']:.2f}, {CHANGED} changes ≤ +{TARGETS['changed_ms']:.0f} ms"
        print(f"   target: {limits}: {verdict}")


# --- 2. a synthetic archive --------------------------------------------------------------------------------------
def build_archive(path: Path, total: int, days: int = 90, seed: int = 7) -> dict[str, Any]:
    """``total`` calls over ``days`` into a fresh database, in the order they started (as the ingest appends them)."""
    rng = random.Random(seed)
    storage = Storage.open(path)
    db = storage.db
    now = int(time.time())
    start = now - days * DAY
    company = ["74955325585", "78005553535", "78126660011"]
    customers = [f"79{rng.randrange(10**9):09d}" for _ in range(150_000)]
    weights = [1 / (rank + 1) ** 0.8 for rank in range(len(customers))]  # a few call often, most once or twice
    members = [(str(100 + n), f"Сотрудник {n:02d}") for n in range(MEMBERS)]
    with db.conn:
        db.conn.executemany("INSERT INTO members_seen (internal, name) VALUES (?, ?)", members)
    moments = sorted(rng.randrange(start, now - 3600) for _ in range(total))
    who = rng.choices(customers, weights=weights, k=total)
    rows = []
    for n, (started, customer) in enumerate(zip(moments, who, strict=True)):
        inbound = rng.random() < 0.7
        answered = rng.random() < (0.85 if inbound else 0.6)
        ring = rng.randrange(3, 40)
        talk = rng.randrange(10, 600) if answered else 0
        line = company[n % 3]
        clid, dnid = (customer, line) if inbound else (line, customer)
        answered_at = started + ring if answered else None
        ended = started + ring + talk
        member = rng.randrange(1, MEMBERS + 1) if answered or not inbound else None
        rows.append(
            (f"{n:040x}", "in" if inbound else "out", clid, dnid, "answered" if answered else "no answer", 0,
             started, answered_at, ended, member, ended + 5)
        )  # fmt: skip
        if len(rows) == 50_000:
            _insert(db, rows)
            rows = []
    _insert(db, rows)
    names = rng.sample(customers, 20_000)
    storage.contacts.apply([(number, f"Клиент {n}") for n, number in enumerate(names)], by=None, now=now)
    storage.close()
    busiest = _busiest(path)
    return {"customers": customers, "busiest": busiest, "start": start, "now": now}


def _insert(db: Any, rows: list[tuple[Any, ...]]) -> None:
    with db.conn:
        db.conn.executemany(
            "INSERT INTO calls (vpbx_id, direction, clid, dnid, status, active, started_at, answered_at, ended_at,"
            " member_id, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def _busiest(path: Path) -> list[str]:
    with Storage.open(path) as storage:
        rows = storage.db.execute("SELECT customer FROM calls GROUP BY customer ORDER BY count(*) DESC LIMIT 5")
        return [row[0] for row in rows]


def measure_history(path: Path, built: dict[str, Any], samples: int = 200) -> dict[str, Any]:
    rng = random.Random(11)
    timings: dict[str, list[float]] = {"busiest": [], "random": []}
    with Storage.open(path) as storage:
        for kind, numbers in (("busiest", built["busiest"] * 20), ("random", rng.sample(built["customers"], samples))):
            for number in numbers:
                started = time.perf_counter()
                storage.calls.find(number=number, limit=1_000)  # /calls <number>: the whole history
                # The caller's story: what bot.calllog.story asks of the archive.
                storage.calls.customer(number, since=built["now"] - STORY_DAYS * 86_400, before=built["now"])
                storage.contacts.names([number])
                timings[kind].append((time.perf_counter() - started) * 1000)
        calls = storage.calls.count()
        pages = storage.db.execute("PRAGMA page_count").fetchone()[0]
        size = pages * storage.db.execute("PRAGMA page_size").fetchone()[0]
        busiest_calls = len(storage.calls.find(number=built["busiest"][0], limit=100_000))
    return {
        "calls": calls,
        "bytes": size,
        "busiest_calls": busiest_calls,
        **{f"{kind}_p50": statistics.median(t) for kind, t in timings.items()},
        **{f"{kind}_max": max(t) for kind, t in timings.items()},
    }


def report_history(result: dict[str, Any]) -> None:
    per_call = result["bytes"] / result["calls"]
    print(f"\n2. A synthetic archive: {result['calls']:,} calls over 90 days")
    target = TARGETS["bytes_per_call"]
    print(f"   on disk: {result['bytes'] / 2**20:.1f} MB, {per_call:.0f} bytes per call (target ≤ {target})")
    print(
        f"   a customer's history (/calls <number>, whole, and the caller's story): busiest customer"
        f" ({result['busiest_calls']:,} calls) p50 {result['busiest_p50']:.1f} ms, max {result['busiest_max']:.1f} ms;"
        f" random customers p50 {result['random_p50']:.2f} ms, max {result['random_max']:.2f} ms"
        f" (target ≤ {TARGETS['history_ms']:.0f} ms)"
    )
    ok = per_call <= TARGETS["bytes_per_call"] and result["busiest_max"] <= TARGETS["history_ms"]
    print(f"   verdict: {'OK' if ok else 'MISSED'}")


# --- 3. a month's report and export ------------------------------------------------------------------------------
def measure_report(path: Path, now: int) -> dict[str, Any]:
    from bot.alerts.hours import parse
    from bot.reports import chart, figures
    from bot.texts import Texts
    from storage import reports

    zone = settings_zone()
    start, end = now - MONTH, now
    queries, in_hours, charts = [], [], []
    # As a subscribed chat's digest asks it: its deadline (15 min) counted in its business hours.
    office = parse("09:00-19:00 пн-пт")
    for _ in range(3):
        started = time.perf_counter()
        with reports.reading(path) as conn:
            found = figures.gather(conn, start, end, zone, deadline_seconds=900)
        queries.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        with reports.reading(path) as conn:
            figures.gather(conn, start, end, zone, deadline_seconds=900, hours=office)
        in_hours.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        png = chart.render(found, Texts("ru"), "Отчёт за 30 дней")
        charts.append((time.perf_counter() - started) * 1000)
    # Run from -c, not as this file: the export's own process (spawned) imports its parent's main file, which the
    # bot's (python -m bot) is not; this whole benchmark would make it start slower and bigger than the bot's.
    here = str(Path(__file__).resolve().parent)
    code = (
        f"import json, pathlib, sys; sys.path.insert(0, {here!r}); import archive; "
        f"print(json.dumps(archive.child_export(pathlib.Path({str(path)!r}), {start}, {end})))"
    )
    command = [sys.executable, "-c", code]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    exported = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "inbound": found.inbound,
        "png_bytes": len(png),
        "query_ms": statistics.median(queries),
        "query_hours_ms": statistics.median(in_hours),
        "chart_first_ms": charts[0],
        "chart_ms": statistics.median(charts[1:]),
        **exported,
    }


def settings_zone() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("Europe/Moscow")


def child_export(path: Path, start: int, end: int) -> dict[str, Any]:
    """A month's export from this fresh process as the bot runs it (a worker thread waiting on the export's own
    process), while the event loop ticks every millisecond: the loop's longest stall is what the export costs
    everyone else (beside the same ticking with nothing else running, for this machine's own); the RSS, sampled at
    each tick here and the export process's peak, how much memory it takes."""
    from bot.reports import export
    from bot.texts import Texts

    texts = Texts("ru")
    progress = export.Progress()

    def work(target: Path) -> int:
        return export.write_in_process(path, start, end, settings_zone(), texts, target, progress=progress)

    async def ticking(job: asyncio.Future[Any]) -> tuple[float, float]:
        """The longest gap between two ticks, and the highest RSS, until ``job`` is done."""
        stall, rss, last = 0.0, 0.0, time.perf_counter()
        while not job.done():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            stall, rss, last = max(stall, now - last), max(rss, resident_mb()), now
        return stall, rss

    async def exported(target: Path) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        idle, _ = await ticking(asyncio.ensure_future(asyncio.sleep(5)))
        before = resident_mb()
        started, cpu = time.perf_counter(), cpu_seconds()
        job = loop.run_in_executor(None, work, target)
        stall, rss = await ticking(job)
        return {
            "export_rows": await job,
            "export_s": time.perf_counter() - started,
            "export_cpu_s": cpu_seconds() - cpu,
            "export_rss_before": before,
            "export_rss_growth": rss - before,
            "export_process_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            "export_stall_ms": stall * 1000,
            "idle_stall_ms": idle * 1000,
        }

    with tempfile.TemporaryDirectory(prefix="export-") as tmp:
        target = Path(tmp) / "calls.xlsx"
        return {**asyncio.run(exported(target)), "export_mb_file": target.stat().st_size / 2**20}


def cpu_seconds() -> float:
    """The CPU time of this process and of the children it waited for (the export's own process)."""
    return sum(
        usage.ru_utime + usage.ru_stime
        for usage in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
    )


def resident_mb() -> float:
    """This process's resident memory now (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


def report_report(result: dict[str, Any]) -> None:
    print(f"\n3. A month's report and export on that archive ({result['inbound']:,} inbound calls in the month)")
    print(
        f"   query {result['query_ms']:.0f} ms, with a chat's business hours {result['query_hours_ms']:.0f} ms"
        f" (target ≤ {TARGETS['query_ms']:.0f}); chart {result['chart_ms']:.0f} ms"
        f" (first, with matplotlib's import: {result['chart_first_ms']:.0f} ms; target ≤ {TARGETS['chart_ms']:.0f});"
        f" PNG {result['png_bytes'] / 1024:.0f} KB"
    )
    print(
        f"   export: {result['export_rows']:,} rows in {result['export_s']:.1f} s"
        f" ({result['export_cpu_s']:.1f} s CPU; {result['export_rows'] / result['export_s']:,.0f} rows/s;"
        f" target ≤ {TARGETS['export_s']:.0f} s), {result['export_mb_file']:.1f} MB file,"
        f" peak RSS growth {result['export_rss_growth']:.1f} MB past the process's {result['export_rss_before']:.0f} MB"
        f" (target ≤ {TARGETS['export_mb']:.0f}), the export's own process {result['export_process_mb']:.0f} MB at"
        f" its peak (target ≤ {TARGETS['export_process_mb']:.0f}); the loop's longest stall meanwhile"
        f" {result['export_stall_ms']:.1f} ms (target ≤ {TARGETS['export_stall_ms']:.0f};"
        f" {result['idle_stall_ms']:.1f} ms in 5 s with nothing running)"
    )
    ok = (
        max(result["query_ms"], result["query_hours_ms"]) <= TARGETS["query_ms"]
        and result["chart_ms"] <= TARGETS["chart_ms"]
        and result["export_s"] <= TARGETS["export_s"]
        and result["export_rss_growth"] <= TARGETS["export_mb"]
        and result["export_process_mb"] <= TARGETS["export_process_mb"]
        and result["export_stall_ms"] <= TARGETS["export_stall_ms"]
    )
    print(f"   verdict: {'OK' if ok else 'MISSED'}")


# --- 4. other users while a report and an export run ---------------------------------------------------------------
# A person's pace: a /balance every quarter second, below NEWTEL_MAX_RPS (10). Every 50 ms (20 a second), as before,
# measured the request limit's own queue (a person asking faster than New-Tel may be asked), not the bot.
BALANCE_PACE = 0.25
QUIET, WARMUP = 40, 10


async def measure_while_heavy(path: Path) -> dict[str, Any]:
    from bot.app import build_application, running
    from localchat import FakeBotAPI
    from localchat.settings import TOKEN, local_settings

    with sandbox_process() as sandbox, noting_attempts() as attempts:
        async with FakeBotAPI(TOKEN) as tg:
            settings = local_settings(
                sandbox, tg, path, poll_interval=3600, log_level="WARNING", admin_ids=[ADMIN]
            )  # commands only
            app = build_application(settings)
            async with running(app) as svc:
                members = await svc.newtel.company.get_members()
                svc.storage.users.allow_member(MANAGER, "manager", members[1], now=int(time.time()))
                tg.send_text(ADMIN, "/start")
                await tg.wait_for("sendMessage", chat_id=ADMIN, ok=True, timeout=30)
                await balances(tg, WARMUP)
                quiet = await balances(tg, QUIET)
                heavy: list[tuple[float, float]] = []
                done = asyncio.Event()

                async def keep_asking() -> None:
                    while not done.is_set():
                        heavy.extend(await balances(tg, 1))

                asker = asyncio.create_task(keep_asking())
                started = time.monotonic()
                tg.send_text(ADMIN, "/report 30d", chat_id=ADMIN)
                await tg.wait_for("sendPhoto", chat_id=ADMIN, ok=True, timeout=120)
                report_s = time.monotonic() - started
                started = time.monotonic()
                tg.send_text(ADMIN, "/export 30d", chat_id=ADMIN)
                await tg.wait_for("sendDocument", chat_id=ADMIN, ok=True, timeout=300)
                export_s = time.monotonic() - started
                done.set()
                await asker
                limit = svc.settings.newtel_max_rps
    # /balance's own requests: the admin's commands may ask New-Tel too, as a person.
    asked = [a for a in attempts if a.method == "company/get-state"]
    return {
        "quiet": [breakdown(*trip, asked) for trip in quiet],
        "heavy": [breakdown(*trip, asked) for trip in heavy],
        "report_s": report_s,
        "export_s": export_s,
        "limit": limit,
    }


def is_balance(call: Any) -> bool:
    """The reply to /balance, by its opening text: a ringing card (the live watch) may reach the manager first."""
    from bot.texts import CATALOGS

    return str(call.params.get("text", "")).startswith(CATALOGS["ru"]["balance"].partition("{")[0])


async def balances(tg: Any, n: int) -> list[tuple[float, float]]:
    """``n`` /balance round trips, each started ``BALANCE_PACE`` after the one before: when each was sent and when
    its reply reached the fake Bot API (``time.monotonic()``)."""
    found = []
    for _ in range(n):
        started = time.monotonic()
        tg.send_text(MANAGER, "/balance")
        reply = await tg.wait_for("sendMessage", chat_id=MANAGER, ok=True, predicate=is_balance, timeout=30)
        found.append((started, reply.time))
        await asyncio.sleep(BALANCE_PACE - (time.monotonic() - started))  # pacing, not waiting for an event
    return found


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def report_while_heavy(result: dict[str, Any]) -> bool:
    """Prints the figures; True when both targets are met."""
    quiet: list[Breakdown] = result["quiet"]
    heavy: list[Breakdown] = result["heavy"]

    def figures(parts: list[Breakdown]) -> tuple[float, float, str]:
        values = [p.total * 1000 for p in parts]
        median, high = statistics.median(values), p99(values)
        return median, high, f"n={len(values)}, median {median:.1f} ms, p99 {high:.1f} ms, max {max(values):.1f} ms"

    pace = f"a /balance every {BALANCE_PACE * 1000:.0f} ms (a person's pace; NEWTEL_MAX_RPS {result['limit']:g})"
    print(f"\n4. /balance on that archive, {pace}")
    median, _, line = figures(quiet)
    quiet_ok = median <= TARGETS["balance_median_ms"]
    verdict = "OK" if quiet_ok else "MISSED"
    print(f"   quiet: {line}; target median ≤ {TARGETS['balance_median_ms']:.0f} ms: {verdict}")
    print(f"      {describe(quiet)}")
    _, high, line = figures(heavy)
    heavy_ok = high <= TARGETS["balance_p99_ms"]
    verdict = "OK" if heavy_ok else "MISSED"
    print(f"   while a month's /report ({result['report_s']:.1f} s) and /export ({result['export_s']:.1f} s) run:")
    print(f"      {line}; target p99 ≤ {TARGETS['balance_p99_ms']:.0f} ms: {verdict}")
    print(f"      {describe(heavy)}")
    print(f"      the slowest: {slowest(heavy)}")
    return quiet_ok and heavy_ok


# --- 5. an import's confirm --------------------------------------------------------------------------------------
IMPORT_ROWS = 20_000  # the import's limit
STALL_MS = 50.0  # the loop's longest stall while the import is read and while it is applied


class Stalls:
    """While open, a task ticks the event loop every millisecond: the longest gap between two ticks is the loop's
    longest stall; and the full garbage collections (generation 2) are timed, in whatever thread they ran, since they
    hold the interpreter (and so the loop) however "off the loop" their thread is."""

    def __init__(self) -> None:
        self.longest_ms, self.took_ms = 0.0, 0.0
        self.collections_ms: list[float] = []
        self._started = self._collecting = 0.0
        self._done = asyncio.Event()
        self._ticker: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Stalls:
        self._started = time.perf_counter()
        self._ticker = asyncio.create_task(self._tick())
        gc.callbacks.append(self._collected)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.took_ms = (time.perf_counter() - self._started) * 1000
        gc.callbacks.remove(self._collected)
        self._done.set()
        assert self._ticker is not None
        await self._ticker

    async def _tick(self) -> None:
        last = time.perf_counter()
        while not self._done.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            self.longest_ms, last = max(self.longest_ms, (now - last) * 1000), now

    def _collected(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._collecting = time.perf_counter()
        else:
            self.collections_ms.append((time.perf_counter() - self._collecting) * 1000)

    def __str__(self) -> str:
        full = self.collections_ms
        longest = f", the longest {max(full):.1f} ms" if full else ""
        return (
            f"{self.took_ms:.0f} ms; the loop's longest stall {self.longest_ms:.1f} ms;"
            f" full garbage collections: {len(full)}{longest}"
        )


async def measure_import(path: Path) -> dict[str, Any]:
    """The real bot on that archive, after a month's /report (as a working day leaves it: the chart's libraries
    loaded), is sent a 20,000-row import and its admin confirms it: the loop's longest stall while the file is read
    and previewed, and while the confirm applies it (both in worker threads), and the full collections meanwhile."""
    from bot.app import build_application, running
    from localchat import FakeBotAPI
    from localchat.settings import TOKEN, local_settings

    stamp = int(time.time())  # names of this run's own: a kept archive has the runs' before in its book
    rows = "\n".join(f"7999{n:07d};Импорт {n} {stamp}" for n in range(IMPORT_ROWS))
    with sandbox_process() as sandbox:
        async with FakeBotAPI(TOKEN) as tg:
            settings = local_settings(sandbox, tg, path, poll_interval=3600, log_level="WARNING", admin_ids=[ADMIN])
            async with running(build_application(settings)):
                async with Stalls() as report:  # the first chart: matplotlib is imported
                    tg.send_text(ADMIN, "/report 30d")
                    await tg.wait_for("sendPhoto", chat_id=ADMIN, ok=True, timeout=120)
                async with Stalls() as idle:  # this machine's own, for comparison
                    await asyncio.sleep(3)
                async with Stalls() as read:
                    tg.send_document(ADMIN, f"Телефон;Имя\n{rows}".encode(), "clients.csv", caption="/import")
                    preview = await tg.wait_for("sendMessage", chat_id=ADMIN, ok=True, timeout=60)
                async with Stalls() as confirm:
                    tg.press(ADMIN, (ADMIN, preview.result["message_id"]), button=0)  # Apply
                    applied = await tg.wait_for("editMessageText", chat_id=ADMIN, ok=True, timeout=60)
    assert f"{IMPORT_ROWS}" in applied.params["text"].replace("\u00a0", "").replace(" ", ""), applied.params["text"]
    return {"report": report, "idle": idle, "read": read, "confirm": confirm}


def report_import(result: dict[str, Any]) -> None:
    read, confirm = result["read"], result["confirm"]
    print(f"\n5. An import of {IMPORT_ROWS:,} rows sent to the bot on that archive, after a month's /report")
    print(f"   (the month's /report before it: {result['report']})")
    print(f"   read and previewed in {read}")
    print(f"   confirmed (applied in one transaction) in {confirm}")
    print(f"   (nothing running, {result['idle']})")
    ok = max(read.longest_ms, confirm.longest_ms) <= STALL_MS
    print(f"   target: the loop's longest stall ≤ {STALL_MS:.0f} ms: {'OK' if ok else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in SIZES))
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--skip-poll", action="store_true")
    parser.add_argument("--poll-only", action="store_true", help="only part 1")
    parser.add_argument("--parts", default="2,3,4,5", help="which of parts 2-5 to run on the archive")
    parser.add_argument("--archive", type=Path, help="keep the archive at this path and reuse it")
    parser.add_argument("--child-poll", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_poll is not None:
        print(json.dumps(asyncio.run(measure_poll(args.child_poll, args.reps))))
        return
    if not args.skip_poll:
        results = []
        for size in (int(s) for s in args.sizes.split(",")):
            command = [sys.executable, __file__, "--child-poll", str(size), "--reps", str(args.reps)]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        report_poll(results, args.reps)
    if args.poll_only:
        return
    parts = {int(part) for part in args.parts.split(",")}
    with tempfile.TemporaryDirectory(prefix="archive-") as tmp:
        path = args.archive or Path(tmp) / "archive.db"
        built = kept_archive(path, args.calls)
        if 2 in parts:
            report_history(measure_history(path, built))
        if 3 in parts:
            report_report(measure_report(path, built["now"]))
        missed = 4 in parts and not report_while_heavy(asyncio.run(measure_while_heavy(path)))
        if 5 in parts:
            report_import(asyncio.run(measure_import(path)))
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"   (this process's peak RSS so far: {rss:.0f} MB)")
    sys.exit(1 if missed else 0)


def kept_archive(path: Path, calls: int) -> dict[str, Any]:
    """The archive at ``path`` as ``build_archive`` left it (its facts in ``path.json``), built first if absent or
    of another size. Parts 4 and 5 write to it (a user, an import): a kept one has them from the runs before."""
    facts = path.with_name(path.name + ".json")
    if path.exists() and facts.exists():
        built: dict[str, Any] = json.loads(facts.read_text())
        if built.get("calls") == calls:
            print(f"\n(archive of {calls:,} calls taken from {path}, built {time.ctime(built['now'])})")
            return built
    path.unlink(missing_ok=True)
    started = time.perf_counter()
    built = {**build_archive(path, calls), "calls": calls}
    facts.write_text(json.dumps(built))
    print(f"\n(archive of {calls:,} calls built in {time.perf_counter() - started:.0f} s)")
    return built


if __name__ == "__main__":
    main()
