"""A number New-Tel can ring, one rule for /phone and /call (bot/calls/numbers.py): a valid phone number or one of
the company's internal numbers (the sandbox company's are 100-105); reports count people, not numbers."""

from __future__ import annotations

import struct
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.reports import chart
from storage import CallRecord
from tests.bot.conftest import MANAGER, World

START_CALL = "call/start-simple-call"
ZONE = ZoneInfo("Europe/Moscow")  # the tests' settings
COMPANY = "74955325585"


@pytest.mark.parametrize(
    ("lang", "refusal"),
    [
        ("ru", "«{typed}» — на такой номер «Нью-Тел» позвонить не может: нужен номер телефона или внутренний номер "
         "компании. Например: /phone +7 916 123-45-67 или /phone 101"),
        ("en", "“{typed}” is not a number New-Tel can ring: it takes a phone number or one of the company's internal "
         "numbers. For example: /phone +7 916 123-45-67 or /phone 101"),
    ],
    ids=["ru", "en"],
)  # fmt: skip
async def test_phone_takes_a_valid_number_or_an_internal_one_of_the_company(
    world: World, manager: object, lang: str, refusal: str
) -> None:
    if lang == "en":
        await world.ask(MANAGER, "/lang en")
    for typed in ("123", "+7 000 000-00-00", "1234567", "call me"):
        assert await world.ask(MANAGER, f"/phone {typed}") == refusal.format(typed=typed)
        assert world.user(MANAGER).callback_phone is None  # type: ignore[union-attr]
    assert "104" in await world.ask(MANAGER, "/phone 104")  # Волков Андрей's desk phone
    assert world.user(MANAGER).callback_phone == "104"  # type: ignore[union-attr]
    assert "+7 903 000-11-22" in await world.ask(MANAGER, "/phone 8 903 000 11 22")
    assert world.user(MANAGER).callback_phone == "79030001122"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("lang", "internal", "bad"),
    [
        ("ru", "101 — внутренний номер компании, а /call соединяет только с внешними номерами: так звонит «Нью-Тел». "
         "Коллеге позвоните со своего рабочего телефона. Например: /call +7 916 123-45-67",
         "«123» не похоже на номер телефона. Например: +7 916 123-45-67 или 8 916 123 45 67."),
        ("en", "101 is one of the company's internal numbers, and /call connects outside numbers only: that is how "
         "New-Tel places calls. Ring a colleague from your desk phone. For example: /call +7 916 123-45-67",
         "“123” does not look like a phone number. For example: +7 916 123-45-67 or 8 916 123 45 67."),
    ],
    ids=["ru", "en"],
)  # fmt: skip
async def test_call_follows_the_same_rule_and_says_why_it_cannot_call_an_internal_number(
    world: World, manager: object, lang: str, internal: str, bad: str
) -> None:
    if lang == "en":
        await world.ask(MANAGER, "/lang en")
    assert await world.ask(MANAGER, "/call 101") == internal
    assert await world.ask(MANAGER, "/call 123") == bad
    assert await world.ask(MANAGER, "/call +7 000 000-00-00") == bad.replace("123", "+7 000 000-00-00", 1)
    assert world.newtel_requests(START_CALL) == []
    assert world.sent("sendChatAction") == []  # refused before "typing…"
    await world.ask(MANAGER, "/phone 104")
    assert (await world.ask(MANAGER, "/call 8 916 555 44 33")).startswith(("📞 Звоню:", "📞 Calling:"))
    (start,) = world.newtel_requests(START_CALL)
    assert (start.params["srcNumber"], start.params["dstNumber"]) == ("104", "79165554433")


def png_height(png: bytes) -> int:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    (height,) = struct.unpack(">I", png[20:24])  # IHDR: width, then height
    return int(height)


async def test_reports_count_people_not_numbers(world: World, manager: object) -> None:
    """A call placed from "123" (a /phone of old, kept by the "who" step as the number itself) and one nobody is known
    for are one line "unknown", and not in the chart's members: one person there, Попов."""
    day = datetime.now(ZONE).date() - timedelta(days=2)
    base = int(datetime.combine(day, datetime.min.time(), ZONE).timestamp()) + 10 * 3600
    storage = world.services.storage
    calls = [
        CallRecord("1" * 40, "in", "79160000041", COMPANY, "answered", False, base, base + 5, base + 65),
        CallRecord("2" * 40, "out", COMPANY, "79160000042", "answered", False, base + 100, base + 105, base + 125),
        CallRecord("3" * 40, "out", COMPANY, "79160000043", "no answer", False, base + 200, None, base + 230),
    ]
    storage.calls.ingest(calls, now=int(time.time()))
    storage.calls.set_who("1" * 40, "100", "Попов Сергей")
    storage.calls.set_who("2" * 40, "123", "123")  # no member has 123: the number kept as its name
    world.tg.send_text(MANAGER, f"/report {day:%d.%m}")
    sent = await world.tg.wait_for("sendPhoto", chat_id=MANAGER, ok=True, timeout=20)
    lines = sent.result["caption"].split("\n")
    assert lines[lines.index("") + 1 :] == [
        "Попов Сергей: принято 1, исходящих 0, 1:00",
        "неизвестно кто: принято 0, исходящих 2, 0:20",
    ]
    people = 1
    inches = chart.TOP + 4.3 + chart.CALLS_BOTTOM + chart.MEMBERS_TOP + chart.MEMBER_ROW * people + chart.MEMBERS_BOTTOM
    assert png_height(sent.files["photo"].data) == round(inches * chart.DPI)
