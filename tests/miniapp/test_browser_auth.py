"""Who may open the page, in a real browser (Debian's chromium, a 390×844 phone) against the real bot: a tampered
initData and an expired one get 401, a stranger's valid one 403, and the page says so in the server's words instead
of going blank."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest

from localchat.phone import HAVE_CHROMIUM, MISSING, Phone, chromium
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
