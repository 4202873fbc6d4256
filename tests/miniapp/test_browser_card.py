"""The customer card's Call back in a real browser (Debian's chromium, a 390×844 phone) against the real bot and the
sandbox: one press places exactly one call; a second press moments later is asked first in Telegram's dialog, and
places nothing on "no" and one more call on "yes"; someone with no phone of their own is told why instead."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.calls import calling
from localchat.phone import HAVE_CHROMIUM, MISSING, Phone, chromium
from tests.bot.conftest import ADMIN, MANAGER
from tests.miniapp.conftest import MiniApp
from tests.miniapp.test_browser_journal import AS_TYPED, CUSTOMER, customer_with_two_calls

if not HAVE_CHROMIUM:
    pytest.skip(MISSING, allow_module_level=True)

START_CALL = "call/start-simple-call"
ANSWER = "window.Telegram.WebApp.showConfirm = function (message, callback) { this.asked.push(message); callback(%s); }"


@pytest.fixture(scope="module")
def phone() -> Iterator[Phone]:
    with chromium() as started:
        yield started


async def open_card(miniapp: MiniApp, phone: Phone, user: int) -> None:
    """The page as ``user`` opens it, the customer found by their number as typed and their card opened."""
    await phone.open(miniapp.url, miniapp.init_data(user))
    await phone.type("#journal-q", AS_TYPED)
    await phone.until(lambda d: d.execute_script("return document.querySelectorAll('#journal-rows .call').length == 2"))
    await phone.click("#journal-rows .call button")
    await phone.shown("#card-title")


async def test_call_back_on_the_card_places_one_call_and_asks_before_another(
    miniapp: MiniApp, phone: Phone, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = miniapp.world
    world.make_manager(MANAGER)
    await customer_with_two_calls(world)
    monkeypatch.setattr(calling, "CONFIRM_AFTER", 0.0)  # the stubbed dialog answers at once, no person is that quick

    def placed() -> list[str]:
        return [request.params["dstNumber"] for request in world.newtel_requests(START_CALL)]

    await open_card(miniapp, phone, MANAGER)
    await phone.click("#card-call")
    assert (await phone.text("#toast", "Звоню")).startswith("📞 Звоню: сначала зазвонит ваш телефон")
    assert placed() == [CUSTOMER]
    assert await phone.js("return window.Telegram.WebApp.asked") == []

    # Pressed again moments later: asked in Telegram's dialog; "no" places nothing.
    await phone.js(ANSWER % "false")
    await phone.until(lambda d: d.execute_script("return !document.getElementById('card-call').disabled"))
    await phone.click("#card-call")
    (question,) = await phone.until(lambda d: d.execute_script("return window.Telegram.WebApp.asked"))
    assert question.startswith("📞 Этому клиенту только что звонили (") and question.endswith("Позвонить ещё раз?")
    await phone.until(lambda d: d.execute_script("return !document.getElementById('card-call').disabled"))
    assert placed() == [CUSTOMER]

    # "Yes": the page posts again with the question's token, and that one call is placed.
    await phone.js(ANSWER % "true")
    await phone.click("#card-call")
    await phone.until(lambda d: len(d.execute_script("return window.Telegram.WebApp.asked")) == 2)
    await phone.until(lambda d: d.execute_script("return !document.getElementById('card-call').disabled"))
    assert placed() == [CUSTOMER, CUSTOMER]
    assert "Звоню" in await phone.text("#toast")


async def test_without_a_phone_of_ones_own_the_card_says_so_instead(miniapp: MiniApp, phone: Phone) -> None:
    await customer_with_two_calls(miniapp.world)
    await open_card(miniapp, phone, ADMIN)  # the admin of the settings: no member, no phone
    said = await phone.text("#card-no-call")
    assert said == "Не знаю, на какой телефон вам звонить. Укажите его боту в личном чате: /phone +7 …"
    assert await phone.js("return document.getElementById('card-call')") is None
