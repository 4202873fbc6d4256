"""The report's new figures, /lost and the weekly digest's lost customers, end to end over a small seeded history
whose every figure is worked out by hand here."""

from __future__ import annotations

import math
import random
import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.alerts import digest
from bot.alerts.hours import parse
from bot.reports.figures import within
from storage import CallRecord
from tests.bot.conftest import GROUP, MANAGER, STRANGER, World, WorldFactory
from tests.conftest import at_noon

ZONE = ZoneInfo("Europe/Moscow")  # the tests' settings
COMPANY = "74955325585"
A, B, C, D, E, F, G, H = (f"791600000{n:02d}" for n in range(1, 9))
POPOV, SMIRNOVA, KUZNETSOV = ("101", "Попов"), ("102", "Смирнова"), ("103", "Кузнецов")


def midnight(day: date) -> int:
    return int(datetime.combine(day, datetime.min.time(), ZONE).timestamp())


class History:
    """A day of calls, three days ago (New-Tel has long forgotten them), each outcome of a missed call in it."""

    def __init__(self) -> None:
        self.day = datetime.now(ZONE).date() - timedelta(days=3)
        self.base = midnight(self.day) + 10 * 3600  # 10:00
        self.calls: list[CallRecord] = []

    def miss(self, customer: str, at: int, ring: int = 20) -> None:
        start = self.base + at
        self._add("in", customer, "no answer", start, None, start + ring, None)

    def answered(self, direction: str, customer: str, at: int, member: tuple[str, str] | None) -> None:
        start = self.base + at
        self._add(direction, customer, "answered", start, start + 5, start + 65, member)  # 1:00 of talk

    def unanswered_callback(self, customer: str, at: int) -> None:
        start = self.base + at
        self._add("out", customer, "no answer", start, None, start + 30, None)

    def _add(
        self,
        direction: str,
        customer: str,
        status: str,
        start: int,
        answer: int | None,
        end: int,
        member: tuple[str, str] | None,
    ) -> None:
        clid, dnid = (customer, COMPANY) if direction == "in" else (COMPANY, customer)
        self.calls.append(
            CallRecord(
                f"{len(self.calls) + 1:040x}", direction, clid, dnid, status, False, start, answer, end,
                member[0] if member else None, member[1] if member else None,
            )
        )  # fmt: skip

    def when(self, at: int) -> str:
        return datetime.fromtimestamp(self.base + at, ZONE).strftime("%d.%m %H:%M")


def seeded() -> History:
    h = History()
    h.miss(A, 0)  # ends at 0:20; called back at 2:20 by Попов: 2 min
    h.answered("out", A, 140, POPOV)
    h.miss(B, 100, ring=30)  # two misses, the first ends at 2:10; called back at 12:10 by Попов: 10 min
    h.miss(B, 300)
    h.answered("out", B, 730, POPOV)
    h.miss(C, 1000)  # ends at 17:00; called back 40 min later by Смирнова: past the deadline
    h.answered("out", C, 3420, SMIRNOVA)
    h.miss(D, 2000)  # got through on their own later: answered later
    h.answered("in", D, 2500, KUZNETSOV)
    for at in (3000, 3600, 4200):  # three tries, nothing since: lost
        h.miss(E, at)
    h.miss(F, 5000)  # lost; the book knows them
    h.miss(G, 6000, ring=3)  # lost, and a short ring
    h.miss(H, 7000)  # a callback nobody answered: unresolved
    h.unanswered_callback(H, 7100)
    return h


def archive(world: World, history: History) -> None:
    storage = world.services.storage
    storage.calls.ingest(history.calls, now=int(time.time()))
    for call in history.calls:
        if call.member is not None and call.member_name is not None:
            storage.calls.set_who(call.vpbx_id, call.member, call.member_name)
    storage.contacts.set(F, "Петров Пётр", by=None, now=1)


async def test_the_report_gains_p90_the_share_within_the_deadline_who_called_back_and_short_rings(
    make_world: WorldFactory,
) -> None:
    async with make_world(short_ring_seconds=5) as world:
        world.make_manager()
        history = seeded()
        archive(world, history)
        world.tg.send_text(MANAGER, f"/report {history.day:%d.%m}")
        sent = await world.tg.wait_for("sendPhoto", chat_id=MANAGER, ok=True, timeout=20)
        assert sent.result["caption"].split("\n") == [
            f"📊 Звонки за {history.day:%d.%m.%Y}",
            "Входящие 12 · приняты 1 · пропущены 11 (92%) от 8 клиентов · коротких, меньше 5 с: 1",
            "Перезвонили 3 (медиана 10 мин, 9 из 10 — за 40 мин), ответили позже 1, потеряны 3, не дозвонились 1",
            "В срок (15 мин) перезвонили 2 из 8 (25%)",
            "Кто перезвонил: Попов 2, Смирнова 1",
            "Исходящие 4 · разговоры 4:00",
            "",
            "Попов: принято 0, исходящих 2, 2:00",
            "Кузнецов: принято 1, исходящих 0, 1:00",
            "Смирнова: принято 0, исходящих 1, 1:00",
            "неизвестно кто: принято 0, исходящих 1, 0:00",
        ]


@at_noon  # the bot's "вчера" and the test's are the same day
async def test_lost_lists_whom_nobody_returned_and_who_never_called_again_most_attempts_first(
    world: World,
) -> None:
    world.make_manager()
    history = seeded()
    archive(world, history)
    expected = [
        f"🕳 Потерянные за {history.day:%d.%m.%Y}: 3",
        "Срок перезвона (15 мин) прошёл, а никто не перезвонил, и клиент больше не звонил. Больше попыток — выше.",
        f"1. +7 916 000-00-05 — пропущено 3, последний {history.when(4200)}",
        f"2. +7 916 000-00-07 — пропущено 1, последний {history.when(6000)}",  # the more recent first
        f"3. +7 916 000-00-06 · Петров Пётр — пропущено 1, последний {history.when(5000)}",
    ]
    assert (await world.ask(MANAGER, f"/lost {history.day:%d.%m}")).split("\n") == expected
    reply = (await world.ask(MANAGER, "/lost")).split("\n")  # the past 7 days by default
    assert reply[0].startswith("🕳 Потерянные за ") and reply[0].endswith(": 3") and reply[1:] == expected[1:]
    yesterday = datetime.now(ZONE).date() - timedelta(days=1)
    assert await world.ask(MANAGER, "/lost вчера") == f"✅ Потерянных за {yesterday:%d.%m.%Y} нет."
    assert await world.ask(MANAGER, "/lost 31.02") == (
        "Такого периода нет: «31.02». Например: сегодня, вчера, 7д, 28.11, 25.11–28.11 или 28.11.2025."
    )
    assert (await world.ask(STRANGER, "/lost")).startswith("Извините, этот бот работает только для сотрудников")


async def test_a_long_lost_list_is_cut_under_telegrams_limit(world: World) -> None:
    world.make_manager()
    history = History()
    for n in range(300):
        history.miss(f"7926{n:07d}", 60 * n)
    archive(world, history)
    text = await world.ask(MANAGER, f"/lost {history.day:%d.%m}")
    lines = text.split("\n")
    assert len(text.encode("utf-16-le")) // 2 <= 4096
    assert lines[0] == f"🕳 Потерянные за {history.day:%d.%m.%Y}: 300"
    named = [line for line in lines if line.split(".")[0].isdigit()]
    assert named[0].startswith("1. +7 926 000-02-99 — ")  # one try each: the most recent first
    assert lines[-1] == f"…и ещё {300 - len(named)}" and 0 < len(named) < 300
    assert len(text) + len(named[-1]) > 4000  # as many as fit: one more would not


async def test_the_weekly_digest_names_the_lost_customers_and_the_daily_one_does_not(world: World) -> None:
    svc = world.services
    svc.storage.chats.subscribe(GROUP, "Sales", [], False, now=1)
    history = seeded()
    archive(world, history)
    chat = svc.storage.chats.get(GROUP)
    assert chat is not None
    start = datetime.combine(history.day, datetime.min.time(), ZONE)
    monday = start + timedelta(days=7 - history.day.weekday(), hours=9)
    weekly = (await digest.prepare(svc, chat, monday, weekly=True)).caption.split("\n")
    assert "Потерянные: 3 — +7 916 000-00-05 ×3, +7 916 000-00-07 ×1, +7 916 000-00-06 Петров Пётр ×1" in weekly
    assert weekly.index("Кто перезвонил: Попов 2, Смирнова 1") + 1 == weekly.index(
        "Потерянные: 3 — +7 916 000-00-05 ×3, +7 916 000-00-07 ×1, +7 916 000-00-06 Петров Пётр ×1"
    )
    morning = start + timedelta(days=1, hours=9)
    daily = (await digest.prepare(svc, chat, morning)).caption
    assert "Перезвонили 3 (медиана 10 мин, 9 из 10 — за 40 мин)" in daily and "Потерянные" not in daily


async def test_a_subscribed_chat_is_measured_by_its_own_deadline_and_shortest_ring(make_world: WorldFactory) -> None:
    """Its digest and a /report asked in it count "in time" by its /sla and "short" by its min, not the company's."""
    async with make_world(short_ring_seconds=5) as world:
        svc = world.services
        world.make_manager()
        svc.storage.chats.subscribe(GROUP, "Sales", [], False, now=1, min_ring=25)
        svc.storage.chats.set_sla(GROUP, 45, now=1)
        history = seeded()
        archive(world, history)
        ours = [
            "Входящие 12 · приняты 1 · пропущены 11 (92%) от 8 клиентов · коротких, меньше 25 с: 10",
            "В срок (45 мин) перезвонили 3 из 8 (38%)",  # C's 40 minutes are in time now
        ]
        chat = svc.storage.chats.get(GROUP)
        assert chat is not None
        morning = datetime.combine(history.day, datetime.min.time(), ZONE) + timedelta(days=1, hours=9)
        daily = (await digest.prepare(svc, chat, morning)).caption.split("\n")
        assert all(line in daily for line in ours)
        world.tg.send_text(MANAGER, f"/report {history.day:%d.%m}", chat_id=GROUP)
        sent = await world.tg.wait_for("sendPhoto", chat_id=GROUP, ok=True, timeout=20)
        assert all(line in sent.result["caption"].split("\n") for line in ours)
        world.tg.send_text(MANAGER, f"/report {history.day:%d.%m}")  # in private: the company's
        sent = await world.tg.wait_for("sendPhoto", chat_id=MANAGER, ok=True, timeout=20)
        assert "В срок (15 мин) перезвонили 2 из 8 (25%)" in sent.result["caption"].split("\n")
        assert "коротких, меньше 5 с: 1" in sent.result["caption"]


async def test_a_chat_with_business_hours_counts_in_time_by_the_deadline_its_alerts_had(world: World) -> None:
    """The deadline is the first miss's end plus the SLA counted in the chat's /hours, as its alerts' deadline is:
    a miss just before closing called back soon after the next opening was in time. The time to call back stays
    what the customer waited on the clock, and /report in private (the company's standards, no hours) counts it
    late."""
    svc = world.services
    world.make_manager()
    svc.storage.chats.subscribe(GROUP, "Sales", [], False, now=1)  # the company's 15 minutes: no /sla of its own
    # What "/hours 09:00-19:00" stores (bot.alerts.hours.parse(...).to_json()): every day, so the day's weekday does
    # not matter; Moscow keeps no clock changes.
    svc.storage.chats.set_hours(GROUP, {"start": "09:00", "end": "19:00", "days": [0, 1, 2, 3, 4, 5, 6]}, now=1)
    history = seeded()  # all of it between 10:00 and 12:00, inside the hours: business time is the clock's there
    late_i, late_j = "79160000009", "79160000010"
    # I's miss ends at 18:50:20 (at 31820). Business time: 9:40 to the 19:00 closing, the 5:20 left of the 15 minutes
    # from 09:00 on: due 09:05:20 the next morning; called back at 09:05:00 (at 83100), in time. On the clock it waited
    # 83100 - 31820 = 51280 s (14 h 14 min 40 s).
    history.miss(late_i, 8 * 3600 + 50 * 60)
    history.answered("out", late_i, 23 * 3600 + 5 * 60, POPOV)
    # J's ends at 18:55:20 (at 32120): 4:40 to closing, 10:20 after the opening: due 09:10:20; called back at 09:12:00
    # (at 83520), late even so. On the clock: 83520 - 32120 = 51400 s.
    history.miss(late_j, 8 * 3600 + 55 * 60)
    history.answered("out", late_j, 23 * 3600 + 12 * 60, SMIRNOVA)
    archive(world, history)
    # The day: seeded()'s 12 inbound, 11 missed from 8 customers, plus two misses from two more: 14 inbound, 13
    # missed (93%) from 10; 10 episodes, called back 5: A 2 min, B 10 min, C 40 min, I and J the next morning
    # (their callbacks fall after the day, its outbound calls stay seeded()'s 4). Waits 120, 600, 2400, 51280,
    # 51400 s: the median the third, 40 min; p90 the ceil(0.9 * 5) = 5th, 51400 s = 856.7 min, 14 h 17 min.
    waits = "Перезвонили 5 (медиана 40 мин, 9 из 10 — за 14 ч 17 мин), ответили позже 1, потеряны 3, не дозвонились 1"
    who = "Кто перезвонил: Попов 3, Смирнова 2"
    # In business hours: A and B within 15 minutes on the clock (and so in business time too), I by 20 s: 3 of 10;
    # C's 40 minutes were all inside the hours, J 1:40 past its deadline.
    ours = [waits, "В срок (15 мин) перезвонили 3 из 10 (30%)", who]
    chat = svc.storage.chats.get(GROUP)
    assert chat is not None
    later = datetime.combine(history.day, datetime.min.time(), ZONE) + timedelta(days=1, hours=12)  # past 09:12
    daily = (await digest.prepare(svc, chat, later)).caption.split("\n")
    assert all(line in daily for line in ours), daily
    world.tg.send_text(MANAGER, f"/report {history.day:%d.%m}", chat_id=GROUP)  # asked in the chat: its standards
    sent = await world.tg.wait_for("sendPhoto", chat_id=GROUP, ok=True, timeout=20)
    assert all(line in sent.result["caption"].split("\n") for line in ours)
    world.tg.send_text(MANAGER, f"/report {history.day:%d.%m}")  # in private: 15 minutes on the clock, A and B only
    sent = await world.tg.wait_for("sendPhoto", chat_id=MANAGER, ok=True, timeout=20)
    lines = sent.result["caption"].split("\n")
    assert "Входящие 14 · приняты 1 · пропущены 13 (93%) от 10 клиентов" in lines[1]
    assert [waits, "В срок (15 мин) перезвонили 2 из 10 (20%)", who] == lines[2:5]


def test_in_time_in_business_hours_is_by_the_deadline_hours_add_gives() -> None:
    """``within`` lists the windows once instead of asking ``Hours.add`` per episode: the same answer, also at the
    edges (an end at closing, a callback at the deadline's second, weekends, hours to 24:00, a deadline of days)."""
    monday = midnight(date(2025, 3, 3))
    rng = random.Random(5)
    ends = [monday + 19 * 3600, monday + 19 * 3600 - 1, monday + 9 * 3600, monday + 4 * 86400 + 18 * 3600 + 59 * 60]
    ends += [monday + rng.randrange(14 * 86400) for _ in range(300)]
    for text in ("09:00-19:00 mon-fri", "00:00-24:00 sat", "9-18", "08:30-09:00 wed"):
        hours = parse(text)
        assert hours is not None
        for sla in (900, 3 * 3600, 2 * 86400):
            spans = []
            for ended in ends:
                due = math.ceil(hours.add(ended, sla, ZONE))
                spans += [(ended, due - ended), (ended, due - ended + 1), (ended, rng.randrange(sla + 1, 6 * 86400))]
            spans.sort()
            expected = sum(1 for ended, wait in spans if ended + wait <= math.ceil(hours.add(ended, sla, ZONE)))
            assert within(spans, sla, hours, ZONE) == expected, (text, sla)
            assert within(spans, sla, None, ZONE) == sum(1 for _, wait in spans if wait <= sla)


async def test_lost_in_a_group_lists_only_the_customers_of_its_numbers_as_its_report_counts_them(world: World) -> None:
    """A group subscribed to another company number hears of no one lost through this one: neither counted apart
    from its /report nor another department's customers shown to it."""
    world.make_manager()
    history = seeded()
    archive(world, history)
    world.services.storage.chats.subscribe(GROUP, "Sales", ["74950000000"], False, now=1)
    day = f"{history.day:%d.%m}"
    assert await world.ask(MANAGER, f"/lost {day}", chat_id=GROUP) == f"✅ Потерянных за {history.day:%d.%m.%Y} нет."
    assert (await world.ask(MANAGER, f"/lost {day}")).startswith(f"🕳 Потерянные за {history.day:%d.%m.%Y}: 3")
    world.services.storage.chats.subscribe(GROUP, "Sales", [COMPANY], False, now=2)
    assert (await world.ask(MANAGER, f"/lost {day}", chat_id=GROUP)).startswith(
        f"🕳 Потерянные за {history.day:%d.%m.%Y}: 3"
    )
