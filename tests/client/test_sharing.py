"""Identical read-only requests in flight share one request; call starts and raw requests never do."""

from __future__ import annotations

import asyncio

import pytest

import newtel
from newtel import NewtelClient, NewtelError
from newtel.sandbox import Sandbox

SOME_IDS = ["a" * 40, "b" * 40]


def sandbox_client(sandbox: Sandbox, **options: object) -> NewtelClient:
    return NewtelClient(sandbox.access_key, sandbox.signing_key, sandbox.url, retry_backoff=0.01, **options)  # type: ignore[arg-type]


def asked(sandbox: Sandbox, method: str) -> int:
    return sum(1 for r in sandbox.requests if r.method == method)


async def test_a_hundred_callers_asking_at_once_cost_one_request_and_get_the_same_answer(sandbox: Sandbox) -> None:
    async with sandbox_client(sandbox) as client:
        states = await asyncio.gather(*(client.company.get_state() for _ in range(100)))
        assert asked(sandbox, "company/get-state") == 1
        assert len({state.balance for state in states}) == 1
        await client.company.get_state()  # once answered, the next caller asks anew
    assert asked(sandbox, "company/get-state") == 2


async def test_different_parameters_timings_or_urgency_are_different_requests(sandbox: Sandbox) -> None:
    async with sandbox_client(sandbox) as client:
        person = client.with_options(deadline=5, urgent=True)
        patient = client.with_options(timeout=30)
        await asyncio.gather(
            *(client.vpbx.get_call_status(vpbx_id) for vpbx_id in SOME_IDS for _ in range(3)),
            client.company.get_state(),
            person.company.get_state(),
            patient.company.get_state(),
            return_exceptions=True,  # the ids are unknown: CallNotFound, an answer all the same
        )
    assert asked(sandbox, "vpbx/get-call-status") == 2
    assert asked(sandbox, "company/get-state") == 3


async def test_a_failure_of_the_shared_request_reaches_every_caller_and_each_attempt_is_observed(
    sandbox: Sandbox,
) -> None:
    seen: list[tuple[str, str | None]] = []
    sandbox.faults.fail(status=500, times=5, methods={"company/get-state"})

    def observe(method: str, failure: NewtelError | None) -> None:
        seen.append((method, None if failure is None else type(failure).__name__))

    async with sandbox_client(sandbox, max_retries=1, observer=observe) as client:
        answers = await asyncio.gather(*(client.company.get_state() for _ in range(10)), return_exceptions=True)
    assert all(isinstance(answer, newtel.ServerError) for answer in answers)
    assert asked(sandbox, "company/get-state") == 2  # one request, retried once, for all ten
    assert seen == [("company/get-state", "ServerError")] * 2


async def test_a_caller_cancelled_leaves_the_others_their_answer(sandbox: Sandbox) -> None:
    sandbox.faults.latency = 0.3
    async with sandbox_client(sandbox) as client:
        callers = [asyncio.create_task(client.company.get_state()) for _ in range(4)]
        await asyncio.sleep(0.1)  # the request is on its way
        callers[3].cancel()  # one who waits for another's request
        callers[0].cancel()  # the one whose task makes it: the request breaks off with it
        states = await asyncio.gather(*callers[1:3])
        assert callers[0].cancelled() and callers[3].cancelled()
        assert states[0] is states[1]
        assert asked(sandbox, "company/get-state") == 2  # the others' own, handed over when the first gave up


async def test_a_waiter_cancelled_costs_the_first_caller_nothing(sandbox: Sandbox) -> None:
    sandbox.faults.latency = 0.3
    async with sandbox_client(sandbox) as client:
        callers = [asyncio.create_task(client.company.get_state()) for _ in range(3)]
        await asyncio.sleep(0.1)
        callers[1].cancel()
        states = await asyncio.gather(callers[0], callers[2])
        assert callers[1].cancelled()
        assert states[0] is states[1]
        assert asked(sandbox, "company/get-state") == 1


async def test_when_the_first_and_every_other_caller_gave_up_nothing_is_asked_for_them(sandbox: Sandbox) -> None:
    sandbox.faults.latency = 0.3
    async with sandbox_client(sandbox) as client:
        in_flight = client._transport._shared.in_flight  # type: ignore[attr-defined]
        callers = [asyncio.create_task(client.company.get_state()) for _ in range(2)]
        await asyncio.sleep(0.1)
        (shared,) = in_flight.values()
        callers[0].cancel()
        await asyncio.sleep(0.05)  # the second's request, handed over, is on its way
        assert shared.handed_over is not None and not shared.handed_over.done()
        callers[1].cancel()
        await asyncio.gather(*callers, return_exceptions=True)
        await asyncio.sleep(0)  # the handed-over request's cancellation is delivered
        assert all(caller.cancelled() for caller in callers)
        assert shared.handed_over.cancelled()
        assert not in_flight


async def test_when_every_caller_gave_up_the_request_is_given_up_and_the_next_asks_anew(sandbox: Sandbox) -> None:
    sandbox.faults.latency = 0.3
    async with sandbox_client(sandbox) as client:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(client.company.get_state(), 0.1)
        sandbox.faults.latency = 0
        assert (await client.company.get_state()).currency == "RUB"
    assert asked(sandbox, "company/get-state") == 2


async def test_call_starts_and_raw_requests_are_never_shared(sandbox: Sandbox) -> None:
    caller_id = sandbox.company.external_numbers[0]
    async with sandbox_client(sandbox) as client:
        await asyncio.gather(
            *(
                client.call.start_simple_call(src_number="100", dst_number="79165554433", caller_id=caller_id)
                for _ in range(2)
            ),
            *(client.request("company/get-state") for _ in range(2)),
        )
    assert asked(sandbox, "call/start-simple-call") == 2
    assert asked(sandbox, "company/get-state") == 2
