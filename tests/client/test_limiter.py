"""The request limit's decisions (``newtel._limiter.Turns``) on a simulated clock, and ``Limiter`` on the loop."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newtel._limiter import PEOPLE_TURNS, RESERVE, Limiter, Turns

SLACK = 1e-6  # seconds: float sums


@dataclass(frozen=True)
class Ask:
    at: float  # seconds
    urgent: bool


def simulate(rate: float, asks: list[Ask]) -> dict[int, float]:
    """Each ask's (by index) moment of its turn: events in time order, the limit granting at its ``next_turn``."""
    turns: Turns[int] = Turns(rate, max(1.0, rate), 0.0)
    order = sorted(range(len(asks)), key=lambda i: asks[i].at)
    granted: dict[int, float] = {}
    position = 0
    for _ in range(10 * len(asks) + 10):
        arrival = asks[order[position]].at if position < len(order) else math.inf
        turn = turns.next_turn()
        now = min(arrival, math.inf if turn is None else turn)
        if now == math.inf:
            return granted
        while position < len(order) and asks[order[position]].at <= now:
            turns.join(order[position], urgent=asks[order[position]].urgent)
            position += 1
        for index in turns.grant(now):
            granted[index] = now
    raise AssertionError("the limit stopped granting with requests waiting")


rates = st.sampled_from([0.5, 1.0, 3.0, 10.0, 25.0])
asks = st.lists(
    st.builds(Ask, at=st.floats(0, 5, allow_nan=False).map(lambda t: round(t, 3)), urgent=st.booleans()),
    max_size=120,
)


@settings(max_examples=300, deadline=None)
@given(rate=rates, asks=asks)
def test_every_request_goes_and_no_window_carries_more_than_the_burst_and_the_rate(
    rate: float, asks: list[Ask]
) -> None:
    granted = simulate(rate, asks)
    assert len(granted) == len(asks)
    assert all(granted[i] >= ask.at for i, ask in enumerate(asks))
    moments = sorted(granted.values())
    burst = max(1.0, rate)
    for first in range(len(moments)):
        for last in range(first, len(moments)):
            assert last - first + 1 <= burst + rate * (moments[last] - moments[first]) + SLACK


@settings(max_examples=300, deadline=None)
@given(rate=rates, asks=asks)
def test_people_go_first_in_order_and_background_gets_one_turn_in_four_while_both_wait(
    rate: float, asks: list[Ask]
) -> None:
    granted = simulate(rate, asks)
    turns = sorted(granted, key=lambda i: (granted[i], i))  # simulate grants in order at one moment: ties kept
    for lane in (True, False):  # first come, first served within a lane
        mine = [i for i in turns if asks[i].urgent is lane]
        assert mine == sorted(mine, key=lambda i: (asks[i].at, i))
    for n, index in enumerate(turns):
        if asks[index].urgent:
            continue
        now = granted[index]
        person_waiting = any(asks[i].urgent and asks[i].at <= now and granted[i] > now for i in granted)
        if person_waiting:  # a background turn while a person waits: only after PEOPLE_TURNS of theirs
            assert n >= PEOPLE_TURNS and all(asks[i].urgent for i in turns[n - PEOPLE_TURNS : n])


@settings(max_examples=200, deadline=None)
@given(rate=rates, gaps=st.lists(st.floats(2.0, 5.0), min_size=1, max_size=15), backlog=st.integers(50, 400))
def test_a_person_goes_at_once_however_much_background_work_waits(rate: float, gaps: list[float], backlog: int) -> None:
    """At once while the reserve holds a turn; below a burst of 4 there is none, and one refill is the most."""
    moment, people = 0.0, []
    for gap in gaps:  # people asking one at a time, each a while after the last
        moment += gap / rate
        people.append(Ask(round(moment, 6), True))
    background = [Ask(0.0, False)] * backlog
    granted = simulate(rate, background + people)
    longest = 0.0 if rate >= 4 else 1 / rate  # 30 % of a burst of 4 is a whole turn
    for i, ask in enumerate(people, start=backlog):
        assert granted[i] - ask.at <= longest + SLACK


@pytest.mark.parametrize("rate", [1.0, 10.0])
def test_background_alone_gets_the_whole_rate_and_people_nonstop_leave_it_a_share(rate: float) -> None:
    burst, n = max(1.0, rate), 40
    alone = simulate(rate, [Ask(0.0, False)] * n)
    reserve = int(burst * RESERVE)  # left to people: 3 of 10
    assert max(alone.values()) == pytest.approx((n - (burst - reserve)) / rate)
    crowded = simulate(rate, [Ask(0.0, True)] * n + [Ask(0.0, False)] * 5)
    background = sorted(crowded[i] for i in range(n, n + 5))
    assert background[-1] <= (5 * (PEOPLE_TURNS + 1) - burst) / rate + SLACK


async def test_a_wait_given_up_gives_its_place_and_a_turn_given_to_a_cancelled_request_goes_to_the_next() -> None:
    limiter = Limiter(10)
    for _ in range(10):  # the burst
        await limiter.turn(urgent=True)
    first = asyncio.create_task(limiter.turn(urgent=True))
    second = asyncio.create_task(limiter.turn(urgent=True))
    await asyncio.sleep(0)
    first.cancel()
    started = asyncio.get_running_loop().time()
    await second  # the first's place: one refill, not two
    assert asyncio.get_running_loop().time() - started < 0.15
    assert first.cancelled()
