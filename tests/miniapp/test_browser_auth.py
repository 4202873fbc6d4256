"""Who may open the page, in a real browser (Debian's chromium, a 390×844 phone) against the real bot: a tampered
initData and an expired one get 401, a stranger's valid one 403, and the page says so in the server's words instead
of going blank."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from aiohttp import web

from bot.miniapp import auth, server
from bot.texts import CATALOGS
from localchat.demo import free_port
from localchat.phone import HAVE_CHROMIUM, MISSING, Phone, chromium
from localchat.settings import TOKEN
from tests.bot.conftest import ADMIN, STRANGER
from tests.miniapp.conftest import MiniApp

if not HAVE_CHROMIUM:
    pytest.skip(MISSING, allow_module_level=True)


@pytest.fixture(scope="module")
def phone() -> Iterator[Phone]:
    with chromium() as started:
        yield started


def tampered(init_data: str) -> str:
    """The same signed data with the user's id changed (to an admin's), the hash left as it was."""
    pairs = [(k, v.replace(f'"id":{STRANGER}', f'"id":{ADMIN}') if k == "user" else v) for k, v in parse_qsl(init_data)]
    changed = urlencode(pairs)
    assert changed != init_data
    return changed


async def refused(miniapp: MiniApp, phone: Phone, init_data: str) -> tuple[int, str]:
    """The status the page's /me got and the words it shows for it."""
    await phone.open(miniapp.url, init_data)
    shown = await phone.text("#shut-message")
    status = await phone.until(
        lambda d: d.execute_script(
            "const me = performance.getEntriesByType('resource').find(e => e.name.endsWith('/app/api/me'));"
            "return me && me.responseStatus"
        )
    )
    return status, shown


def expired(miniapp: MiniApp) -> str:
    """An admin's, signed right, but past MINIAPP_AUTH_MAX_AGE (an hour)."""
    return miniapp.init_data(ADMIN, auth_date=int(time.time()) - 3601)


@pytest.mark.parametrize(
    ("signed", "status", "code"),
    [
        pytest.param(lambda app: tampered(app.init_data(STRANGER)), 401, "auth_invalid", id="tampered"),
        pytest.param(expired, 401, "auth_expired", id="expired"),
        pytest.param(lambda app: app.init_data(STRANGER), 403, "stranger", id="stranger"),
    ],
)
async def test_the_page_says_in_words_why_it_is_refused(
    miniapp: MiniApp, phone: Phone, signed: Any, status: int, code: str
) -> None:
    init_data = signed(miniapp)
    got, shown = await refused(miniapp, phone, init_data)
    expected = (await miniapp.get("/app/api/me", init_data=init_data)).json
    assert (got, expected["error"]) == (status, code)
    assert shown == expected["message"] and len(shown.split()) >= 3, shown  # words, not a code or a blank page
    assert await phone.js("return document.getElementById('app').hidden") is True


async def bad_gateway(request: web.Request) -> web.Response:
    return web.Response(status=502, text="<html><body><h1>502 Bad Gateway</h1></body></html>", content_type="text/html")


@pytest.mark.parametrize("lang", ["ru", "en"])
async def test_a_proxys_502_before_the_texts_arrive_is_said_in_words_of_the_users_language(
    phone: Phone, lang: str
) -> None:
    """The page from a proxy whose bot is restarting: its API answers are a proxy's HTML, not the bot's JSON."""
    proxy = web.Application()

    async def index(_: web.Request) -> web.FileResponse:
        return web.FileResponse(server.STATIC / "index.html")

    proxy.router.add_get("/app/", index)
    proxy.router.add_static("/app/static/", server.STATIC)
    proxy.router.add_route("*", "/app/api/{path:.*}", bad_gateway)
    runner = web.AppRunner(proxy)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await phone.open(f"http://127.0.0.1:{port}/app/", auth.init_data_for(ADMIN, TOKEN, language_code=lang))
        assert await phone.text("#shut-message") == CATALOGS[lang]["app_error_server"]
    finally:
        await runner.cleanup()


def test_the_words_the_page_knows_before_its_texts_are_the_catalogs() -> None:
    page = (server.STATIC / "app.js").read_text()
    for lang in ("ru", "en"):
        for key in ("app_error_network", "app_error_server"):
            assert f'{key}: "{CATALOGS[lang][key]}"' in page, (lang, key)
