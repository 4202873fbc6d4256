"""``python -m localchat.screenshots [DIR]``: the Mini App's journal, customer card and open misses, as the demo's
admin sees them on a 390×844 phone (Debian's chromium, ``localchat.phone``), written to DIR (``docs/screenshots``).

The demo's company (the sandbox's seed 1: its members, a day of calls), the demo's people and team group, some
customers named in the book, one with a note, and three missed calls the poll alerted (with a callback deadline of
20 min; the colleague took one). Everything on loopback, as the demo runs.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp

from bot.app import build_application, running
from bot.miniapp.auth import init_data_for
from bot.services import Services
from localchat import FakeBotAPI
from localchat.demo import COLLEAGUE, DEMO_GROUP, DEMO_USER, GROUP_TITLE, demo_settings, free_port, prepare
from localchat.phone import Phone, chromium
from localchat.settings import TOKEN
from newtel.sandbox import Sandbox
from storage import Storage

NAMES = (
    "Смирнов Алексей", "ООО «Вектор», закупки", "Кузнецова Марина", "Соколов Дмитрий", "Морозова Елена",
    "ИП Волков", "Новикова Ольга", "Фёдоров Павел",
)  # fmt: skip
NOTE = "Просил(а) счёт на почту; перезванивать после 14:00."
MISSED = (("79161234567", 9), ("79857770102", 6), ("74956401122", 4))  # (customer, seconds it rings), from now
SLA_MINUTES = 20


def name_customers(svc: Services) -> str:
    """Names the day's most frequent customers (and the missed ones) in the book; returns the one with a note."""
    today = svc.storage.calls.find(start=int(time.time()) - 86_400, limit=1000)
    frequent = [number for number, _ in Counter(c.customer for c in today if len(c.customer) == 11).most_common()]
    named = [MISSED[0][0], *frequent][: len(NAMES)]
    now = int(time.time())
    for number, name in zip(named, NAMES, strict=False):
        svc.storage.contacts.set(number, name, by=DEMO_USER, now=now)
    return frequent[0]


async def shoot(out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="newtel-shots-") as tmp:
        database, port = Path(tmp) / "shots.db", free_port()
        base = f"http://127.0.0.1:{port}"
        async with Sandbox(seed=1, ring_seconds=0.05, talk_seconds=0.2) as sandbox, FakeBotAPI(TOKEN) as tg:
            prepare(database, sandbox, tg)
            with Storage.open(database) as storage:  # the group listens since long ago: a miss of a minute ago is news
                storage.chats.unsubscribe(DEMO_GROUP, now=1)
                storage.chats.subscribe(DEMO_GROUP, GROUP_TITLE, numbers=(), balance=True, now=1)
            fast = {"poll_interval": 0.3, "newtel_max_rps": 1000}  # the first poll asks "who" of every call of the day
            settings = demo_settings(sandbox, tg, database, port).model_copy(update=fast)
            application = build_application(settings)
            async with running(application) as svc, aiohttp.ClientSession() as http:
                poll = application.bot_data.need_poller()
                await poll.wait_cycles(1)  # the day so far is the baseline (and in the archive)
                tg.send_text(DEMO_USER, f"/sla {SLA_MINUTES}", chat_id=DEMO_GROUP)
                await tg.wait_for("sendMessage", chat_id=DEMO_GROUP, ok=True)
                now = sandbox.now()
                for customer, ago in MISSED:
                    sandbox.add_call(
                        direction="in", clid=customer, status="no answer", start=now - ago, end=now - ago + 20
                    )
                alerted = lambda c: c.params.get("text", "").startswith("📵")  # noqa: E731
                await tg.wait_for("sendMessage", chat_id=DEMO_GROUP, predicate=alerted, count=len(MISSED), timeout=30)
                regular = name_customers(svc)
                await act(http, base, COLLEAGUE, "PUT", f"customer/{regular}", {"name": NAMES[1], "note": NOTE})
                alerts = svc.storage.alerts.open_for(DEMO_GROUP)
                taken = next(a for a in alerts if a.clid == MISSED[1][0])
                await act(http, base, COLLEAGUE, "POST", f"misses/{taken.id}/take", {})
                with chromium() as phone:
                    await pictures(phone, f"{base}/app/", init_data_for(DEMO_USER, TOKEN, first_name="Анна"), out)


async def act(http: aiohttp.ClientSession, base: str, user: int, method: str, path: str, body: object) -> None:
    """What a user's page would ask the API (as the colleague, through the same rules)."""
    headers = {"Authorization": f"tma {init_data_for(user, TOKEN, first_name='Татьяна')}"}
    async with http.request(method, f"{base}/app/api/{path}", json=body, headers=headers) as answer:
        answer.raise_for_status()


async def pictures(phone: Phone, url: str, init_data: str, out: Path) -> None:
    await phone.open(url, init_data)
    await phone.shown("#journal-rows .call")
    await phone.screenshot(out / "journal.png")
    await phone.type("#journal-q", "ООО")
    await phone.until(lambda d: len(d.find_elements("css selector", "#journal-rows .call")) in range(1, 8))
    await phone.click("#journal-rows .call button")
    await phone.text("#card-title", "ООО")
    await phone.shown("#card-body audio")
    await phone.screenshot(out / "card.png")
    await phone.click("#card-back")
    await phone.click("#tab-misses")
    await phone.shown("#misses-list .miss")
    await phone.screenshot(out / "misses.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localchat.screenshots", description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=Path("docs/screenshots"))
    args = parser.parse_args(argv)
    logging.getLogger("apscheduler").setLevel(logging.ERROR)  # a fast poll's "skipped: still running" is expected
    asyncio.run(shoot(args.out))
    for name in ("journal", "card", "misses"):
        path = args.out / f"{name}.png"
        print(f"{path}: {path.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
