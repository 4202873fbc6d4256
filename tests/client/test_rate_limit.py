"""``max_rps``: one request limit for a client and its views, within the deadline, seen on the server's side."""

from __future__ import annotations

import asyncio
import math
import time

import pytest

import newtel
from newtel import NewtelClient
from newtel.sandbox import Sandbox


def limited_client(sandbox: Sandbox, **options: float) -> NewtelClient:
    return NewtelClient(sandbox.access_key, sandbox.signing_key, sandbox.url, retry_backoff=0.01, **options)


def most_within_a_second(times: list[float]) -> int:
    times = sorted(times)
    return max(sum(1 for t in times[i:] if t < start + 1) for i, start in enumerate(times))


async def test_a_client_and_its_view_share_one_limit(sandbox: Sandbox) -> None:
    async with limited_client(sandbox, max_rps=5) as client:
        view = client.with_options(timeout=5)
        started = time.monotonic()
        await asyncio.gather(  # different calls (unknown: CallNotFound), so that no two requests are shared
            *(client.vpbx.get_call_status(f"{i:040x}") for i in range(10)),
            *(view.vpbx.get_call_status(f"{i:040x}") for i in range(10, 15)),
            return_exceptions=True,
        )
        elapsed = time.monotonic() - started
    arrivals = [r.time for r in sandbox.requests if r.method == "vpbx/get-call-status"]
    assert len(arrivals) == 15
    assert elapsed >= 1.8  # five at once, then one every 0.2 s
    assert max(arrivals) - min(arrivals) >= 1.8
    assert most_within_a_second(arrivals) <= 11  # the burst of 5 and 5 more at the rate (1 for timing slack)


async def test_a_person_goes_before_the_background_requests_waiting_and_the_total_stays_within_the_limit(
    sandbox: Sandbox,
) -> None:
    async with limited_client(sandbox, max_rps=10) as client:
        person = client.with_options(deadline=5, urgent=True)
        backlog = asyncio.gather(
            *(client.vpbx.get_call_status(f"{i:040x}") for i in range(40)), return_exceptions=True
        )  # unknown calls: CallNotFound, an answer all the same
        while len(sandbox.requests) < 10:  # the burst has gone; 30 wait their turn
            await asyncio.sleep(0.01)
        started = time.monotonic()
        await person.company.get_state()
        waited = time.monotonic() - started
        await backlog
    assert waited < 0.1 + 0.15  # one refill (and the request): not behind the 30
    arrivals = [r.time for r in sandbox.requests]
    assert len(arrivals) == 41
    assert most_within_a_second(arrivals) <= 10 + 10 + 1  # the burst and a second's worth (1 for timing slack)


async def test_no_limit_by_default(sandbox: Sandbox) -> None:
    async with limited_client(sandbox) as client:
        started = time.monotonic()
        await asyncio.gather(*(client.company.get_state() for _ in range(15)))
    assert time.monotonic() - started < 1.0


async def test_retries_wait_their_turn_too(sandbox: Sandbox) -> None:
    sandbox.faults.fail(status=500, times=2)
    async with limited_client(sandbox, max_rps=1) as client:
        started = time.monotonic()
        assert (await client.company.get_state()).currency == "RUB"
    assert time.monotonic() - started >= 1.8  # three attempts: now, after 1 s, after 2 s


async def test_the_deadline_counts_the_wait_and_an_unsent_request_says_so(sandbox: Sandbox) -> None:
    async with limited_client(sandbox, max_rps=1, deadline=0.5) as client:
        await client.company.get_state()  # takes the one turn of this second
        started = time.monotonic()
        with pytest.raises(newtel.Timeout) as caught:
            await client.call.start_simple_call(
                src_number="100", dst_number="79165554433", caller_id=sandbox.company.external_numbers[0]
            )
        assert time.monotonic() - started < 0.8
    assert not caught.value.maybe_sent and not caught.value.may_have_run
    assert "limit" in str(caught.value)
    assert [r.method for r in sandbox.requests] == ["company/get-state"]


async def test_a_limit_below_one_a_second_lets_the_first_request_go(sandbox: Sandbox) -> None:
    async with limited_client(sandbox, max_rps=0.5) as client:
        started = time.monotonic()
        await client.company.get_state()
    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize("max_rps", [0, -1, math.inf, math.nan, True, "5"])
def test_max_rps_must_be_a_positive_number(max_rps: object) -> None:
    with pytest.raises(newtel.ConfigurationError, match="max_rps"):
        NewtelClient("a" * 48, "b" * 48, max_rps=max_rps)  # type: ignore[arg-type]


def test_the_limit_shows_in_repr_of_the_client_and_its_views() -> None:
    client = NewtelClient("a" * 48, "b" * 48, max_rps=5)
    assert "max_rps=5" in repr(client)
    assert "max_rps=5" in repr(client.with_options(deadline=3))
    assert "max_rps" not in repr(NewtelClient("a" * 48, "b" * 48))
