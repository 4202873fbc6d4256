"""The live watch end to end: ringing cards, misses alerted within seconds, short calls the reconcile catches, the
doorbell and the one limit on New-Tel's requests (the real Application between the sandbox and the fake Bot API)."""

from __future__ import annotations

import asyncio
import functools
import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot import ratelimit
from bot.app import build_application, running
from bot.watch import live as live_module
from tests.bot.conftest import ADMIN, GROUP, MANAGER, MANAGER2, World, WorldFactory, make_settings
from tests.bot.conftest import eventually as shared_eventually

CUSTOMER, OTHER = "79161234567", "79037654321"
LIVE = 0.3  # seconds between live checks in these tests


def quiet(sandbox: Any) -> None:
    """Only the test's own calls ring: the demo company's calls in progress ended a while ago (not in the second the
    first start takes as its baseline, which would make one of them news)."""
    for call in sandbox.company.active_calls(sandbox.now()):
        sandbox.end_call(call, at=sandbox.now() - 5)


def cards(world: World, user_id: int) -> list[dict[str, Any]]:
    return [m for m in world.tg.chat(user_id) if "На номер:" in m["text"]]


eventually = functools.partial(shared_eventually, timeout=5.0)  # the live watch's bound


@pytest.fixture
async def live(make_world: WorldFactory, sandbox: Any) -> AsyncIterator[World]:
    """A live watch every LIVE seconds, the poll left to the test; a group subscribed, MANAGER on desk phone 101;
    only the test's own calls ring."""
    quiet(sandbox)
    async with make_world(jobs=True, live_interval=LIVE, poll_interval=3600) as world:
        world.make_manager(MANAGER, internal="101")
        world.services.storage.chats.subscribe(GROUP, "Sales", [], False, now=int(time.time()) - 60)
        await world.app.bot_data.need_poller().wait_cycles(1)  # the first reconcile: the day so far is not news
        yield world


def ring(world: World, clid: str = CUSTOMER, *, answer_in: float | None, end_in: float, by: str = "101") -> Any:
    """An inbound call ringing the sales phones (100-102) now: answered by ``by`` after ``answer_in`` s, or not."""
    now = world.sandbox.now()
    answer = None if answer_in is None else now + answer_in
    return world.sandbox.add_call(
        direction="in", clid=clid, status="answered" if answer else "no answer", start=now, answer=answer,
        end=now + end_in, active=True, answered_numbers=(by,) if answer else (),
    )  # fmt: skip


async def test_a_card_follows_the_call_through_ringing_answer_and_end(live: World) -> None:
    started = time.monotonic()
    ring(live, answer_in=1.2, end_in=2.4)
    card_call = await live.tg.wait_for("sendMessage", chat_id=MANAGER, ok=True, timeout=5)
    assert time.monotonic() - started <= LIVE + 2  # by the live watch (bench/live.py measures the real bound)
    text = live.tg.message(MANAGER, card_call.result["message_id"])["text"]  # type: ignore[index]
    assert text.startswith("📞 Звонит +7 916 123-45-67")
    assert "🆕 новый номер" in text and "На номер: +7 " in text

    def shown() -> str:
        return live.tg.message(MANAGER, card_call.result["message_id"])["text"]  # type: ignore[index]

    await eventually(lambda: shown().startswith("✅ Вы ответили: +7 916 123-45-67"))
    await eventually(lambda: shown().startswith("✅ Вы поговорили с +7 916 123-45-67: 0:0"))  # 1-2 s by the clock
    edits = live.tg.message(MANAGER, card_call.result["message_id"])["edit_count"]  # type: ignore[index]
    await asyncio.sleep(LIVE * 4)  # over: never edited again, never a second card
    assert live.tg.message(MANAGER, card_call.result["message_id"])["edit_count"] == edits  # type: ignore[index]
    assert len(cards(live, MANAGER)) == 1
    assert not [c for c in live.sent("sendMessage", GROUP) if c.ok]  # answered: no alert


async def test_a_missed_call_is_alerted_within_the_interval_and_its_card_offers_a_call_back(live: World) -> None:
    live.make_manager(MANAGER2, internal="105")  # a phone that is not in the ringing group: no card
    call = ring(live, answer_in=None, end_in=1.0)
    card = await live.tg.wait_for("sendMessage", chat_id=MANAGER, ok=True, timeout=5)
    alert = await live.tg.wait_for("sendMessage", chat_id=GROUP, ok=True, timeout=5)
    assert time.time() - call.end <= LIVE + 2  # within seconds (bench/live.py measures the real bound)
    assert "+7 916 123-45-67" in alert.params["text"]

    def shown() -> dict[str, Any]:
        return live.tg.message(MANAGER, card.result["message_id"])  # type: ignore[return-value]

    await eventually(lambda: shown()["text"].startswith("📵 Пропущен в "))
    (button,) = [b for row in shown()["reply_markup"]["inline_keyboard"] for b in row]
    assert button["text"] == "📞 Перезвонить"
    assert live.tg.chat(MANAGER2) == []
    # The reconcile, later, neither repeats the alert nor asks for the call again.
    await live.app.bot_data.need_poller().poll_once(live.app.bot)
    assert len([c for c in live.sent("sendMessage", GROUP) if c.ok]) == 1


async def test_notify_off_means_no_card(live: World) -> None:
    assert (await live.ask(MANAGER, "/notify off")).startswith("🔕 Готово")
    assert (await live.ask(MANAGER, "/notify")).startswith("🔕 Карточки входящих звонков выключены")
    assert (await live.ask(MANAGER, "/notify maybe")).startswith("Не понял «maybe»")
    ring(live, answer_in=None, end_in=0.8)
    await live.tg.wait_for("sendMessage", chat_id=GROUP, ok=True, timeout=5)  # the miss is still alerted
    assert cards(live, MANAGER) == []
    assert (await live.ask(MANAGER, "/notify on")).startswith("🔔 Готово")


async def test_a_card_telegram_holds_back_keeps_the_live_watch_looking(live: World) -> None:
    held = 6  # seconds Telegram asks the manager's chat to wait: within a request's budget (bot.ratelimit)
    live.tg.faults.fail(status=429, methods={"sendMessage"}, chat_id=MANAGER, retry_after=held)
    watch = live.app.bot_data.live
    assert watch is not None
    ring(live, answer_in=None, end_in=held + 3)
    refused = await live.tg.wait_for("sendMessage", chat_id=MANAGER, timeout=5)  # the card: the chat is held
    await watch.wait_checks(3, timeout=held / 2)  # the live watch goes on looking meanwhile
    card = await live.tg.wait_for("sendMessage", chat_id=MANAGER, ok=True, timeout=held + 5)
    assert card.time - refused.time >= held  # waited out in the manager's own lane
    assert len(cards(live, MANAGER)) == 1


async def test_two_calls_ringing_at_once_are_both_on_the_card(live: World) -> None:
    ring(live, answer_in=None, end_in=1.5)
    ring(live, OTHER, answer_in=None, end_in=1.5)
    await eventually(lambda: any("Звонят сразу 2" in m["text"] for m in live.tg.chat(MANAGER)))
    (card,) = cards(live, MANAGER)
    await eventually(lambda: live.tg.message(MANAGER, card["message_id"])["text"].count("Пропущен") == 2)  # type: ignore[index]
    text = live.tg.message(MANAGER, card["message_id"])["text"]  # type: ignore[index]
    assert "+7 916 123-45-67" in text and "+7 903 765-43-21" in text


async def test_a_call_too_short_for_the_live_watch_is_caught_by_the_reconcile(make_world: WorldFactory) -> None:
    async with make_world(jobs=True, live_interval=30, poll_interval=0.5) as world:
        world.services.storage.chats.subscribe(GROUP, "Sales", [], False, now=int(time.time()) - 60)
        poller = world.app.bot_data.need_poller()
        await poller.wait_cycles(1)
        full = len(world.newtel_requests("vpbx/get-calls"))
        now = world.sandbox.now()
        world.sandbox.add_call(direction="in", clid=CUSTOMER, status="no answer", start=now - 1.5, end=now)
        alert = await world.tg.wait_for("sendMessage", chat_id=GROUP, ok=True, timeout=5)
        assert time.time() - now <= 0.5 + 2  # within the reconcile's interval, not the live watch's 30 s
        assert "+7 916 123-45-67" in alert.params["text"]
        # Asked for by its id, not with the whole day again.
        assert len(world.newtel_requests("vpbx/get-calls")) == full
        assert len(world.newtel_requests("vpbx/get-call-details")) >= 1


async def test_a_restart_mid_ring_sends_no_second_card(make_world: WorldFactory, sandbox: Any) -> None:
    quiet(sandbox)
    async with make_world(jobs=True, live_interval=LIVE) as world:
        world.make_manager(MANAGER, internal="101")
        await world.app.bot_data.need_poller().wait_cycles(1)
        ring(world, answer_in=3.0, end_in=4.0)
        await world.tg.wait_for("sendMessage", chat_id=MANAGER, ok=True, timeout=5)
    async with make_world(jobs=True, live_interval=LIVE) as again:  # the same database, the call still ringing
        first = again.tg.chat(MANAGER)[0]
        await eventually(lambda: again.tg.message(MANAGER, first["message_id"])["text"].startswith("✅ Вы ответили"))
        assert len(cards(again, MANAGER)) == 1


async def test_the_doorbell_rings_a_check_at_once_and_a_wrong_secret_is_404(
    make_world: WorldFactory, unused_tcp_port: int
) -> None:
    secret = "doorbell-secret-0123456789"
    settings = {"live_interval": 30, "newtel_events_secret": secret, "newtel_events_port": unused_tcp_port}
    async with make_world(jobs=True, newtel_events_listen="127.0.0.1", **settings) as world:
        world.services.storage.chats.subscribe(GROUP, "Sales", [], False, now=int(time.time()) - 60)
        live = world.app.bot_data.live
        assert live is not None
        await live.wait_checks(1)
        checks = live.checks
        base = f"http://127.0.0.1:{unused_tcp_port}/newtel"
        async with aiohttp.ClientSession() as http:
            for wrong in (f"{base}/guess-guess-guess-guess", f"{base}/", f"http://127.0.0.1:{unused_tcp_port}/"):
                async with http.post(wrong, data=b'{"event": "call.ended"}') as answer:
                    assert answer.status == 404
            await asyncio.sleep(1.1)
            assert live.checks == checks  # nothing rang
            call = ring(world, answer_in=None, end_in=1.0)  # New-Tel pushes when it starts ringing...
            async with http.post(f"{base}/{secret}", data=b"{}") as answer:
                assert answer.status == 204
            await live.wait_checks(1, timeout=1)
            await asyncio.sleep(max(0.0, call.end - world.sandbox.now()) + 0.1)
            # ...and when it ends, a flood of them: a check at once, and at most one more a second.
            started = time.monotonic()
            answers = await asyncio.gather(*(http.post(f"{base}/{secret}", data=b"junk") for _ in range(200)))
            assert {a.status for a in answers} == {204}
            for answer in answers:
                answer.release()
            await world.tg.wait_for("sendMessage", chat_id=GROUP, ok=True, timeout=3)
            assert time.monotonic() - started < 1.5  # not the 30 s interval
            await asyncio.sleep(1.2)
            assert live.checks - checks <= 4


async def test_one_limit_holds_every_new_tel_request(sandbox: Any, tg: Any, tmp_path: Any) -> None:
    """NEWTEL_MAX_RPS for the live watch, the poll and the commands together: New-Tel never sees more."""
    settings = make_settings(sandbox, tg, tmp_path, live_interval=0.05, poll_interval=0.2, newtel_max_rps=4)
    app = build_application(settings)
    async with running(app):
        await asyncio.sleep(0.5)
        for _ in range(6):
            tg.send_text(ADMIN, "/balance")
        await asyncio.sleep(3)
    moments = sorted(r.time for r in sandbox.requests)
    assert len(moments) > 8
    busiest = max(sum(1 for m in moments if start <= m < start + 1) for start in moments)
    assert busiest <= 4 + 4  # the rate, plus the one burst the limiter lets through at first


async def test_new_tel_failing_on_the_live_path_backs_off_and_the_reconcile_fills_the_gap(
    make_world: WorldFactory,
) -> None:
    async with make_world(jobs=True, live_interval=0.2, poll_interval=1.0) as world:
        world.services.storage.chats.subscribe(GROUP, "Sales", [], False, now=int(time.time()) - 60)
        await world.app.bot_data.need_poller().wait_cycles(1)
        world.sandbox.faults.fail(status=503, times=10_000, methods={"vpbx/get-active-calls"})
        before = len(world.newtel_requests("vpbx/get-active-calls"))
        now = world.sandbox.now()
        world.sandbox.add_call(direction="in", clid=CUSTOMER, status="no answer", start=now - 5, end=now)
        alert = await world.tg.wait_for("sendMessage", chat_id=GROUP, ok=True, timeout=5)
        assert "+7 916 123-45-67" in alert.params["text"]
        await asyncio.sleep(3)
        # Every 0.2 s would be ~20 requests by now; backing off (0.4, 0.8, 1.6 s...) makes it a handful.
        assert len(world.newtel_requests("vpbx/get-active-calls")) - before <= 8
        world.sandbox.faults.clear()
        live = world.app.bot_data.live
        assert live is not None
        await live.wait_checks(1, timeout=8)  # and it comes back
        assert len([c for c in world.sent("sendMessage", GROUP) if c.ok]) == 1


async def test_the_doorbell_does_not_cut_the_back_off_short(make_world: WorldFactory, unused_tcp_port: int) -> None:
    """New-Tel answering 500 while it rings the doorbell every 0.1 s: still one get-active-calls per back-off step."""
    secret, interval = "doorbell-secret-0123456789", 0.5
    settings = {"live_interval": interval, "newtel_events_secret": secret, "newtel_events_port": unused_tcp_port}
    async with make_world(jobs=True, newtel_events_listen="127.0.0.1", **settings) as world:
        live = world.app.bot_data.live
        assert live is not None
        await live.wait_checks(1)
        world.sandbox.faults.fail(status=500, times=10_000, methods={"vpbx/get-active-calls"})
        since, rung_until = world.sandbox.now(), time.monotonic() + 5.0
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < rung_until:
                async with http.post(f"http://127.0.0.1:{unused_tcp_port}/newtel/{secret}", data=b"{}") as answer:
                    assert answer.status == 204
                await asyncio.sleep(0.1)
    moments = [r.time for r in world.newtel_requests("vpbx/get-active-calls") if r.time >= since]
    assert len(moments) >= 3
    # The request after the n-th failure waits the n-th step (interval doubled n times), however often it rang.
    for failures, (before, after) in enumerate(itertools.pairwise(moments), start=1):
        assert after - before >= interval * 2**failures - 0.1, (failures, after - before)


async def test_a_flood_of_doorbells_keeps_the_bot_answering(make_world: WorldFactory, unused_tcp_port: int) -> None:
    secret = "doorbell-secret-0123456789"
    settings = {"live_interval": 30, "newtel_events_secret": secret, "newtel_events_port": unused_tcp_port}
    async with make_world(jobs=True, newtel_events_listen="127.0.0.1", **settings) as world:
        world.make_manager(MANAGER, internal="101")
        live = world.app.bot_data.live
        assert live is not None
        await live.wait_checks(1)
        checks, url = live.checks, f"http://127.0.0.1:{unused_tcp_port}/newtel/{secret}"
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as http:

            async def ring() -> int:
                async with http.post(url, data=b"x" * 100) as answer:
                    return answer.status

            flood = asyncio.gather(*(ring() for _ in range(1_000)))
            started = time.monotonic()
            reply = await world.ask(MANAGER, "/notify")
            answered_in = time.monotonic() - started
            statuses = await flood
        assert set(statuses) == {204}
        assert reply.startswith("🔔") and answered_in < 2
        assert live.checks - checks <= 1 + int(time.monotonic() - started) + 1  # one a second at most


async def test_calls_the_failing_live_watch_followed_are_reconciled(
    make_world: WorldFactory, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """New-Tel refusing get-active-calls for good: the reconcile stops leaving the watch's calls to it."""
    monkeypatch.setattr(live_module, "STALE_AFTER", 1.0)
    quiet(sandbox)
    async with make_world(jobs=True, live_interval=0.2, poll_interval=0.5) as world:
        world.services.storage.chats.subscribe(GROUP, "Sales", [], False, now=int(time.time()) - 60)
        live = world.app.bot_data.live
        assert live is not None
        await world.app.bot_data.need_poller().wait_cycles(1)  # the first start's whole day is in
        call = ring(world, answer_in=None, end_in=60)
        await eventually(lambda: call.vpbx_id in live.active_ids)
        world.sandbox.faults.fail(status=403, times=10_000, methods={"vpbx/get-active-calls"})
        world.sandbox.end_call(call)
        alert = await world.tg.wait_for("sendMessage", chat_id=GROUP, ok=True, timeout=8)
        assert "+7 916 123-45-67" in alert.params["text"]


async def test_every_call_that_rings_is_on_a_card_and_each_card_follows_its_calls(live: World) -> None:
    """One call rings on and on while six more ring briefly (two at a time at most) and are answered elsewhere; and
    one answered by the manager talks on while the next rings and is missed: each call is on a card, each card
    follows its calls to their end."""
    now = live.sandbox.now()

    def at(clid: str, start: float, answer: float | None, end: float, by: str = "100") -> Any:
        return live.sandbox.add_call(
            direction="in", clid=clid, status="answered" if answer else "no answer", start=now + start,
            answer=None if answer is None else now + answer, end=now + end, active=True,
            answered_numbers=(by,) if answer else (),
        )  # fmt: skip

    long = at("79160000001", 0, None, 7.0)
    brief = [at(f"7916000001{n}", 0.4 + n * 1.0, 1.2 + n * 1.0, 5 + n, by="100") for n in range(6)]
    talk = at("79160000002", 7.4, 7.8, 11, by="101")
    after = at("79160000003", 8.4, None, 10.0)

    def texts() -> list[str]:
        return [m["text"] for m in cards(live, MANAGER)]

    def shown(call: Any) -> str:
        return f"+7 916 000-00-{call.clid[-2:]}"

    await eventually(lambda: all(any(shown(c) in t for t in texts()) for c in (long, *brief, talk, after)), timeout=12)
    await eventually(lambda: any("Пропущен в " in t and shown(after) in t for t in texts()), timeout=5)
    assert any("Пропущен в " in t and shown(long) in t for t in texts())


async def test_a_call_that_joins_a_card_while_its_edit_is_in_flight_stays_on_it(live: World) -> None:
    """The card's edit waits out a 429 (in flight in the manager's lane) while a third call starts ringing and joins
    the card, then is answered: the edit coming back does not drop it, and the card shows it."""
    held = 3.0  # seconds Telegram holds the card's first edit
    live.tg.faults.fail(status=429, methods={"editMessageText"}, chat_id=MANAGER, retry_after=held)
    ring(live, answer_in=1.0, end_in=12, by="102")  # answered by a colleague: the card is edited
    ring(live, OTHER, answer_in=None, end_in=12)  # rings on, so the card still rings
    (card,) = [await live.tg.wait_for("sendMessage", chat_id=MANAGER, ok=True, timeout=5)]
    await live.tg.wait_for("editMessageText", chat_id=MANAGER, timeout=5)  # refused: the edit waits it out
    ring(live, "79261112233", answer_in=held / 2, end_in=12, by="102")  # rings only while the edit is in flight

    def text() -> str:
        return live.tg.message(MANAGER, card.result["message_id"])["text"]  # type: ignore[index,no-any-return]

    await eventually(lambda: "+7 926 111-22-33" in text(), timeout=held + 5)
    assert "Звонят сразу 3" in text()


async def test_a_card_telegram_surely_did_not_take_is_sent_at_the_next_check(
    live: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Telegram answers 500 past the request's own retries: nothing was posted, so the card is sent again while the
    call still rings (an answer lost on the way is never sent twice: test_a_restart_mid_ring_sends_no_second_card)."""
    monkeypatch.setattr(ratelimit, "RETRY_BUDGET", 0.3)  # two attempts, both failed
    live.tg.faults.fail(status=500, methods={"sendMessage"}, chat_id=MANAGER, times=2)
    ring(live, answer_in=None, end_in=6)
    await live.tg.wait_for("sendMessage", chat_id=MANAGER, ok=True, timeout=5)
    assert len(cards(live, MANAGER)) == 1


async def test_a_call_never_joins_a_card_whose_fate_is_unknown_and_that_card_is_closed_once_its_call_ends(
    live: World,
) -> None:
    """The first card's answer is lost (posted or not: the bot cannot tell, so it never edits it): a second call that
    rings meanwhile gets a card of its own, and the first card is done with once its call is over."""
    lost = live.tg.faults.lose_answer(methods={"sendMessage"})
    lost.chat_id = MANAGER
    ring(live, answer_in=None, end_in=3)
    await live.tg.wait_for("sendMessage", chat_id=MANAGER, timeout=5)
    ring(live, OTHER, answer_in=None, end_in=1.5)
    await eventually(lambda: any("+7 903 765-43-21" in m["text"] for m in cards(live, MANAGER)))
    await eventually(lambda: live.services.storage.cards.open() == [], timeout=8)


async def test_a_card_whose_calls_storage_no_longer_has_is_done_with(live: World) -> None:
    """A card claimed for a call the archive does not hold (nothing to show): not sent, and not owed for ever."""
    storage = live.services.storage
    storage.cards.claim("gone", MANAGER, ["gone"], now=int(time.time()))
    await eventually(lambda: storage.cards.open() == [])
    assert cards(live, MANAGER) == []
