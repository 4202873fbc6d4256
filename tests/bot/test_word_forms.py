"""Where a person's name stands beside a verb, the Russian fits anyone: "Васильева Татьяна: принято 12" in /report,
"перезвонил(а) Васильева Татьяна" in /export (English has no such forms)."""

from __future__ import annotations

import io
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from storage import CallRecord
from tests.bot.conftest import ADMIN, MANAGER, World

ZONE = ZoneInfo("Europe/Moscow")  # the tests' settings
COMPANY, CUSTOMER = "74955325585", "79160000051"
SHE = ("101", "Васильева Татьяна")


def her_day(world: World) -> datetime:
    """Two days ago: she answered twelve calls, and called back a customer whose call was missed."""
    day = datetime.now(ZONE).date() - timedelta(days=2)
    base = int(datetime.combine(day, datetime.min.time(), ZONE).timestamp()) + 10 * 3600
    calls = [
        CallRecord(f"{n + 1:040x}", "in", f"7916000{n:04d}", COMPANY, "answered", False, base + 300 * n,
                   base + 300 * n + 5, base + 300 * n + 65)
        for n in range(12)
    ]  # fmt: skip
    missed, back = base + 4000, base + 4600
    calls += [
        CallRecord("a" * 40, "in", CUSTOMER, COMPANY, "no answer", False, missed, None, missed + 20),
        CallRecord("b" * 40, "out", COMPANY, CUSTOMER, "answered", False, back, back + 5, back + 125),
    ]
    storage = world.services.storage
    storage.calls.ingest(calls, now=int(time.time()))
    for call in calls:
        if call.status == "answered":
            storage.calls.set_who(call.vpbx_id, *SHE)
    return datetime.combine(day, datetime.min.time(), ZONE)


@pytest.mark.parametrize(
    ("lang", "member", "outcome"),
    [
        ("ru", "Васильева Татьяна: принято 12, исходящих 1, 14:00", "перезвонил(а) Васильева Татьяна"),
        ("en", "Васильева Татьяна: answered 12, placed 1, 14:00", "called back by Васильева Татьяна"),
    ],
    ids=["ru", "en"],
)
async def test_a_name_beside_a_verb_fits_anyone(
    world: World, manager: object, lang: str, member: str, outcome: str
) -> None:
    day = her_day(world)
    if lang == "en":
        await world.ask(MANAGER, "/lang en")
        await world.ask(ADMIN, "/lang en")
    world.tg.send_text(MANAGER, f"/report {day:%d.%m}")
    sent = await world.tg.wait_for("sendPhoto", chat_id=MANAGER, ok=True, timeout=20)
    assert member in str(sent.result["caption"]).split("\n")
    world.tg.send_text(ADMIN, f"/export {day:%d.%m}")
    sent = await world.tg.wait_for("sendDocument", chat_id=ADMIN, ok=True, timeout=20)
    sheet = load_workbook(io.BytesIO(sent.files["document"].data)).active
    assert sheet is not None
    missed = next(row for row in sheet.iter_rows(values_only=True) if row[2] == "+7 916 000-00-51")
    assert missed[-1] == outcome
