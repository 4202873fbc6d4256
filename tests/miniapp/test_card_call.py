"""The customer card's Call back, through the Mini App's API over loopback: the real Application between the New-Tel
sandbox and the fake Bot API. It is /call's call (the same checks, the same questions, placed once and audited), asked
again before a second call to a customer a card called moments ago (a double press, two people at once), and the
desk's call back when the customer's miss is open (the group's alert shows it, nobody calls twice)."""

from __future__ import annotations

import asyncio

import pytest

from bot.alerts import desk
from bot.calls import calling
from tests.bot.conftest import ADMIN, MANAGER, MANAGER2, MEMBER_NAME, MEMBER_PERSONAL, STRANGER
from tests.bot.test_alerts import CUSTOMER as MISSED
from tests.bot.test_new_user import ABROAD, ABROAD_SHOWN
from tests.bot.test_owner import alert_message, shown_with, starts, the_alert
from tests.conftest import at_noon
from tests.miniapp.conftest import Answer, MiniApp, MiniAppFactory
from tests.miniapp.test_misses import eventually, staffed

pytestmark = at_noon
CUSTOMER, CUSTOMER_SHOWN = "79161234567", "+7 916 123-45-67"
OTHER_NAME = "Попов Сергей"  # the sandbox member with internal number 100
START = "call/start-simple-call"


async def call(app: MiniApp, number: str = CUSTOMER, *, as_user: int, confirm: str | None = None) -> Answer:
    body = {} if confirm is None else {"confirm": confirm}
    return await app.request("POST", f"/app/api/customer/{number}/callback", as_user=as_user, body=body)


async def test_call_back_on_the_card_places_one_call_as_call_does(miniapp: MiniApp) -> None:
    world = miniapp.world
    world.make_manager(MANAGER)
    card = await miniapp.get(f"/app/api/customer/{CUSTOMER}", as_user=MANAGER)
    assert (card.json["may_call"], card.json["no_call_reason"]) == (True, None)

    called = await call(miniapp, as_user=MANAGER)
    assert called.status == 200 and called.headers["Cache-Control"] == "no-store"
    assert called.json["ok"] is True, called.json
    assert called.json["message"].startswith(
        f"📞 Звоню: сначала зазвонит ваш телефон +7 974 714-48-54, затем соединю с {CUSTOMER_SHOWN}."
    )
    assert [(s["srcNumber"], s["dstNumber"]) for s in starts(world)] == [(MEMBER_PERSONAL, CUSTOMER)]
    (audited,) = world.services.storage.audit.recent(action="call.start")
    assert (audited.actor_id, audited.target, audited.details["origin"], audited.details["outcome"]) == (
        MANAGER, CUSTOMER, "card", "started",
    )  # fmt: skip


async def test_two_presses_at_once_place_one_call_and_the_other_is_asked(
    miniapp: MiniApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = miniapp.world
    world.make_manager(MANAGER)
    world.make_manager(MANAGER2, internal="100")
    first, second = await asyncio.gather(call(miniapp, as_user=MANAGER), call(miniapp, as_user=MANAGER2))
    assert len(starts(world)) == 1
    assert sorted([first.json["ok"], second.json["ok"]]) == [False, True], (first.json, second.json)
    placed, asked = (first, second) if first.json["ok"] else (second, first)
    caller = MEMBER_NAME if placed is first else OTHER_NAME
    question = asked.json["confirm"]["question"]
    assert question.startswith(f"📞 Этому клиенту только что звонили ({caller}, ") and question.endswith(
        "). Позвонить ещё раз?"
    )
    # The same person again, moments later (the page's button pressed twice): asked, nothing placed.
    again = await call(miniapp, as_user=MANAGER)
    assert again.json["ok"] is False and "confirm" in again.json and len(starts(world)) == 1


async def test_a_question_is_answered_only_by_its_token(miniapp: MiniApp, monkeypatch: pytest.MonkeyPatch) -> None:
    world = miniapp.world
    world.make_manager(MANAGER)
    world.make_manager(MANAGER2, internal="100")
    assert (await call(miniapp, as_user=MANAGER)).json["ok"] is True
    asked = await call(miniapp, as_user=MANAGER2)
    token = asked.json["confirm"]["token"]
    monkeypatch.setattr(calling, "CONFIRM_AFTER", 0.0)  # a considered answer, not a double tap
    # Asking again without the page's yes is no answer: asked anew.
    again = await call(miniapp, as_user=MANAGER2)
    assert again.json["ok"] is False and "confirm" in again.json
    # The yes is that person's, for this customer: nobody else's answer, nor another customer's, nor a forged one.
    theirs = await call(miniapp, as_user=MANAGER, confirm=token)
    assert (theirs.status, theirs.json["error"]) == (400, "bad_input")
    elsewhere = await call(miniapp, "79161234568", as_user=MANAGER2, confirm=token)
    assert (elsewhere.status, elsewhere.json["error"]) == (400, "bad_input")
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert (await call(miniapp, as_user=MANAGER2, confirm=forged)).status == 400
    assert len(starts(world)) == 1

    yes = await call(miniapp, as_user=MANAGER2, confirm=again.json["confirm"]["token"])
    assert yes.json["ok"] is True, yes.json
    assert [s["dstNumber"] for s in starts(world)] == [CUSTOMER, CUSTOMER]  # the second, asked for and answered


async def test_a_customer_abroad_is_called_after_the_pages_yes(
    miniapp: MiniApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = miniapp.world
    world.make_manager(MANAGER)
    monkeypatch.setattr(calling, "CONFIRM_AFTER", 0.0)
    asked = await call(miniapp, ABROAD, as_user=MANAGER)
    assert asked.json["confirm"]["question"] == (
        f"🌍 {ABROAD_SHOWN} — номер в другой стране, звонок туда дороже обычного. Позвонить?"
    )
    assert (await call(miniapp, ABROAD, as_user=MANAGER)).json["ok"] is False  # no token: asked again
    assert starts(world) == []
    yes = await call(miniapp, ABROAD, as_user=MANAGER, confirm=asked.json["confirm"]["token"])
    assert yes.json["ok"] is True, yes.json
    assert [s["dstNumber"] for s in starts(world)] == [ABROAD]


async def test_refusals_say_why_and_place_nothing(miniapp: MiniApp) -> None:
    world = miniapp.world
    # An admin with no phone of their own: the card says so instead of offering the call, and a call is refused.
    card = await miniapp.get(f"/app/api/customer/{CUSTOMER}", as_user=ADMIN)
    no_phone = "Не знаю, на какой телефон вам звонить. Укажите его боту в личном чате: /phone +7 …"
    assert (card.json["may_call"], card.json["no_call_reason"]) == (False, no_phone)
    refused = await call(miniapp, as_user=ADMIN)
    assert (refused.status, refused.json) == (409, {"error": "conflict", "message": no_phone})

    stranger = await call(miniapp, as_user=STRANGER)
    assert (stranger.status, stranger.json["error"]) == (403, "stranger")
    world.make_manager(MANAGER)
    world.services.storage.users.deny(MANAGER, now=4)
    denied = await call(miniapp, as_user=MANAGER)
    assert (denied.status, denied.json["error"]) == (403, "stranger")

    world.make_manager(MANAGER2, internal="100")
    bad = await call(miniapp, "12", as_user=MANAGER2)
    assert (bad.status, bad.json["error"]) == (400, "bad_input")
    unlike = await call(miniapp, "70000000000", as_user=MANAGER2)
    assert unlike.status == 409 and "не похоже на номер телефона" in unlike.json["message"]
    malformed = await miniapp.request(
        "POST", f"/app/api/customer/{CUSTOMER}/callback", as_user=MANAGER2, body=["confirm"]
    )
    assert (malformed.status, malformed.json["error"]) == (400, "bad_input")
    assert starts(world) == [] and world.services.storage.audit.recent(action="call.start") == []


async def test_a_call_whose_asker_goes_away_is_placed_once_and_recorded(miniapp: MiniApp) -> None:
    world = miniapp.world
    user = world.make_manager(MANAGER)
    world.sandbox.faults.latency = 0.3
    asking = asyncio.ensure_future(desk.call_customer(world.services, user, CUSTOMER, answers=frozenset()))
    await eventually(lambda: len(starts(world)) == 1)  # the start is on its way to New-Tel
    asking.cancel()  # the page was closed, the request dropped
    audit = world.services.storage.audit

    def recorded() -> bool:
        return [entry.details["outcome"] for entry in audit.recent(action="call.start")] == ["started"]

    await eventually(recorded)
    world.sandbox.faults.latency = 0.0
    # The call it placed still counts: the next press is asked first.
    assert (await call(miniapp, as_user=MANAGER)).json["ok"] is False
    assert len(starts(world)) == 1


async def test_an_open_miss_is_called_back_through_the_desk(make_miniapp: MiniAppFactory) -> None:
    async with staffed(make_miniapp) as app:
        world = app.world
        message = await alert_message(world)
        called = await call(app, MISSED, as_user=MANAGER)
        assert called.json == {"ok": True, "message": "Звоню: сначала зазвонит ваш телефон, затем соединю с клиентом."}
        # The group's alert shows the call back, as if its button had been pressed there.
        await shown_with(world, message, lambda text: f"✅ Перезвонил(а) {MEMBER_NAME}" in text)
        assert [s["dstNumber"] for s in starts(world)] == [MISSED]
        assert the_alert(world, message).callback_by == MANAGER


async def test_someone_elses_miss_is_called_from_the_card_only_with_the_pages_yes(
    make_miniapp: MiniAppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with staffed(make_miniapp) as app:
        world = app.world
        message = await alert_message(world)
        alert_id = the_alert(world, message).id
        taken = await app.request("POST", f"/app/api/misses/{alert_id}/take", as_user=MANAGER, body={})
        assert taken.status == 200
        asked = await call(app, MISSED, as_user=ADMIN)
        question = asked.json["confirm"]["question"]
        assert question == f"{MEMBER_NAME} взял(а) это уведомление. Позвонить клиенту всё равно?"
        assert starts(world) == []
        monkeypatch.setattr(calling, "CONFIRM_AFTER", 0.0)
        yes = await call(app, MISSED, as_user=ADMIN, confirm=asked.json["confirm"]["token"])
        assert yes.json["ok"] is True, yes.json
        await shown_with(world, message, lambda text: f"✅ Перезвонил(а) {OTHER_NAME}" in text)
        assert len(starts(world)) == 1


async def test_newtel_refusing_is_502_in_words_and_an_uncertain_start_is_said_as_such(miniapp: MiniApp) -> None:
    world = miniapp.world
    world.make_manager(MANAGER)
    world.sandbox.faults.fail(status=400, methods={START}, message="Invalid parameter: dstNumber")
    refused = await call(miniapp, as_user=MANAGER)
    assert (refused.status, refused.json["error"]) == (502, "newtel_failed") and "Нью-Тел" in refused.json["message"]
    # Nothing rang: the next press is no "call again?" but the call.
    world.sandbox.faults.disconnect(methods={START})  # the start may have reached New-Tel
    uncertain = await call(miniapp, as_user=MANAGER)
    assert uncertain.json == {
        "ok": True,
        "message": "⚠️ «Нью-Тел» не подтвердил звонок. Он мог всё же начаться: подождите минуту, не зазвонит ли ваш "
        "телефон +7 974 714-48-54, прежде чем звонить снова.",
    }
    assert len(starts(world)) == 2  # one each: an uncertain start is never repeated
    # It may ring: the next press is asked first.
    assert (await call(miniapp, as_user=MANAGER)).json["ok"] is False and len(starts(world)) == 2
