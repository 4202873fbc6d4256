"""A total bound on one request, retries and waits included, and client views with their own timings."""

from __future__ import annotations

import time

import pytest

import newtel
from newtel import NewtelClient
from newtel.sandbox import Sandbox


def attempts(sandbox: Sandbox, method: str) -> int:
    return sum(1 for request in sandbox.requests if request.method == method)


def hanging_client(sandbox: Sandbox, **options: float) -> NewtelClient:
    """A client whose every attempt times out (0.5 s) against a sandbox that answers after 1 s."""
    sandbox.faults.latency = 1.0
    return NewtelClient(
        sandbox.access_key, sandbox.signing_key, sandbox.url, timeout=0.5, retry_backoff=0.01, **options
    )


async def test_the_deadline_bounds_all_attempts_together(sandbox: Sandbox) -> None:
    async with hanging_client(sandbox, deadline=1.2) as client:
        started = time.monotonic()
        with pytest.raises(newtel.Timeout) as caught:
            await client.company.get_state()
        elapsed = time.monotonic() - started
    assert 1.1 <= elapsed < 1.6  # not 4 x 0.5 s: the third attempt only gets the 0.2 s left
    assert attempts(sandbox, "company/get-state") == 3
    assert caught.value.maybe_sent


async def test_a_timed_out_call_start_under_a_deadline_may_have_been_sent(sandbox: Sandbox) -> None:
    async with hanging_client(sandbox, deadline=0.2) as client:
        with pytest.raises(newtel.Timeout) as caught:
            await client.call.start_simple_call(
                src_number="100", dst_number="79165554433", caller_id=sandbox.company.external_numbers[0]
            )
    assert caught.value.maybe_sent
    assert attempts(sandbox, "call/start-simple-call") == 1


async def test_no_retry_whose_back_off_would_pass_the_deadline(sandbox: Sandbox) -> None:
    sandbox.faults.fail(status=503, times=10)
    async with NewtelClient(
        sandbox.access_key, sandbox.signing_key, sandbox.url, retry_backoff=4.0, deadline=1.0
    ) as client:
        started = time.monotonic()
        with pytest.raises(newtel.ServerError):  # the last failure, raised at once instead of slept on
            await client.company.get_state()
    assert time.monotonic() - started < 0.5
    assert attempts(sandbox, "company/get-state") == 1


async def test_no_retry_after_wait_past_the_deadline(sandbox: Sandbox) -> None:
    sandbox.faults.rate_limit(times=1, retry_after=5)
    async with NewtelClient(sandbox.access_key, sandbox.signing_key, sandbox.url, deadline=2.0) as client:
        with pytest.raises(newtel.RateLimited) as caught:
            await client.company.get_state()
    assert caught.value.retry_after == 5
    assert attempts(sandbox, "company/get-state") == 1


async def test_retries_within_the_deadline_still_happen(sandbox: Sandbox) -> None:
    sandbox.faults.fail(status=500, times=2)
    async with NewtelClient(
        sandbox.access_key, sandbox.signing_key, sandbox.url, retry_backoff=0.01, deadline=5.0
    ) as client:
        assert (await client.company.get_state()).currency == "RUB"
    assert attempts(sandbox, "company/get-state") == 3


@pytest.mark.parametrize("deadline", [0, -1.0])
def test_a_deadline_must_be_positive(deadline: float) -> None:
    with pytest.raises(newtel.ConfigurationError, match="deadline"):
        NewtelClient("a" * 48, "b" * 48, deadline=deadline)


async def test_a_view_has_its_own_timings(sandbox: Sandbox) -> None:
    async with hanging_client(sandbox) as client:
        command = client.with_options(deadline=0.6, max_retries=1)
        started = time.monotonic()
        with pytest.raises(newtel.Timeout):
            await command.company.get_state()
        assert time.monotonic() - started < 0.9
        assert attempts(sandbox, "company/get-state") == 2
        sandbox.requests.clear()
        with pytest.raises(newtel.Timeout):
            await client.with_options(max_retries=0).company.get_state()
        assert attempts(sandbox, "company/get-state") == 1


async def test_a_view_shares_the_session_and_closing_it_keeps_the_session(sandbox: Sandbox) -> None:
    client = NewtelClient(sandbox.access_key, sandbox.signing_key, sandbox.url)
    view = client.with_options(timeout=5)
    await view.company.get_state()  # the view opens the session first
    session = view._transport._get_session()
    await client.company.get_state()
    assert client._transport._get_session() is session
    await view.close()
    assert not session.closed
    assert (await client.company.get_state()).currency == "RUB"
    await client.close()
    assert session.closed


async def test_a_view_shares_the_learned_clock_offset(sandbox: Sandbox) -> None:
    sandbox.clock_offset = 3600
    async with NewtelClient(sandbox.access_key, sandbox.signing_key, sandbox.url) as client:
        view = client.with_options(deadline=5)
        await view.company.get_state()
        assert attempts(sandbox, "company/get-state") == 2  # refused once, then corrected
        await client.company.get_state()
        assert attempts(sandbox, "company/get-state") == 3  # the original did not need its own 401
        await client.with_options(timeout=1).with_options(max_retries=0).company.get_state()  # a view of a view
        assert attempts(sandbox, "company/get-state") == 4


def test_a_view_shows_no_key() -> None:
    access_key, signing_key = "a1" * 24, "b2" * 24
    client = NewtelClient(access_key, signing_key, deadline=12)
    view = client.with_options(timeout=3, deadline=8)
    for text in (repr(client), repr(view), repr(view._transport.__dict__)):
        assert access_key not in text and signing_key not in text
    assert "deadline=8" in repr(view)
