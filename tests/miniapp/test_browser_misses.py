"""The open misses in a real browser (Debian's chromium, a 390×844 phone) against the real bot, its poll and the
sandbox: Take then Call back place exactly one call, and the group's alert changes as if its buttons were pressed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from localchat.phone import HAVE_CHROMIUM, MISSING, Phone, chromium
from tests.bot.conftest import GROUP, MANAGER, eventually
from tests.miniapp.conftest import MiniApp, MiniAppFactory

if not HAVE_CHROMIUM:
    pytest.skip(MISSING, allow_module_level=True)

CUSTOMER, SHOWN = "79035551122", "+7 903 555-11-22"
START_CALL = "call/start-simple-call"


@pytest.fixture(scope="module")
def phone() -> Iterator[Phone]:
    with chromium() as started:
        yield started


async def test_opened_on_a_miss_take_then_call_back_place_one_call_and_edit_the_groups_alert(
    make_miniapp: MiniAppFactory, phone: Phone
) -> None:
    async with make_miniapp(jobs=True, poll_interval=0.3) as miniapp:
        alert = await an_open_miss(miniapp)
        # Opened from the group alert's link (t.me/<bot>/<app>?startapp=alert-<id>): on that miss, focused.
        await phone.open(miniapp.url, miniapp.init_data(MANAGER, start_param=f"alert-{alert['id']}"))
        item = f'#misses-list .miss[data-id="{alert["id"]}"]'
        assert SHOWN in await phone.text(f"{item}.wanted")
        assert await phone.js("return document.getElementById('tab-misses').getAttribute('aria-selected')") == "true"
        assert await phone.js("return document.activeElement.dataset.action") == "take"

        await phone.click(f'{item} [data-action="take"]')
        await phone.text(item, "Взял(а): ")  # the server's state, drawn again
        await edited(miniapp, alert, "👤 Взял(а): ")  # the group's alert, as if its button had been pressed

        await phone.click(f'{item} [data-action="callback"]')
        await edited(miniapp, alert, "✅ Перезвонил(а)")  # placed, answered, over: the alert says so
        starts = miniapp.world.newtel_requests(START_CALL)
        assert [r.params["dstNumber"] for r in starts] == [CUSTOMER]
        await phone.until(lambda d: d.execute_script(f"return !document.querySelector('{item}')"))  # closed: gone
        assert len(miniapp.world.newtel_requests(START_CALL)) == 1


async def edited(miniapp: MiniApp, alert: dict[str, Any], contains: str) -> None:
    """Waits until the bot has edited the group's alert to say ``contains``."""
    message_id = alert["message"]["message_id"]
    await miniapp.world.tg.wait_for(
        "editMessageText", chat_id=GROUP, since=0, timeout=10, ok=True,
        predicate=lambda c: c.params.get("message_id") == message_id and contains in c.params.get("text", ""),
    )  # fmt: skip


async def an_open_miss(miniapp: MiniApp) -> dict[str, Any]:
    """A missed call alerted in the group (the poll's own alert), and the manager who may act on it."""
    world = miniapp.world
    world.make_manager()
    world.services.storage.chats.subscribe(GROUP, "Sales", [], False, now=1)
    poll = world.app.bot_data.need_poller()
    await poll.wait_cycles(1)  # the first poll sets the baseline: the day's history is not news
    now = world.sandbox.now()
    world.sandbox.add_call(direction="in", clid=CUSTOMER, status="no answer", start=now - 25, end=now)
    sent = await world.tg.wait_for(
        "sendMessage", chat_id=GROUP, ok=True, since=0, predicate=lambda c: SHOWN in c.params.get("text", "")
    )
    message_id = sent.result["message_id"]
    alerts = world.services.storage.alerts
    await eventually(lambda: alerts.by_message(GROUP, message_id) is not None)  # noted once Telegram answered
    alert, message = alerts.by_message(GROUP, message_id), world.tg.message(GROUP, message_id)
    assert alert is not None and message is not None
    return {"id": alert.id, "message": message}
