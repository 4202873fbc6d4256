"""The chats' lanes on their own: one chat's work waits for nobody else's, the alerts go before the board, and a
board kicked again before it began makes one edit."""

from __future__ import annotations

import asyncio

from bot.alerts.lanes import Lanes, Urgency, Work
from bot.ratelimit import ChatPace

Gate = asyncio.Event | None


def recorder(done: list[str], name: str, *, ok: bool = True, gate: Gate = None, began: Gate = None) -> Work:
    """Work that appends ``name`` to ``done`` (once ``gate`` is set: Telegram's answer) and says ``ok``."""

    async def work() -> bool:
        if began is not None:
            began.set()
        if gate is not None:
            await gate.wait()
        done.append(name)
        return ok

    return work


async def test_a_chat_held_up_holds_up_no_other() -> None:
    lanes, done, telegram = Lanes(), [], asyncio.Event()
    lanes.kick(-1, Urgency.ALERTS, recorder(done, "busy", gate=telegram))  # its group's wait never ends here
    lanes.kick(-2, Urgency.ALERTS, recorder(done, "quiet"))
    await asyncio.wait_for(lanes.settled([-2]), timeout=1)
    assert done == ["quiet"]
    telegram.set()
    await asyncio.wait_for(lanes.settled(), timeout=1)
    assert done == ["quiet", "busy"]


async def test_the_alerts_go_first_and_the_board_once_for_every_kick_that_waited() -> None:
    lanes, done, telegram, began = Lanes(), [], asyncio.Event(), asyncio.Event()
    lanes.kick(-1, Urgency.ALERTS, recorder(done, "alert 1", gate=telegram, began=began))
    await began.wait()
    for n in range(5):  # the board changes while the chat's first alert waits for Telegram
        lanes.kick(-1, Urgency.BOARD, recorder(done, f"board {n}"))
    lanes.kick(-1, Urgency.ALERTS, recorder(done, "alert 2"))
    telegram.set()
    await asyncio.wait_for(lanes.settled(), timeout=1)
    assert done == ["alert 1", "alert 2", "board 4"]


async def test_work_that_failed_leaves_the_rest_to_the_next_kick() -> None:
    lanes, done = Lanes(), []
    lanes.kick(-1, Urgency.ALERTS, recorder(done, "alert", ok=False))  # Telegram failed: pending until the next look
    lanes.kick(-1, Urgency.BOARD, recorder(done, "board"))
    await asyncio.wait_for(lanes.settled(), timeout=1)
    assert done == ["alert"]
    lanes.kick(-1, Urgency.ALERTS, recorder(done, "alert again"))
    await asyncio.wait_for(lanes.settled(), timeout=1)
    assert done == ["alert", "alert again", "board"]


async def test_a_stop_begins_nothing_more() -> None:
    lanes, done, telegram, began = Lanes(), [], asyncio.Event(), asyncio.Event()
    lanes.kick(-1, Urgency.ALERTS, recorder(done, "in flight", gate=telegram, began=began))
    lanes.kick(-1, Urgency.BOARD, recorder(done, "board"))
    await began.wait()
    stopping = asyncio.create_task(lanes.stop())
    await asyncio.sleep(0)  # the stop has begun
    telegram.set()  # Telegram answers within the grace
    await asyncio.wait_for(stopping, timeout=3)
    lanes.kick(-2, Urgency.ALERTS, recorder(done, "after the stop"))
    await lanes.settled()
    assert done == ["in flight"]


async def test_work_waiting_for_the_chats_turn_gives_it_up_to_more_urgent_work() -> None:
    loop, asked = asyncio.get_running_loop(), asyncio.Event()
    free_at = loop.time() + 0.5  # the group's next turn

    def free_in(chat_id: int) -> float:
        asked.set()
        return max(0.0, free_at - loop.time())

    lanes, done = Lanes(free_in), []
    lanes.kick(-1, Urgency.BOARD, recorder(done, "board"))
    await asked.wait()  # the board waits for the turn
    lanes.kick(-1, Urgency.ALERTS, recorder(done, "alert"))
    await asyncio.wait_for(lanes.settled(), timeout=2)
    assert done == ["alert", "board"]
    assert loop.time() >= free_at  # neither went before the turn


async def test_work_waiting_for_its_turn_still_goes_while_other_senders_keep_the_group_at_its_pace() -> None:
    """Other requests to the group (a recording resent, a summary's title, a command's reply) each take the next turn
    of its pace as they come (``ChatPace.take``), so a turn is never free: the alert, once its wait is over, queues
    for a turn in that same order, behind only the turns already taken."""
    loop = asyncio.get_running_loop()
    pace = ChatPace(rate=2, period=0.2)  # a turn every 0.1 s once the burst is spent

    async def send() -> None:  # a request to the group, as PatientRateLimiter makes it
        await asyncio.sleep(pace.take("-1", loop.time()))

    async def keep_sending() -> None:
        while True:
            await send()

    others = [asyncio.create_task(keep_sending()) for _ in range(3)]  # three turns always taken ahead
    lanes, done = Lanes(lambda chat_id: pace.free_in(str(chat_id), loop.time())), []

    async def alert() -> bool:
        await send()
        done.append("alert")
        return True

    try:
        lanes.kick(-1, Urgency.ALERTS, alert)
        await asyncio.wait_for(lanes.settled(), timeout=2)  # a wait of ~0.2 s, then at most three turns taken ahead
    finally:
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
    assert done == ["alert"]
