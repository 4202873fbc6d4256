"""The open misses on the Mini App's page, through its API over loopback: the real Application (its poll finds the
sandbox's missed call and alerts the Sales group in the fake Bot API), asked as Telegram's page asks. The page's
actions are the alert's buttons': one call at most, the same questions first, the group's alert edited."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot import callback_data as cd
from bot.alerts import desk
from bot.calls import calling
from bot.miniapp import misses
from tests.bot.conftest import ADMIN, GROUP, MANAGER, MEMBER_NAME, STRANGER
from tests.bot.test_alerts import CUSTOMER, phone_as_shown
from tests.bot.test_new_user import ABROAD, ABROAD_SHOWN
from tests.bot.test_owner import alert_message, buttons, miss, shown_with, starts, the_alert
from tests.conftest import at_noon
from tests.miniapp.conftest import Answer, MiniApp, MiniAppFactory

pytestmark = at_noon
POLL = 0.3
SHORT_NAME = "desk"


@contextlib.asynccontextmanager
async def staffed(make_miniapp: MiniAppFactory, **settings: Any) -> AsyncIterator[MiniApp]:
    """The bot with its jobs and the Mini App, the Sales group subscribed, ADMIN (Попов Сергей, 100) and MANAGER
    (Васильева Татьяна, 101) allowed, and a missed call from CUSTOMER alerted in the group."""
    async with make_miniapp(jobs=True, poll_interval=POLL, **settings) as app:
        world = app.world
        world.make_manager(ADMIN, internal="100", role="admin")
        world.make_manager(MANAGER, internal="101")
        world.services.storage.chats.subscribe(GROUP, "Sales", [], False, now=1)
        await world.app.bot_data.need_poller().wait_cycles(1)  # the first poll sets the baseline
        miss(world)
        message = await alert_message(world)
        await eventually(lambda: world.services.storage.alerts.by_message(GROUP, message["message_id"]) is not None)
        yield app


async def post(app: MiniApp, alert_id: int, action: str, *, as_user: int, body: Any = None) -> Answer:
    return await app.request("POST", f"/app/api/misses/{alert_id}/{action}", as_user=as_user, body=body or {})


async def test_take_then_call_back_places_one_call_and_edits_the_groups_alert(make_miniapp: MiniAppFactory) -> None:
    async with staffed(make_miniapp) as app:
        world = app.world
        message = await alert_message(world)
        alert_id = the_alert(world, message).id

        listed = await app.get("/app/api/misses", as_user=MANAGER)
        assert listed.status == 200 and listed.headers["Cache-Control"] == "no-store"
        (shown,) = listed.json["misses"]
        assert shown["id"] == alert_id and shown["chat"] == "Sales" and shown["state"] == "open"
        assert shown["customer"]["number"] == CUSTOMER and shown["customer"]["shown"] == phone_as_shown(CUSTOMER)
        assert (shown["owner"], shown["mine"], shown["calling_by"]) == (None, False, None)

        taken = await post(app, alert_id, "take", as_user=MANAGER)
        assert taken.status == 200, taken.json
        assert taken.json["ok"] is True and taken.json["message"] == "🙋 Теперь это уведомление ваше."
        assert taken.json["miss"]["owner"] == {"id": MANAGER, "name": MEMBER_NAME} and taken.json["miss"]["mine"]
        # The group's alert shows it, as if the button had been pressed there.
        owned = await shown_with(world, message, lambda text: f"👤 Взял(а): {MEMBER_NAME}, " in text)
        assert buttons(owned) == [["📞 Перезвонить", "✅ Готово"], ["↩️ Отпустить"]]

        called = await post(app, alert_id, "callback", as_user=MANAGER)
        assert called.status == 200, called.json
        assert called.json["ok"] is True and called.json["message"].startswith("Звоню")
        await shown_with(world, message, lambda text: f"✅ Перезвонил(а) {MEMBER_NAME}" in text)
        assert len(starts(world)) == 1  # exactly one call
        assert (await app.get("/app/api/misses", as_user=MANAGER)).json == {"misses": [], "more": 0}
        again = await post(app, alert_id, "callback", as_user=MANAGER)
        assert (again.status, again.json["error"]) == (409, "conflict")
        assert again.json["message"] == "Это уведомление уже закрыто."
        assert len(starts(world)) == 1


async def test_two_callbacks_at_once_place_one_call(make_miniapp: MiniAppFactory) -> None:
    async with staffed(make_miniapp) as app:
        world = app.world
        alert_id = the_alert(world, await alert_message(world)).id
        first, second = await asyncio.gather(
            post(app, alert_id, "callback", as_user=MANAGER), post(app, alert_id, "callback", as_user=ADMIN)
        )
        assert sorted([first.status, second.status]) == [200, 409]
        lost = first if first.status == 409 else second
        assert lost.json["message"].endswith("уже перезванивает.")
        assert len(starts(world)) == 1


async def test_someone_elses_miss_is_called_only_with_the_pages_yes(
    make_miniapp: MiniAppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with staffed(make_miniapp) as app:
        world = app.world
        message = await alert_message(world)
        alert_id = the_alert(world, message).id
        assert (await post(app, alert_id, "take", as_user=MANAGER)).status == 200

        asked = await post(app, alert_id, "callback", as_user=ADMIN)
        assert asked.status == 200 and asked.json["ok"] is False
        question, token = asked.json["confirm"]["question"], asked.json["confirm"]["token"]
        assert question == f"{MEMBER_NAME} взял(а) это уведомление. Позвонить клиенту всё равно?"
        monkeypatch.setattr(calling, "CONFIRM_AFTER", 0.0)  # a considered answer, not a double tap
        # Asking again without the page's yes is no answer (unlike a press of the button): asked anew.
        again = await post(app, alert_id, "callback", as_user=ADMIN)
        assert again.json["ok"] is False and "confirm" in again.json
        # The yes is the admin's, for this alert: nobody else's answer, nor another alert's.
        theirs = await post(app, alert_id, "callback", as_user=MANAGER, body={"confirm": token})
        assert (theirs.status, theirs.json["error"]) == (400, "bad_input")
        forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        assert (await post(app, alert_id, "callback", as_user=ADMIN, body={"confirm": forged})).status == 400
        assert starts(world) == [] and the_alert(world, message).state == "open"  # asking placed nothing

        yes = await post(app, alert_id, "callback", as_user=ADMIN, body={"confirm": again.json["confirm"]["token"]})
        assert yes.status == 200 and yes.json["ok"] is True, yes.json
        await shown_with(world, message, lambda text: "✅ Перезвонил(а) Попов Сергей" in text)
        admin_phone = world.sandbox.company.members[0].personal_number
        assert [s["srcNumber"] for s in starts(world)] == [admin_phone]


async def test_the_pages_yes_is_taken_however_soon_it_comes(
    make_miniapp: MiniAppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The double-tap floor (CONFIRM_AFTER) is for presses of a button: the page's yes carries its question's signed
    token, which no double tap sends."""
    monkeypatch.setattr(calling, "CONFIRM_AFTER", 60.0)  # every answer here is "too soon" for a press
    async with staffed(make_miniapp) as app:
        world = app.world
        message = await alert_message(world)
        alert_id = the_alert(world, message).id
        assert (await post(app, alert_id, "take", as_user=MANAGER)).status == 200
        asked = await post(app, alert_id, "callback", as_user=ADMIN)
        assert asked.json["ok"] is False
        yes = await post(app, alert_id, "callback", as_user=ADMIN, body={"confirm": asked.json["confirm"]["token"]})
        assert yes.status == 200 and yes.json["ok"] is True, yes.json
        assert len(starts(world)) == 1


async def test_refusals(make_miniapp: MiniAppFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    async with staffed(make_miniapp) as app:
        world = app.world
        message = await alert_message(world)
        alert_id = the_alert(world, message).id
        monkeypatch.setattr(misses, "MAX_LISTED", 0)  # past the newest listed, the rest are counted
        assert (await app.get("/app/api/misses", as_user=MANAGER)).json == {"misses": [], "more": 1}
        monkeypatch.undo()
        stranger = await post(app, alert_id, "callback", as_user=STRANGER)
        assert (stranger.status, stranger.json["error"]) == (403, "stranger")
        assert (await app.get("/app/api/misses", as_user=STRANGER)).status == 403

        nobodys = await post(app, alert_id, "release", as_user=MANAGER)
        assert (nobodys.status, nobodys.json["message"]) == (409, "Это уведомление никто не взял.")
        assert (await post(app, 999_999, "take", as_user=MANAGER)).status == 404
        bad = await app.request("POST", f"/app/api/misses/{alert_id}/callback", as_user=MANAGER, body=["confirm"])
        assert (bad.status, bad.json["error"]) == (400, "bad_input")

        # A chat the bot no longer alerts: its misses are neither listed nor acted on.
        world.services.storage.chats.unsubscribe(GROUP, now=2)
        assert (await app.get("/app/api/misses", as_user=MANAGER)).json == {"misses": [], "more": 0}
        gone = await post(app, alert_id, "callback", as_user=MANAGER)
        assert (gone.status, gone.json["error"]) == (404, "not_found")
        # A manager the admins denied since: refused, and nothing changed.
        world.services.storage.chats.subscribe(GROUP, "Sales", [], False, now=3)
        world.services.storage.users.deny(MANAGER, now=4)
        denied = await post(app, alert_id, "take", as_user=MANAGER)
        assert (denied.status, denied.json["error"]) == (403, "stranger")
        assert starts(world) == [] and the_alert(world, message).owner_id is None


async def test_a_callback_whose_asker_goes_away_is_placed_once_and_recorded(make_miniapp: MiniAppFactory) -> None:
    async with staffed(make_miniapp) as app:
        world = app.world
        alert = the_alert(world, await alert_message(world))
        user = world.user(MANAGER)
        assert user is not None
        delivery = world.app.bot_data.need_poller().delivery
        world.sandbox.faults.latency = 0.3
        asking = asyncio.ensure_future(
            desk.call_back(world.services, user, alert, desk.shown_by(delivery, world.app.bot))
        )
        await eventually(lambda: len(starts(world)) == 1)  # the start is on its way to New-Tel
        asking.cancel()  # the page was closed, the request dropped
        await eventually(lambda: world.services.storage.alerts.get(alert.id).callback_call_id is not None)  # type: ignore[union-attr]
        world.sandbox.faults.latency = 0.0
        assert len(starts(world)) == 1


async def test_a_groups_alert_links_to_the_app_on_its_miss(make_miniapp: MiniAppFactory) -> None:
    async with staffed(make_miniapp, miniapp_short_name=SHORT_NAME) as app:
        message = await alert_message(app.world)
        alert_id = the_alert(app.world, message).id
        *_, link = message["reply_markup"]["inline_keyboard"]
        username = app.world.app.bot.username
        assert link == [
            {
                "text": "📱 Открыть в приложении",
                "url": f"https://t.me/{username}/{SHORT_NAME}?startapp=alert-{alert_id}",
            }
        ]
        # Opened by that link, Telegram hands the page its startapp: the page opens on that miss.
        signed = app.init_data(MANAGER, start_param=cd.startapp(alert_id))
        opened = await app.request("GET", "/app/api/me", init_data=signed)
        assert opened.json["start"] == {"miss": alert_id}
        assert (await app.get("/app/api/me", as_user=MANAGER)).json["start"] is None
        assert [cd.started_on(given) for given in (None, "alert-", "alert-x1", "board", "alert--1")] == [None] * 5
        # A press of the alert's own buttons still counts on it.
        assert (await app.world.press(MANAGER, message, "🙋 Беру"))["text"] == "🙋 Теперь это уведомление ваше."


async def test_without_a_short_name_no_link(make_miniapp: MiniAppFactory) -> None:
    async with staffed(make_miniapp) as app:
        message = await alert_message(app.world)
        assert buttons(message) == [["📞 Перезвонить", "✅ Готово"], ["🙋 Беру"]]


async def eventually(condition: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "the condition never came true"
        await asyncio.sleep(0.02)


async def test_someone_elses_miss_abroad_asks_both_questions_then_calls_once(
    make_miniapp: MiniAppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with staffed(make_miniapp) as app:
        world = app.world
        now = world.sandbox.now()
        world.sandbox.add_call(direction="in", clid=ABROAD, status="no answer", start=now - 20, end=now)
        await eventually(lambda: any(a.clid == ABROAD for a in world.services.storage.alerts.open_for(GROUP)))
        (alert,) = [a for a in world.services.storage.alerts.open_for(GROUP) if a.clid == ABROAD]
        assert (await post(app, alert.id, "take", as_user=MANAGER)).status == 200
        monkeypatch.setattr(calling, "CONFIRM_AFTER", 0.0)

        owner = await post(app, alert.id, "callback", as_user=ADMIN)
        assert owner.json["confirm"]["question"].endswith("Позвонить клиенту всё равно?")
        abroad = await post(app, alert.id, "callback", as_user=ADMIN, body={"confirm": owner.json["confirm"]["token"]})
        assert abroad.json["confirm"]["question"] == (
            f"🌍 {ABROAD_SHOWN} — номер в другой стране, звонок туда дороже обычного. Позвонить?"
        )
        assert starts(world) == []
        yes = await post(app, alert.id, "callback", as_user=ADMIN, body={"confirm": abroad.json["confirm"]["token"]})
        assert yes.json["ok"] is True, yes.json
        assert [s["dstNumber"] for s in starts(world)] == [ABROAD]
