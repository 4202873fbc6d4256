"""The journal over the archive, asked as the page asks it: who asks (/me), search by a number typed any way or by
a name, the filters, what became of a miss, and pages that neither repeat nor skip a call while calls come in."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from storage import CallRecord
from tests.bot.conftest import ADMIN, GROUP, MANAGER, MEMBER_INTERNAL, MEMBER_NAME, STRANGER
from tests.conftest import at_noon
from tests.miniapp.conftest import MiniApp

CUSTOMER, OTHER, COMPANY = "79161234567", "79262345678", "74955325585"
HOUR = 3600


def call(
    n: int, customer: str, at: int, *, direction: str = "in", answered: bool = True, talk: int = 252
) -> CallRecord:
    clid, dnid = (customer, COMPANY) if direction == "in" else (COMPANY, customer)
    if answered:
        return CallRecord(f"{n:040d}", direction, clid, dnid, "answered", False, at, at + 5, at + 5 + talk)
    return CallRecord(f"{n:040d}", direction, clid, dnid, "no answer", False, at, None, at + 20)


def archive(app: MiniApp, *calls: CallRecord) -> None:
    app.world.services.storage.calls.ingest(list(calls), now=int(time.time()))


async def journal(app: MiniApp, *, as_user: int = ADMIN, **params: str) -> dict[str, Any]:
    answer = await app.get("/app/api/journal", as_user=as_user, params=params)
    assert answer.status == 200, answer.json
    return dict(answer.json)


def ids(page: dict[str, Any]) -> list[str]:
    return [row["id"] for row in page["rows"]]


async def test_me_says_who_asks_in_their_language(miniapp: MiniApp) -> None:
    miniapp.world.make_manager()
    admin = (await miniapp.get("/app/api/me", params={}, as_user=ADMIN)).json
    assert admin["user"] == {"id": ADMIN, "name": admin["user"]["name"], "admin": True}
    assert (admin["lang"], admin["zone"]) == ("ru", "Europe/Moscow")
    assert admin["texts"]["app_error_stranger"].startswith("Нет доступа")
    assert all(key.startswith("app_") for key in admin["texts"])
    internal = {m["internal"]: m for m in admin["members"]}
    assert internal[MEMBER_INTERNAL]["name"] == MEMBER_NAME
    assert admin["start"] is None
    manager = await miniapp.get("/app/api/me", init_data=miniapp.init_data(MANAGER, start_param="alert-17"))
    assert manager.json["user"] == {"id": MANAGER, "name": MEMBER_NAME, "admin": False}
    assert manager.json["start"] == {"miss": 17}
    miniapp.world.services.storage.users.set_language(MANAGER, "en", now=int(time.time()))
    english = (await miniapp.get("/app/api/me", as_user=MANAGER)).json
    assert (english["lang"], english["texts"]["app_today"]) == ("en", "today")


@at_noon
async def test_a_number_typed_any_way_finds_the_customer_s_calls(miniapp: MiniApp) -> None:
    now = int(time.time())
    archive(
        miniapp,
        call(1, CUSTOMER, now - 3 * HOUR),
        call(2, OTHER, now - 2 * HOUR),
        call(3, CUSTOMER, now - HOUR, direction="out", talk=75),
        call(4, OTHER, now - 30),
    )
    miniapp.world.services.storage.contacts.set(CUSTOMER, "Пётр Смирнов", by=ADMIN, now=now)
    for typed in ("8 (916) 123-45-67", "+7 916 123-45-67", "79161234567", "9161234567"):
        assert ids(await journal(miniapp, q=typed)) == [f"{3:040d}", f"{1:040d}"], typed
    (latest, _) = (await journal(miniapp, q="8 (916) 123-45-67"))["rows"]
    local = datetime.fromtimestamp(now - HOUR, UTC).astimezone(miniapp.world.settings.zone)
    assert latest == {
        "id": f"{3:040d}",
        "at": now - HOUR,
        "day": "сегодня",
        "time": local.strftime("%H:%M"),
        "direction": "out",
        "missed": False,
        "customer": {"number": CUSTOMER, "shown": "+7 916 123-45-67", "name": "Пётр Смирнов"},
        "member": None,
        "talk": "1:15",
        "outcome": None,
        "recording": True,
    }
    assert ids(await journal(miniapp, q="смирн")) == [f"{3:040d}", f"{1:040d}"]  # part of the name, any case
    assert ids(await journal(miniapp, q="123-45-67")) == [f"{3:040d}", f"{1:040d}"]  # a tail of the number
    assert ids(await journal(miniapp, q="8 926")) == [f"{4:040d}", f"{2:040d}"]  # "8 926…" is "7926…"
    assert ids(await journal(miniapp, q="Никто")) == []
    assert ids(await journal(miniapp, q="45")) == []  # two digits are no number to look for


@at_noon
async def test_filters(miniapp: MiniApp) -> None:
    now = int(time.time())
    yesterday = int((datetime.now(UTC) - timedelta(days=1)).timestamp())
    week_ago = now - 8 * 86_400
    archive(
        miniapp,
        call(1, CUSTOMER, week_ago),
        call(2, CUSTOMER, yesterday, answered=False),
        call(3, OTHER, now - HOUR, direction="out"),
        call(4, OTHER, now - 60, answered=False),
    )
    storage = miniapp.world.services.storage
    storage.calls.set_who(f"{3:040d}", MEMBER_INTERNAL, MEMBER_NAME)
    member_id = next(str(m.id) for m in miniapp.world.sandbox.company.members if m.internal_number == MEMBER_INTERNAL)
    assert ids(await journal(miniapp)) == [f"{n:040d}" for n in (4, 3, 2, 1)]
    assert ids(await journal(miniapp, kind="missed")) == [f"{4:040d}", f"{2:040d}"]
    assert ids(await journal(miniapp, kind="in")) == [f"{n:040d}" for n in (4, 2, 1)]
    assert ids(await journal(miniapp, kind="out")) == [f"{3:040d}"]
    assert ids(await journal(miniapp, period="today")) == [f"{4:040d}", f"{3:040d}"]
    assert ids(await journal(miniapp, period="yesterday")) == [f"{2:040d}"]
    assert ids(await journal(miniapp, period="7d")) == [f"{n:040d}" for n in (4, 3, 2)]
    day = datetime.fromtimestamp(week_ago, UTC).astimezone(miniapp.world.settings.zone).date()
    custom = await journal(miniapp, period="custom", **{"from": day.isoformat(), "to": day.isoformat()})
    assert ids(custom) == [f"{1:040d}"]
    by_member = await journal(miniapp, member=member_id)
    assert ids(by_member) == [f"{3:040d}"]
    assert by_member["rows"][0]["member"] == MEMBER_NAME
    assert ids(await journal(miniapp, kind="missed", q="8 916 123 45 67", period="7d")) == [f"{2:040d}"]


async def test_a_day_of_another_year_says_its_year_as_calls_does(miniapp: MiniApp) -> None:
    zone = miniapp.world.settings.zone
    now = datetime.now(zone)
    last_year = now.replace(year=now.year - 1, month=6, day=15, hour=12)
    this_year = now - timedelta(days=2) if (now - timedelta(days=2)).year == now.year else now
    archive(miniapp, call(1, CUSTOMER, int(last_year.timestamp())), call(2, OTHER, int(this_year.timestamp())))
    new, old = (await journal(miniapp))["rows"]
    assert old["day"] == f"15.06.{now.year - 1}"
    assert new["day"] in ("сегодня", f"{this_year:%d.%m}")
    listed = await miniapp.world.ask(ADMIN, f"/calls {CUSTOMER}")
    assert f"15.06.{now.year - 1} {old['time']}" in listed, listed  # /calls: the same rule


async def test_bad_input_is_said_and_changes_nothing(miniapp: MiniApp) -> None:
    for params in (
        {"kind": "lost"},
        {"period": "forever"},
        {"period": "custom", "from": "2026-13-01", "to": "2026-12-01"},
        {"limit": "0"},
        {"limit": "101"},
        {"before": "yesterday"},
        {"member": "no-such-member"},
    ):
        answer = await miniapp.get("/app/api/journal", params=params)
        assert (answer.status, answer.json["error"]) == (400, "bad_input"), params
        assert answer.json["message"]
    future = (datetime.now(UTC) + timedelta(days=40)).date().isoformat()
    refused = await miniapp.get("/app/api/journal", params={"period": "custom", "from": future, "to": future})
    assert refused.status == 400
    assert "период" in refused.json["message"] or "дн" in refused.json["message"]  # /calls' own words for it


async def test_a_stranger_gets_no_journal(miniapp: MiniApp) -> None:
    archive(miniapp, call(1, CUSTOMER, int(time.time()) - 60))
    answer = await miniapp.get("/app/api/journal", as_user=STRANGER)
    assert (answer.status, answer.json["error"]) == (403, "stranger")
    assert CUSTOMER not in answer.body.decode()


@at_noon
async def test_what_became_of_a_miss_is_its_alert_s(miniapp: MiniApp) -> None:
    now = int(time.time())
    archive(miniapp, call(1, CUSTOMER, now - 600, answered=False), call(2, OTHER, now - 300, answered=False))
    storage = miniapp.world.services.storage
    storage.chats.subscribe(GROUP, "Sales", numbers=(), balance=False, now=now)
    opened = storage.alerts.record_missed(GROUP, f"{1:040d}", CUSTOMER, COMPANY, now - 600, now - 580, now=now)
    storage.alerts.take(opened.alert_id, MANAGER, "Мария", now=now - 60)
    other = storage.alerts.record_missed(GROUP, f"{2:040d}", OTHER, COMPANY, now - 300, now - 280, now=now)
    outcomes = {row["id"]: row["outcome"] for row in (await journal(miniapp))["rows"]}
    taken = datetime.fromtimestamp(now - 60, UTC).astimezone(miniapp.world.settings.zone).strftime("%H:%M")
    assert outcomes == {f"{1:040d}": f"👤 Взял(а): Мария, {taken}", f"{2:040d}": "открыт"}
    storage.alerts.close(other.alert_id, "done", by=ADMIN, name="Анна", now=now)
    outcomes = {row["id"]: row["outcome"] for row in (await journal(miniapp))["rows"]}
    assert (
        outcomes[f"{2:040d}"]
        == f"✅ Закрыто: Анна, {datetime.fromtimestamp(now, UTC).astimezone(miniapp.world.settings.zone):%H:%M}."
    )


async def test_pages_neither_repeat_nor_skip_while_calls_come_in(miniapp: MiniApp) -> None:
    now = int(time.time()) - 10 * 86_400
    # Many in the same second: the order is kept by the archive's own row order, not the clock alone.
    first = [call(n, CUSTOMER if n % 3 else OTHER, now + n // 4, answered=n % 5 != 0) for n in range(1, 231)]
    archive(miniapp, *first)
    seen: list[str] = []
    cursor: str | None = None
    added = 1000

    async def calls_come_in() -> None:
        nonlocal added
        for _ in range(20):
            added += 1
            archive(miniapp, call(added, OTHER, int(time.time()), answered=False))
            await asyncio.sleep(0)

    while True:
        params = {"limit": "17", **({"before": cursor} if cursor else {})}
        page, _ = await asyncio.gather(journal(miniapp, **params), calls_come_in())
        seen += ids(page)
        cursor = page["next"]
        if cursor is None:
            break
    expected = [c.vpbx_id for c in sorted(first, key=lambda c: c.started_at, reverse=True)]
    newest_first_page = [v for v in seen if v not in expected]
    assert len(newest_first_page) <= 17  # only the first page may hold calls newer than it
    assert [v for v in seen if v in expected] == sorted(
        expected, key=lambda v: (-first[int(v) - 1].started_at, -int(v))
    )
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize("search", [{"q": "123-45-67"}, {"member": "member"}])
async def test_a_rare_match_goes_on_page_by_page(
    miniapp: MiniApp, monkeypatch: pytest.MonkeyPatch, search: dict[str, str]
) -> None:
    """A filter no index serves looks through a window of calls per request: fewer rows, and ``next`` goes on."""
    from storage import calls as calls_module

    monkeypatch.setattr(calls_module, "JOURNAL_SCAN", 10)
    now = int(time.time()) - 86_400
    archive(miniapp, *(call(n, OTHER, now + n) for n in range(1, 40)), call(99, CUSTOMER, now - 10))
    storage = miniapp.world.services.storage
    storage.calls.set_who(f"{99:040d}", MEMBER_INTERNAL, MEMBER_NAME)
    if "member" in search:
        search = {
            "member": next(
                str(m.id) for m in miniapp.world.sandbox.company.members if m.internal_number == MEMBER_INTERNAL
            )
        }
    found: list[str] = []
    cursor: str | None = None
    asked = 0
    while True:
        page = await journal(miniapp, **search, **({"before": cursor} if cursor else {}))
        asked += 1
        found += ids(page)
        cursor = page["next"]
        if cursor is None:
            break
    assert found == [f"{99:040d}"]
    assert asked == 5  # 40 calls, 10 a request
