"""The page in a real browser (Debian's chromium, a 390×844 phone) against the real bot over loopback: the journal's
search by a number as people type it, the customer's card with their calls, a recording playing in it, and the
page's weight."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from bot.contacts import importing, names
from bot.miniapp import auth
from localchat.phone import HAVE_CHROMIUM, MISSING, Phone, chromium
from storage.erasure import erase
from tests.bot.conftest import ADMIN, World
from tests.miniapp.conftest import MiniApp

if not HAVE_CHROMIUM:
    pytest.skip(MISSING, allow_module_level=True)

CUSTOMER, NAME = "79161234567", "Смирнов Алексей"
AS_TYPED = "8 (916) 123-45-67"
PAGE_BUDGET = 200 * 1024  # bytes transferred, the bound


@pytest.fixture(scope="module")
def phone() -> Iterator[Phone]:
    with chromium() as started:
        yield started


def journal(driver: WebDriver) -> list[WebElement]:
    return driver.find_elements(By.CSS_SELECTOR, "#journal-rows .call")  # type: ignore[no-any-return]


async def archived(world: World) -> None:
    """The sandbox's day, taken into the archive (what the poll does)."""
    world.services.ingest.take(await world.services.newtel.vpbx.get_calls(), int(time.time()))


async def customer_with_two_calls(world: World) -> None:
    """A named customer who called twice (missed, then answered and recorded), among the sandbox's day of others."""
    now = world.sandbox.now()
    world.sandbox.add_call(direction="in", clid=CUSTOMER, status="no answer", start=now - 3600, end=now - 3570)
    world.sandbox.add_call(
        direction="in", clid=CUSTOMER, status="answered", start=now - 600, answer=now - 590, end=now - 470
    )
    await archived(world)
    world.services.storage.contacts.set(CUSTOMER, NAME, by=ADMIN, now=int(now))


async def test_a_number_as_typed_finds_the_customer_whose_card_lists_their_calls_and_plays_a_recording(
    miniapp: MiniApp, phone: Phone
) -> None:
    await customer_with_two_calls(miniapp.world)
    await phone.open(miniapp.url, miniapp.init_data(ADMIN))
    everyone = len(await phone.until(journal))
    assert everyone > 2  # the day's other calls first

    await phone.type("#journal-q", AS_TYPED)
    found = await phone.until(lambda d: len(rows := journal(d)) == 2 and [row.text for row in rows])
    assert all(NAME in row for row in found), found

    await phone.click("#journal-rows .call button")
    assert await phone.text("#card-title") == NAME
    assert "+7 916 123-45-67" in await phone.text("#card-body .sub")
    assert await phone.js("return document.querySelector('#card-body .sub a').href") == f"tel:+{CUSTOMER}"
    sizes = "return ['input[name=name]', 'textarea[name=note]'].map(s => document.querySelector(s).maxLength)"
    assert await phone.js(sizes) == [importing.MAX_NAME, names.MAX_NOTE]  # the server's bounds, not more
    calls = await phone.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#card-body .call"))
    assert len(calls) == 2

    audio = await phone.shown("#card-body audio")
    assert audio.get_attribute("preload") == "none"  # a card's open fetches no recording; the press does
    await phone.js("arguments[0].play().catch(() => {})", audio)
    playing = "const a = arguments[0]; return a.readyState >= 2 && a.duration > 0 && [a.readyState, a.duration]"
    ready, duration = await phone.until(lambda d: d.execute_script(playing, audio))
    assert ready >= 2 and duration > 0


async def test_a_card_with_several_recordings_fetches_only_the_one_played(miniapp: MiniApp, phone: Phone) -> None:
    world = miniapp.world
    now = world.sandbox.now()
    for ago in (900, 600, 300):
        world.sandbox.add_call(
            direction="in", clid=CUSTOMER, status="answered", start=now - ago, answer=now - ago + 10, end=now - ago + 60
        )
    await archived(world)
    await phone.open(miniapp.url, miniapp.init_data(ADMIN))
    await phone.type("#journal-q", AS_TYPED)
    await phone.until(lambda d: len(journal(d)) == 3)
    await phone.click("#journal-rows .call button")
    players = await phone.until(
        lambda d: len(found := d.find_elements(By.CSS_SELECTOR, "#card-body audio")) == 3 and found
    )

    await phone.js("arguments[0].play().catch(() => {})", players[0])
    playing = "const a = arguments[0]; return a.readyState >= 2 && a.duration > 0"
    await phone.until(lambda d: d.execute_script(playing, players[0]))
    loaded = "return arguments[0].map(a => a.readyState)"
    assert (await phone.js(loaded, players))[1:] == [0, 0]  # the others asked for nothing
    links = world.sandbox.traffic.get("vpbx/get-call-record-link")
    assert links is not None and links.requests == 1
    assert len(world.services.storage.audit.recent(action="record.fetch")) == 1


async def open_the_card(miniapp: MiniApp, phone: Phone) -> WebElement:
    """The customer's card (two calls, one recorded) open on the phone; its player."""
    await phone.open(miniapp.url, miniapp.init_data(ADMIN))
    await phone.type("#journal-q", AS_TYPED)
    await phone.until(lambda d: len(journal(d)) == 2)
    await phone.click("#journal-rows .call button")
    return await phone.shown("#card-body audio")


PLAYING = "const a = arguments[0]; return a.readyState >= 2 && a.duration > 0"


async def test_a_recording_that_cannot_play_says_why_in_the_servers_words(miniapp: MiniApp, phone: Phone) -> None:
    await customer_with_two_calls(miniapp.world)
    player = await open_the_card(miniapp, phone)
    link = player.get_attribute("src").removeprefix(miniapp.base)  # (the absolute URL)
    erase(miniapp.world.settings.database_path, CUSTOMER, by=ADMIN, now=int(time.time()))  # /forget meanwhile
    await phone.js("arguments[0].play().catch(() => {})", player)
    said = await phone.text("#card-body .media-failed")
    assert said == (await miniapp.get(link, as_user=ADMIN)).json["message"] == "У этого звонка нет записи разговора."


async def test_a_recording_whose_link_expired_plays_from_a_new_one(
    miniapp: MiniApp, phone: Phone, monkeypatch: pytest.MonkeyPatch
) -> None:
    await customer_with_two_calls(miniapp.world)
    monkeypatch.setattr(auth, "LINK_SECONDS", -1)  # the card's links are past their time when used
    player = await open_the_card(miniapp, phone)
    monkeypatch.setattr(auth, "LINK_SECONDS", 600)
    await phone.js("const now = Date.now; Date.now = () => now() + 11 * 60 * 1000;")  # the card open 11 min
    await phone.js("arguments[0].play().catch(() => {})", player)
    await phone.until(lambda d: d.execute_script(PLAYING, player))
    assert not phone.driver.find_elements(By.CSS_SELECTOR, "#card-body .media-failed")


async def test_the_page_weighs_at_most_200_kb_breaks_no_csp_rule_and_loads_telegrams_script_first(
    miniapp: MiniApp, phone: Phone
) -> None:
    await archived(miniapp.world)
    await phone.open(miniapp.url, miniapp.init_data(ADMIN))
    await phone.shown("#journal-rows .call")
    await phone.until(lambda d: d.execute_script("return performance.getEntriesByName('journal-rows').length"))
    loaded = await phone.js(
        "return [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]"
        ".map(e => [e.name, e.transferSize, e.encodedBodySize])"
    )
    transferred = sum(size for _, size, _ in loaded)
    assert 0 < transferred <= PAGE_BUDGET, loaded
    assert all(body <= size for _, size, body in loaded), loaded  # the cache is off: every byte was on the wire
    assert await phone.js("return window.refusedByCsp") == []  # nothing inline: the strict CSP blocks nothing
    scripts = await phone.js("return [...document.scripts].map(s => [s.src, s.type])")
    assert scripts[0] == ["https://telegram.org/js/telegram-web-app.js", ""]
    assert scripts[1][0].endswith("/app/static/app.js") and scripts[1][1] == "module"


async def test_the_page_wears_telegrams_theme_else_the_systems_light_or_dark(miniapp: MiniApp, phone: Phone) -> None:
    def colours() -> Any:
        return phone.js("const s = getComputedStyle(document.body); return [s.backgroundColor, s.color]")

    telegrams = {"secondary_bg_color": "#0a0b0c", "text_color": "#fafafa", "bg_color": "#102030"}
    await phone.open(miniapp.url, miniapp.init_data(ADMIN), theme=telegrams)
    await phone.shown("#journal-q")
    assert await colours() == ["rgb(10, 11, 12)", "rgb(250, 250, 250)"]
    for scheme, expected in (
        ("dark", ["rgb(35, 46, 60)", "rgb(245, 245, 245)"]),
        ("light", ["rgb(240, 242, 245)", "rgb(17, 17, 17)"]),
    ):
        await phone.cdp("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": scheme}]})
        try:
            await phone.open(miniapp.url, miniapp.init_data(ADMIN))  # outside Telegram: no theme
            await phone.shown("#journal-q")
            assert await colours() == expected, scheme
        finally:
            await phone.cdp("Emulation.setEmulatedMedia", {"features": []})
