"""/report and the digests end to end: a history the sandbox has forgotten, seeded into the archive, comes back as a
PNG chart whose caption's figures are those worked out here, independently, from the seeded calls."""

from __future__ import annotations

import html
import random
import re
import statistics
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.alerts import digest
from bot.formatting import duration
from bot.reports.caption import caption
from bot.reports.figures import Figures, MemberFigures
from bot.texts import Texts
from localchat.fake_api import ApiCall
from storage import CallRecord
from tests.bot.conftest import ADMIN, GROUP, MANAGER, STRANGER, World, WorldFactory
from tests.conftest import at_noon

ZONE = ZoneInfo("Europe/Moscow")  # the tests' settings
PNG = b"\x89PNG\r\n\x1a\n"
COMPANY = "74955325585"
MEMBERS = [("101", "Попов"), ("102", "Смирнова"), ("103", "Кузнецов")]
CUSTOMERS = [f"7916{n:07d}" for n in range(1, 13)]
DEADLINE_MINUTES = 15  # ALERT_SLA_MINUTES' default: the report's "within the deadline"


@dataclass(frozen=True)
class Seeded:
    calls: list[CallRecord]  # with who answered or placed each (member_name), as the archive was told
    start: int  # the period, [start, end): two whole days, both past New-Tel's 24 hours
    end: int
    typed: str  # how a person types it: "26.11-27.11"


def midnight(day: date) -> int:
    return int(datetime.combine(day, datetime.min.time(), ZONE).timestamp())


def history(seed: int = 3, members: Sequence[tuple[str, str]] = MEMBERS) -> Seeded:
    """Two days of a small company's calls four and three days ago, and a day of calls after them (what became of
    the misses is decided past the period's end)."""
    rng = random.Random(seed)
    today = datetime.now(ZONE).date()
    first, after = today - timedelta(days=4), today - timedelta(days=2)
    calls = []
    moments = sorted(rng.randrange(midnight(first) + 8 * 3600, midnight(first) + 44 * 3600) for _ in range(110))
    moments += sorted(rng.randrange(midnight(after) + 9 * 3600, midnight(after) + 18 * 3600) for _ in range(30))
    for n, started in enumerate(moments):
        inbound = rng.random() < 0.65
        answered = rng.random() < (0.7 if inbound else 0.6)
        ring, talk = rng.randrange(5, 40), rng.randrange(20, 600)
        customer = rng.choice(CUSTOMERS)
        member = rng.choice([*members, None]) if answered or not inbound else None
        answered_at = started + ring if answered else None
        calls.append(
            CallRecord(
                vpbx_id=f"{n + 1:040x}",
                direction="in" if inbound else "out",
                clid=customer if inbound else COMPANY,
                dnid=COMPANY if inbound else customer,
                status="answered" if answered else "no answer",
                active=False,
                started_at=started,
                answered_at=answered_at,
                ended_at=(answered_at + talk) if answered_at else started + ring,
                member=member[0] if member else None,
                member_name=member[1] if member else None,
            )
        )
    # Callers who never got through: two nobody called back (lost), one whose callback nobody answered.
    for n, (customer, direction, hour) in enumerate(
        [("79169990001", "in", 11), ("79169990002", "in", 15), ("79169990003", "in", 12), ("79169990003", "out", 13)]
    ):
        started = midnight(first) + hour * 3600 + 17
        clid, dnid = (customer, COMPANY) if direction == "in" else (COMPANY, customer)
        calls.append(
            CallRecord(f"{900 + n:040x}", direction, clid, dnid, "no answer", False, started, None, started + 30)
        )
    last = first + timedelta(days=1)
    return Seeded(calls, midnight(first), midnight(last + timedelta(days=1)), f"{first:%d.%m}-{last:%d.%m}")


def archive(world: World, seeded: Seeded) -> None:
    """Into the archive as the poll and "who" would have put them, a day and more after New-Tel forgot them."""
    storage = world.services.storage
    storage.calls.ingest(seeded.calls, now=int(time.time()))
    for call in seeded.calls:
        if call.member is not None and call.member_name is not None:
            storage.calls.set_who(call.vpbx_id, call.member, call.member_name)


# --- the figures, worked out from the seeded calls alone ---------------------------------------------------------
def in_period(seeded: Seeded) -> list[CallRecord]:
    return [c for c in seeded.calls if seeded.start <= c.started_at < seeded.end]


def episodes(seeded: Seeded) -> list[tuple[str, list[CallRecord], CallRecord | None]]:
    """(customer, its misses, the answered call that decided them) in the order the misses happened: consecutive
    misses of a customer that no answered call with them separates."""
    found: list[tuple[str, list[CallRecord], CallRecord | None]] = []
    for customer in sorted({c.customer for c in seeded.calls}):
        theirs = sorted((c for c in seeded.calls if c.customer == customer), key=lambda c: (c.started_at, c.vpbx_id))
        current: list[CallRecord] = []
        for call in theirs:
            if call.status == "answered" and current:
                found.append((customer, current, call))
                current = []
            elif call.is_missed and seeded.start <= call.started_at < seeded.end:
                current.append(call)
        if current:
            found.append((customer, current, None))
    return found


def outcome(seeded: Seeded, misses: list[CallRecord], answer: CallRecord | None) -> str:
    if answer is not None:
        return "called_back" if answer.direction == "out" else "answered_later"
    last = misses[-1]
    later = [c for c in seeded.calls if c.customer == last.customer and c.started_at > last.started_at]
    return "unresolved" if later else "lost"


def waited(seconds: float) -> str:
    if seconds < 60:
        return f"{round(seconds)} с"
    minutes = round(seconds / 60)
    return f"{minutes} мин" if minutes < 60 else f"{minutes // 60} ч {minutes % 60} мин"


def as_written(number: str) -> str:
    """A Russian number as people write it: +7 916 123-45-67."""
    return f"+7 {number[1:4]} {number[4:7]}-{number[7:9]}-{number[9:11]}"


def nearest_rank(values: Sequence[int], share: float) -> int:
    """The smallest of ``values`` that at least ``share`` of them do not exceed."""
    ordered = sorted(values)
    return next(v for v in ordered if sum(w <= v for w in ordered) >= share * len(ordered))


def expected_caption(seeded: Seeded, title: str, *, with_lost: bool = False) -> list[str]:
    calls = in_period(seeded)
    inbound = [c for c in calls if c.direction == "in"]
    answered = [c for c in inbound if c.status == "answered"]
    missed = [c for c in inbound if c.is_missed]
    found = episodes(seeded)
    kinds = [outcome(seeded, misses, answer) for _, misses, answer in found]
    waits = [
        answer.started_at - misses[0].ended_at for _, misses, answer in found if answer and answer.direction == "out"
    ]  # type: ignore[operator]
    customers = len({customer for customer, _, _ in found})
    median = (
        f" (медиана {waited(round(statistics.median(waits)))}, 9 из 10 — за {waited(nearest_rank(waits, 0.9))})"
        if waits
        else ""
    )
    unresolved = f", не дозвонились {kinds.count('unresolved')}" if "unresolved" in kinds else ""
    share = f" ({round(100 * len(missed) / len(inbound))}%)" if inbound else ""
    talk = sum(c.talk_seconds for c in calls)
    noun = "клиента" if customers % 10 == 1 and customers % 100 != 11 else "клиентов"
    lines = [
        title,
        f"Входящие {len(inbound)} · приняты {len(answered)} · пропущены {len(missed)}{share} от {customers} {noun}",
        f"Перезвонили {kinds.count('called_back')}{median}, ответили позже {kinds.count('answered_later')},"
        f" потеряны {kinds.count('lost')}{unresolved}",
    ]
    if found:
        within = sum(w <= DEADLINE_MINUTES * 60 for w in waits)
        percent = round(100 * within / len(found))
        lines.append(f"В срок ({DEADLINE_MINUTES} мин) перезвонили {within} из {len(found)} ({percent}%)")
    by_member: dict[str | None, int] = {}
    for _, _, answer in found:
        if answer is not None and answer.direction == "out":
            by_member[answer.member_name] = by_member.get(answer.member_name, 0) + 1
    if by_member:
        ranked = sorted(by_member.items(), key=lambda item: (item[0] is None, -item[1], item[0] or ""))
        more = f" …и ещё {len(ranked) - 5}" if len(ranked) > 5 else ""
        lines.append("Кто перезвонил: " + ", ".join(f"{name or 'неизвестно кто'} {n}" for name, n in ranked[:5]) + more)
    lost = [misses for (_, misses, answer), kind in zip(found, kinds, strict=True) if kind == "lost"]
    if with_lost and lost:
        lost.sort(key=lambda misses: (-len(misses), -misses[-1].started_at, misses[0].customer))
        named = ", ".join(f"{as_written(misses[0].customer)} ×{len(misses)}" for misses in lost[:3])
        more = f" …и ещё {len(lost) - 3}" if len(lost) > 3 else ""
        lines.append(f"Потерянные: {len(lost)} — {named}{more}")
    lines.append(f"Исходящие {sum(c.direction == 'out' for c in calls)} · разговоры {duration(talk)}")
    people: dict[str | None, list[int]] = {}
    for c in calls:
        if c.direction == "out" or c.status == "answered":
            figures = people.setdefault(c.member_name, [0, 0, 0])
            figures[0 if c.direction == "in" else 1] += 1
            figures[2] += c.talk_seconds
    order = sorted(people.items(), key=lambda item: (item[0] is None, -(item[1][0] + item[1][1]), item[0] or ""))
    if order:
        lines.append("")
    lines += [f"{name or 'неизвестно кто'}: принято {a}, исходящих {p}, {duration(t)}" for name, (a, p, t) in order]
    return lines


# --- the bot's side -----------------------------------------------------------------------------------------------
async def photo_to(world: World, chat_id: int, timeout: float = 20.0) -> tuple[ApiCall, dict[str, Any]]:
    sent = await world.tg.wait_for("sendPhoto", chat_id=chat_id, ok=True, timeout=timeout)
    message = world.tg.message(chat_id, sent.result["message_id"])
    assert message is not None
    return sent, message


def period_label(seeded: Seeded) -> str:
    first = datetime.fromtimestamp(seeded.start, ZONE)
    last = datetime.fromtimestamp(seeded.end - 1, ZONE)
    return f"{first:%d.%m}–{last:%d.%m.%Y}" if first.year == last.year else f"{first:%d.%m.%Y}–{last:%d.%m.%Y}"


async def test_report_counts_the_calls_the_sandbox_has_forgotten(world: World, manager: object) -> None:
    seeded = history()
    archive(world, seeded)
    assert not [c for c in await world.services.newtel.vpbx.get_calls() if c.vpbx_id.startswith("0" * 30)]
    world.tg.send_text(MANAGER, f"/report {seeded.typed}")
    sent, message = await photo_to(world, MANAGER)
    assert sent.files["photo"].data.startswith(PNG) and message["photo"][0]["width"] >= 1000
    lines = message["caption"].split("\n")
    assert lines == expected_caption(seeded, f"📊 Звонки за {period_label(seeded)}")
    assert ", потеряны 2, не дозвонились 1" in lines[2] and "Перезвонили 0" not in lines[2]
    actions = world.sent("sendChatAction", chat_id=MANAGER)
    assert actions and actions[0].params["action"] == "upload_photo" and actions[0].seq < sent.seq


@at_noon  # the report's "today" and the test's are the same day
async def test_report_is_of_today_by_default_and_a_period_that_is_none_is_refused(
    world: World, manager: object
) -> None:
    archive(world, history())  # days ago: nothing of it today
    for typed in ("31.02", "завтра", "0d"):
        assert await world.ask(MANAGER, f"/report {typed}") == (
            f"Такого периода нет: «{typed}». Например: сегодня, вчера, 7д, 28.11, 25.11–28.11 или 28.11.2025."
        )
    assert world.sent("sendChatAction") == []  # nothing was worked out
    today = datetime.now(ZONE).strftime("%d.%m.%Y")
    assert await world.ask(MANAGER, "/report") == f"📊 Звонки за {today}\nЗвонков нет."  # in words, no chart
    assert world.sent("sendPhoto") == []


async def test_report_in_english_cuts_a_long_member_list_to_fit_the_caption(world: World, manager: object) -> None:
    team = [(str(200 + n), f"Member number {n:02d} of the sales team") for n in range(40)]
    seeded = history(seed=9, members=team)
    archive(world, seeded)
    await world.say(MANAGER, "/lang en")
    world.tg.send_text(MANAGER, f"/report {seeded.typed}")
    sent, message = await photo_to(world, MANAGER)
    caption = message["caption"]
    assert caption.startswith(f"📊 Calls, {period_label(seeded)}\nInbound ")
    assert len(caption.encode("utf-16-le")) // 2 <= 1024
    shown = [line for line in caption.split("\n") if line.startswith("Member number")]
    members = {c.member_name for c in in_period(seeded) if c.member_name and (c.direction == "out" or c.answered_at)}
    unknown = any(c.member_name is None and (c.direction == "out" or c.answered_at) for c in in_period(seeded))
    assert caption.endswith(f"…and {len(members) + unknown - len(shown)} more") and 0 < len(shown) < len(members)
    assert sent.files["photo"].data.startswith(PNG)


def test_a_caption_of_emoji_names_fits_telegrams_limit_counted_in_utf16() -> None:
    """Telegram counts a caption's 1024 in UTF-16 code units: each of these emoji takes two."""
    team = tuple(MemberFigures(f"🚀 Команда {n:02d} 🎯🔥⭐️💼📞", 12, 5, 3_600) for n in range(40))
    start = datetime(2026, 11, 25, tzinfo=ZONE)
    figures = Figures(start, start + timedelta(days=1), True, (), team, 3, 1, 300, 1, 1, 0)
    made = caption(figures, Texts("ru"), Texts("ru")("report_title", period="25.11.2026"))
    shown = html.unescape(re.sub(r"<[^>]+>", "", made))
    lines = shown.split("\n")
    members = [line for line in lines if line.startswith("🚀 Команда")]

    def units(text: str) -> int:
        return len(text.encode("utf-16-le")) // 2

    assert 1000 - units(members[0]) < units(shown) <= 1024  # as many members as fit, no more
    assert 0 < len(members) < len(team) and lines[-1] == f"…и ещё {len(team) - len(members)}"


async def test_a_period_is_echoed_as_typed_and_one_with_spaces_around_its_dash_is_read(
    world: World, manager: object
) -> None:
    seeded = history()
    archive(world, seeded)
    assert await world.ask(MANAGER, "/report 7d 8d") == (
        "Такого периода нет: «7d 8d». Например: сегодня, вчера, 7д, 28.11, 25.11–28.11 или 28.11.2025."
    )
    first, last = seeded.typed.split("-")
    world.tg.send_text(MANAGER, f"/report {first} - {last}")
    _, message = await photo_to(world, MANAGER)
    assert message["caption"].split("\n") == expected_caption(seeded, f"📊 Звонки за {period_label(seeded)}")


async def test_long_exports_hold_up_no_report_and_the_threads_end_with_the_bot(make_world: WorldFactory) -> None:
    released = threading.Event()
    async with make_world() as world:
        world.make_manager()
        svc = world.services
        exports = [svc.export_worker.submit(released.wait, 30) for _ in range(2)]  # two month-long exports, say
        try:
            reply = await world.ask(MANAGER, "/report")  # worked out in a report thread (a day without calls)
            assert reply.startswith("📊 Звонки за ") and not any(e.done() for e in exports)
        finally:
            released.set()
    for workers in (svc.report_workers, svc.export_worker):
        with pytest.raises(RuntimeError, match="shutdown"):
            workers.submit(int)


async def test_strangers_get_no_report(world: World) -> None:
    archive(world, history())
    reply = await world.ask(STRANGER, "/report 7d")
    assert reply.startswith("Извините, этот бот работает только для сотрудников компании")
    assert world.sent("sendPhoto") == [] and world.sent("sendChatAction") == []


# --- the digests --------------------------------------------------------------------------------------------------
@at_noon  # the job's "yesterday" and the test's are the same day: no midnight between them
async def test_the_daily_digest_is_yesterdays_report_from_the_archive(world: World, manager: object) -> None:
    svc = world.services
    svc.storage.chats.subscribe(GROUP, "Sales", [], False, now=1)
    seeded = history()
    archive(world, seeded)
    world.tg.send_text(ADMIN, "/digest 9:30", chat_id=GROUP)
    reply = await world.tg.wait_for("sendMessage", chat_id=GROUP)
    assert reply.params["text"] == "🗓 Сводка будет приходить каждый день в 09:30 (Europe/Moscow)."
    (job,) = world.app.job_queue.get_jobs_by_name(f"digest:{GROUP}")
    # As sent on the morning after the first seeded day: that day is "yesterday".
    chat = svc.storage.chats.get(GROUP)
    assert chat is not None and chat.digest_time == "09:30"
    morning = datetime.fromtimestamp(seeded.start, ZONE) + timedelta(days=1, hours=9, minutes=30)
    made = await digest.prepare(svc, chat, morning)
    one_day = replace(seeded, end=seeded.start + 86_400)
    title = f"🗓 <b>Сводка за {datetime.fromtimestamp(seeded.start, ZONE):%d.%m.%Y}</b>"
    assert made.caption.split("\n") == [title, *expected_caption(one_day, "")[1:]]
    assert made.png.startswith(PNG)

    world.tg.mark()
    await job.run(world.app)  # the job itself: of the real yesterday (nothing seeded there), in words
    (message,) = await world.replies(GROUP)
    yesterday = (datetime.now(ZONE) - timedelta(days=1)).strftime("%d.%m.%Y")
    assert message["text"] == f"🗓 Сводка за {yesterday}\nЗвонков нет."
    assert world.sent("sendPhoto") == []

    world.tg.send_text(ADMIN, "/digest off", chat_id=GROUP)
    await world.tg.wait_for("sendMessage", chat_id=GROUP)
    assert world.app.job_queue.get_jobs_by_name(f"digest:{GROUP}") == ()


def test_a_digests_days_are_whole_local_days_across_a_clock_change() -> None:
    berlin = ZoneInfo("Europe/Berlin")  # 29.03.2026, a Sunday, had 23 hours
    sent = datetime(2026, 3, 30, 0, 30, tzinfo=berlin)  # a Monday, half an hour into it

    def at(day: int) -> int:
        return int(datetime(2026, 3, day, tzinfo=berlin).timestamp())

    for now in (sent, sent.astimezone(ZONE)):
        assert digest.window(now, berlin, weekly=False) == (at(29), at(30))
        assert digest.window(now, berlin, weekly=True) == (at(23), at(30))
    assert at(30) - at(29) == 23 * 3600


async def test_the_weekly_digest_goes_out_on_mondays_with_the_past_week(world: World, manager: object) -> None:
    svc = world.services
    svc.storage.chats.subscribe(GROUP, "Sales", [], False, now=1)
    seeded = history()
    archive(world, seeded)
    for typed in ("/digest weekly", "/digest weekly 25:00", "/digest weekly 9:00 10:00"):
        world.tg.send_text(ADMIN, typed, chat_id=GROUP)
        usage = await world.tg.wait_for("sendMessage", chat_id=GROUP)
        assert usage.params["text"].startswith("Использование: /digest ЧЧ:ММ")
        world.tg.mark()
    assert world.app.job_queue.get_jobs_by_name(f"digest_weekly:{GROUP}") == ()
    world.tg.send_text(ADMIN, "/digest weekly 9:00", chat_id=GROUP)
    reply = await world.tg.wait_for("sendMessage", chat_id=GROUP)
    assert reply.params["text"] == "🗓 Недельная сводка будет приходить по понедельникам в 09:00 (Europe/Moscow)."
    (job,) = world.app.job_queue.get_jobs_by_name(f"digest_weekly:{GROUP}")
    upcoming = job.next_t.astimezone(ZONE)
    assert (upcoming.weekday(), upcoming.hour, upcoming.minute) == (0, 9, 0)  # a Monday, 09:00 Moscow time
    chat = svc.storage.chats.get(GROUP)
    assert chat is not None and chat.digest_weekly == "09:00" and chat.digest_time is None

    # The Monday after the seeded days: the week before it holds them all (and the day after them).
    first = datetime.fromtimestamp(seeded.start, ZONE)
    monday = first + timedelta(days=7 - first.weekday(), hours=9)
    made = await digest.prepare(svc, chat, monday, weekly=True)
    week = replace(seeded, start=midnight((monday - timedelta(days=7)).date()), end=midnight(monday.date()))
    title = f"🗓 <b>Сводка за неделю {period_label(week)}</b>"
    assert made.caption.split("\n") == [title, *expected_caption(week, "", with_lost=True)[1:]]

    world.tg.mark()
    world.tg.send_text(ADMIN, "/digest weekly off", chat_id=GROUP)
    reply = await world.tg.wait_for("sendMessage", chat_id=GROUP)
    assert reply.params["text"] == "🗓 Недельная сводка отключена."
    assert world.app.job_queue.get_jobs_by_name(f"digest_weekly:{GROUP}") == ()
