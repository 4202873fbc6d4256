"""A small company's last two weeks of calls, seeded into a fresh archive, and its report as the bot sends it:
writes the chart (the README's picture, ``docs/report.png``) and prints the caption and how long the query and the
chart took.

The company: six members, ~140 inbound calls on a weekday (fewer at the weekend, most between 10 and 18), ~12%
missed; most misses called back within the hour, some customers get through by themselves, a few are lost.

Usage: python bench/sample_report.py [--out docs/report.png] [--days 7] [--lang ru] [--seed 4]
(a month's report on a big archive is measured by bench/archive.py)
"""

from __future__ import annotations

import argparse
import html
import math
import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.reports import chart
from bot.reports.caption import caption, period_label
from bot.reports.figures import gather
from bot.texts import Texts
from storage import CallRecord, Storage, reports

ZONE = ZoneInfo("Europe/Moscow")
COMPANY = ["74955325585", "78005553535"]
MEMBERS = [("101", "Васильева Т."), ("102", "Попов И."), ("103", "Смирнова А."), ("104", "Кузнецов Д."),
           ("105", "Орлова Е."), ("106", "Никитин С.")]  # fmt: skip
HOURLY = [0, 0, 0, 0, 0, 0, 0, 1, 3, 7, 10, 11, 10, 8, 9, 10, 10, 9, 7, 4, 2, 1, 1, 0]  # inbound calls by hour


class Company:
    """Calls made up the way a small sales office takes them, in the order they start."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.regulars = [f"79{rng.randrange(10**9):09d}" for _ in range(600)]
        self.calls: list[CallRecord] = []

    def customer(self) -> str:
        rng = self.rng
        return rng.choice(self.regulars) if rng.random() < 0.6 else f"79{rng.randrange(10**9):09d}"

    def add(self, direction: str, customer: str, start: int, answered: bool, member: tuple[str, str] | None) -> None:
        rng = self.rng
        ring = rng.randrange(4, 30) if answered else rng.randrange(15, 60)
        talk = int(rng.lognormvariate(4.6, 0.9)) + 10 if answered else 0
        line = rng.choice(COMPANY)
        clid, dnid = (customer, line) if direction == "in" else (line, customer)
        answered_at = start + ring if answered else None
        self.calls.append(
            CallRecord(
                f"{len(self.calls) + 1:040x}", direction, clid, dnid, "answered" if answered else "no answer", False,
                start, answered_at, start + ring + talk, member[0] if member else None, member[1] if member else None,
            )
        )  # fmt: skip

    def day(self, day: date, until: int) -> None:
        rng = self.rng
        weekend = day.weekday() >= 5
        for hour, weight in enumerate(HOURLY):
            opens = int(datetime.combine(day, datetime.min.time(), ZONE).timestamp()) + hour * 3600
            for _ in range(_poisson(rng, weight * (0.3 if weekend else 1.0) * 1.25)):
                start = opens + rng.randrange(3600)
                if start >= until:
                    continue
                customer = self.customer()
                if rng.random() > 0.12:
                    self.add("in", customer, start, True, rng.choice(MEMBERS))
                    continue
                self.add("in", customer, start, False, None)
                self.after_a_miss(customer, start, until)
            for _ in range(_poisson(rng, weight * (0.3 if weekend else 1.0) * 0.5)):  # the office's own calls
                start = opens + rng.randrange(3600)
                if start < until:
                    self.add("out", self.customer(), start, rng.random() < 0.7, rng.choice(MEMBERS))

    def after_a_miss(self, customer: str, missed: int, until: int) -> None:
        rng, fate = self.rng, self.rng.random()
        later = missed + 60 + int(rng.expovariate(1 / 1500))
        if later >= until or fate < 0.08:
            return  # lost: nobody called back, they never called again
        if fate < 0.62:
            self.add("out", customer, later, True, rng.choice(MEMBERS))  # called back
        elif fate < 0.82:
            self.add("in", customer, later, True, rng.choice(MEMBERS))  # got through by themselves
        else:
            self.add("out", customer, later, False, rng.choice(MEMBERS))  # a callback nobody answered


def _poisson(rng: random.Random, mean: float) -> int:
    threshold, count, product = math.exp(-mean), 0, rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count


def seed(path: Path, days: int, rng: random.Random) -> tuple[int, int]:
    """Two weeks of calls up to now into the archive at ``path``; returns the report's period: the ``days`` whole
    days up to yesterday."""
    now = int(time.time())
    today = datetime.now(ZONE).date()
    company = Company(rng)
    for back in range(14, -1, -1):
        company.day(today - timedelta(days=back), now)
    calls = sorted(company.calls, key=lambda c: c.started_at)
    with Storage.open(path) as storage:
        for first in range(0, len(calls), 500):
            storage.calls.ingest(calls[first : first + 500], now=now)
        for call in calls:
            if call.member is not None and call.member_name is not None:
                storage.calls.set_who(call.vpbx_id, call.member, call.member_name)
        storage.contacts.apply([(number, f"Клиент {n}") for n, number in enumerate(company.regulars[:200])], None, now)
    start = int(datetime.combine(today - timedelta(days=days), datetime.min.time(), ZONE).timestamp())
    return start, int(datetime.combine(today, datetime.min.time(), ZONE).timestamp())


def report(path: Path, start: int, end: int, texts: Texts, out: Path) -> None:
    began = time.perf_counter()
    with reports.reading(path) as conn:
        figures = gather(conn, start, end, ZONE)
    queried = time.perf_counter()
    label = period_label(figures.start, figures.end)
    png = chart.render(figures, texts, html.unescape(texts("chart_title", period=label)))
    drawn = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(png)
    shown = html.unescape(caption(figures, texts, texts("report_title", period=label)))
    print(shown.replace("<b>", "").replace("</b>", ""))
    took = f"query {(queried - began) * 1000:.0f} ms, chart {(drawn - queried) * 1000:.0f} ms"
    print(f"\n{figures.inbound + figures.outbound:,} calls: {took} (the first chart imports matplotlib); {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/report.png"))
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--lang", default="ru")
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sample-report-") as tmp:
        path = Path(tmp) / "bot.db"
        start, end = seed(path, args.days, random.Random(args.seed))
        report(path, start, end, Texts(args.lang), args.out)


if __name__ == "__main__":
    print(f"(as of {datetime.now(UTC).astimezone(ZONE):%d.%m.%Y %H:%M} Moscow time)")
    main()
