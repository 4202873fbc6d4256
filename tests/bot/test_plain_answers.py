"""Small answers that say what happened: a second /deny, /board before /subscribe, /sla's range, what a /subscribe
turned off, and no "typing…" after an answer given at once."""

from __future__ import annotations

import time

import pytest

from bot.access.checks import TYPING_AFTER
from tests.bot.conftest import ADMIN, GROUP, MANAGER, STRANGER, World, WorldFactory


def speaking(world: World, language: str) -> None:
    """Everyone's answers in ``language``: the admin's and the manager's private chats, and the group."""
    now = int(time.time())
    for user in (ADMIN, MANAGER):
        world.services.storage.users.set_language(user, language, now=now)  # type: ignore[arg-type]
    world.services.storage.chats.set_language(GROUP, language, now=now)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("language", "revoked", "already"),
    [
        (
            "ru",
            f"⛔ Доступ пользователя {MANAGER} отозван.",
            "Пользователь {} и так без доступа: ничего не изменилось.",
        ),
        ("en", f"⛔ Access of user {MANAGER} revoked.", "User {} already had no access: nothing changed."),
    ],
)
async def test_a_second_deny_says_the_user_already_had_no_access(
    world: World, manager: object, language: str, revoked: str, already: str
) -> None:
    speaking(world, language)
    assert await world.ask(ADMIN, f"/deny {MANAGER}") == revoked
    assert await world.ask(ADMIN, f"/deny {MANAGER}") == already.format(MANAGER)
    await world.ask(ADMIN, f"/deny {STRANGER}")  # someone the bot never knew: kept out from now on
    assert await world.ask(ADMIN, f"/deny {STRANGER}") == already.format(STRANGER)
    denied = world.services.storage.audit.recent(action="user.deny")
    assert sorted(entry.target for entry in denied) == sorted([str(MANAGER), str(STRANGER)])  # once each


@pytest.mark.parametrize(
    ("language", "subscribe_first"),
    [
        ("ru", "Эта группа ещё не подписана на оповещения. Сначала подпишите её: /subscribe"),
        ("en", "This group gets no alerts yet. Subscribe it first: /subscribe"),
    ],
)
async def test_board_and_digest_in_a_group_not_subscribed_say_to_subscribe_first(
    make_world: WorldFactory, language: str, subscribe_first: str
) -> None:
    async with make_world(alert_board=True) as world:
        world.services.storage.chats.subscribe(GROUP, "Sales", [], False, now=1)
        world.services.storage.chats.unsubscribe(GROUP, now=2)  # known, its language set, not subscribed
        speaking(world, language)
        assert await world.ask(ADMIN, "/board", chat_id=GROUP) == subscribe_first
        assert await world.ask(ADMIN, "/digest 09:00", chat_id=GROUP) == subscribe_first
        assert world.sent("pinChatMessage") == []


@pytest.mark.parametrize(
    ("language", "usage"),
    [
        ("ru", "Не понял «-5». Срок — число минут от 0 до 10080: /sla 15, /sla 30; /sla 0 или /sla off — без срока; "
               "/sla — посмотреть, какой сейчас."),
        ("en", "I did not understand “-5”. The deadline is minutes from 0 to 10080: /sla 15, /sla 30; /sla 0 or "
               "/sla off — no deadline; /sla — see the current one."),
    ],
)  # fmt: skip
async def test_the_sla_usage_names_the_zero_it_takes(world: World, language: str, usage: str) -> None:
    await world.ask(ADMIN, "/subscribe", chat_id=GROUP)
    speaking(world, language)
    assert await world.ask(ADMIN, "/sla -5", chat_id=GROUP) == usage
    assert (await world.ask(ADMIN, "/sla 0", chat_id=GROUP)).startswith("⏰")
    assert world.services.storage.chats.get(GROUP).sla_minutes == 0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("language", "turned_off"),
    [
        ("ru", "Выключено: уведомления о балансе, записи разговоров, рабочие телефоны, без звонков короче 5 с — в этой "
               "/subscribe их не было. Оставить и их: /subscribe +7 495 532-55-85 balance records sip min 5"),
        ("en", "Turned off: balance alerts, call recordings, desk phones, leaving out rings under 5 s, as this "
               "/subscribe did not name them. To keep them too: /subscribe +7 495 532-55-85 balance records sip min 5"),
    ],
)  # fmt: skip
async def test_subscribing_again_names_what_it_turned_off_and_how_to_keep_it(
    world: World, language: str, turned_off: str
) -> None:
    await world.ask(ADMIN, "/subscribe balance records sip min 5", chat_id=GROUP)
    speaking(world, language)
    again = await world.ask(ADMIN, "/subscribe +7 495 532-55-85", chat_id=GROUP)
    assert again.splitlines()[1:] == [turned_off]
    chat = world.services.storage.chats.get(GROUP)
    assert chat is not None and (chat.balance_alerts, chat.records, chat.sip, chat.min_ring) == (False, False, False, 0)
    # What it says keeps them all; subscribing as it was turns nothing off, and says nothing of it.
    kept = await world.ask(ADMIN, turned_off.rsplit(": ", 1)[1], chat_id=GROUP)
    assert len(kept.splitlines()) == 5
    assert len((await world.ask(ADMIN, turned_off.rsplit(": ", 1)[1], chat_id=GROUP)).splitlines()) == 5
    chat = world.services.storage.chats.get(GROUP)
    assert chat is not None and (chat.balance_alerts, chat.records, chat.sip, chat.min_ring) == (True, True, True, 5)


@pytest.mark.parametrize("language", ["ru", "en"])
async def test_no_typing_after_a_call_refused_at_once(world: World, manager: object, language: str) -> None:
    speaking(world, language)
    refused = await world.ask(MANAGER, "/call abc")
    assert refused.startswith(("«abc» не похоже на номер телефона", "“abc” does not look like a phone number"))
    await world.ask(MANAGER, "/help")  # the /call was handled before it: a chat action it started would be in by now
    assert world.sent("sendChatAction") == []
    world.sandbox.faults.latency = TYPING_AFTER + 0.3  # one that waits on New-Tel a while shows it
    await world.ask(MANAGER, "/call +7 916 555-44-33")
    assert [c.params["action"] for c in world.sent("sendChatAction", chat_id=MANAGER)] == ["typing"]
