"""Events pushed to a URL when calls change phase and phones (un)register; phones steered; traffic counted."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from newtel.sandbox import Sandbox
from tests.sandbox.conftest import Receiver


@pytest.fixture
async def pushing(receiver: Receiver) -> AsyncIterator[Sandbox]:
    async with Sandbox(history_size=0, push_url=receiver.url) as sb:  # no history: only the tests' own calls
        yield sb


def dead_url() -> str:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/newtel"


async def test_a_short_call_pushes_ringing_then_ended_as_they_happen(pushing, receiver, eventually):
    now = pushing.now()
    call = pushing.add_call("in", start=now, end=now + 1.0)

    async def both():
        return len(receiver.received) == 2

    await eventually(both)
    assert receiver.events == ["call.ringing", "call.ended"]
    assert all(body["vpbxId"] == call.vpbx_id for _, body in receiver.received)
    assert 0 <= receiver.arrival("call.ringing") - now < 0.5
    assert 0 <= receiver.arrival("call.ended") - call.end < 0.5
    assert pushing.pushed == [body for _, body in receiver.received]
    assert isinstance(pushing.pushed[0]["time"], int)


async def test_answer_and_transfer_are_pushed_and_shown(pushing, receiver, api_for, eventually):
    api, now = api_for(pushing), pushing.now()
    call = pushing.add_call(
        "in",
        status="answered",
        start=now,
        answer=now + 0.4,
        transfer=now + 0.8,
        end=now + 1.2,
        answered_numbers=("100", "102"),
    )

    async def answered_by(numbers):
        data = await api.ok("vpbx/get-inbound-call-answered-numbers", {"vpbxId": call.vpbx_id})
        return data["callAnsweredNumbers"] == numbers

    await eventually(lambda: answered_by(["100"]))
    assert (await api.ok("vpbx/get-active-numbers-list"))["activeNumbersList"] == ["100"]
    await eventually(lambda: answered_by(["100", "102"]))
    assert (await api.ok("vpbx/get-active-numbers-list"))["activeNumbersList"] == ["102"]

    async def ended():
        return "call.ended" in receiver.events

    await eventually(ended)
    assert receiver.events == ["call.ringing", "call.answered", "call.transferred", "call.ended"]
    details = (await api.ok("vpbx/get-call-details", {"vpbxId": call.vpbx_id}))["callDetails"]
    assert details["active"] is False and details["status"] == "answered" and details["endTime"] is not None
    assert (await api.ok("vpbx/get-inbound-call-first-answered-number", {"vpbxId": call.vpbx_id}))[
        "callFirstAnsweredNumber"
    ] == "100"


async def test_ending_a_call_by_hand_pushes(pushing, receiver, eventually):
    call = pushing.add_call("in", status="answered", active=True, answered_numbers=("101",))

    async def answered():
        return receiver.events == ["call.answered"]  # first seen already talking

    await eventually(answered)
    pushing.end_call(call)

    async def ended():
        return receiver.events == ["call.answered", "call.ended"]

    await eventually(ended, timeout=1)


async def test_a_finished_call_added_late_rings_the_doorbell_only_if_recent(pushing, receiver, eventually):
    pushing.add_call("in", start=pushing.now() - 3600)  # an hour old: nobody needs telling
    recent = pushing.add_call("in")  # ended a few minutes ago

    async def told():
        return receiver.received != []

    await eventually(told)
    await asyncio.sleep(0.3)  # a few more looks: nothing else comes
    assert [(body["event"], body["vpbxId"]) for _, body in receiver.received] == [("call.ended", recent.vpbx_id)]


async def test_registration_changes_are_shown_at_once_in_the_members_order(sandbox, api):
    before = (await api.ok("vpbx/get-registered-numbers-list"))["registeredNumbersList"]
    assert before == ["100", "101", "102", "103", "104"]
    sandbox.set_registered("101", False)
    after = (await api.ok("vpbx/get-registered-numbers-list"))["registeredNumbersList"]
    assert after == ["100", "102", "103", "104"]
    sandbox.set_registered("105", True)  # the phone that was off all along
    sandbox.set_registered("101", True)
    sandbox.set_registered("101", True)  # already on: nothing changes
    after = (await api.ok("vpbx/get-registered-numbers-list"))["registeredNumbersList"]
    assert after == ["100", "101", "102", "103", "104", "105"]  # not the order they came back in


async def test_a_phone_going_away_and_coming_back_is_pushed(pushing, receiver, eventually):
    pushing.set_registered("103", False)

    async def gone():
        return receiver.events == ["number.unregistered"]

    await eventually(gone, timeout=1)
    pushing.set_registered("103", True)

    async def back():
        return receiver.events == ["number.unregistered", "number.registered"]

    await eventually(back, timeout=1)
    assert [body["number"] for _, body in receiver.received] == ["103", "103"]


@pytest.mark.parametrize("number", ["79161112233", "999", ""])
def test_only_a_members_internal_number_can_register(number):
    with pytest.raises(ValueError, match="internal number"):
        Sandbox().set_registered(number, False)


async def test_a_dead_receiver_does_not_break_the_api(api_for, eventually):
    async with Sandbox(history_size=0, push_url=dead_url()) as sb:
        api = api_for(sb)
        now = sb.now()
        sb.add_call("in", start=now, end=now + 0.3)
        sb.set_registered("100", False)

        async def all_pushed():
            return [body["event"] for body in sb.pushed] == ["call.ringing", "number.unregistered", "call.ended"]

        await eventually(all_pushed)
        started = time.monotonic()
        assert (await api.ok("vpbx/get-active-calls-list"))["activeCallsList"] == []
        assert time.monotonic() - started < 0.5


async def test_a_refusing_receiver_gets_each_event_once(receiver, eventually):
    receiver.status = 500
    async with Sandbox(history_size=0, push_url=receiver.url) as sb:
        sb.set_registered("100", False)

        async def told():
            return receiver.received != []

        await eventually(told)
        await asyncio.sleep(0.3)
    assert receiver.events == ["number.unregistered"]  # no retry


def test_a_push_url_must_be_http():
    with pytest.raises(ValueError, match="push_url"):
        Sandbox(push_url="ftp://example.com/")


async def test_no_push_url_pushes_nothing(sandbox):
    sandbox.set_registered("100", False)
    sandbox.add_call("in", active=True)
    await asyncio.sleep(0.2)
    assert sandbox.pushed == []


# --- traffic -------------------------------------------------------------------------------------------------
async def test_traffic_counts_requests_and_response_bytes_per_method(api, sandbox):
    replies = [await api("company/get-state") for _ in range(3)]
    listing = await api("vpbx/get-calls")
    await api("company/get-nothing")  # refused, but its bytes still crossed the wire
    traffic = sandbox.traffic
    assert traffic["company/get-state"].requests == 3
    assert traffic["company/get-state"].body_bytes == sum(len(r.body) for r in replies)
    assert traffic["vpbx/get-calls"].body_bytes == len(listing.body) > 1000
    assert traffic["company/get-nothing"].requests == 1


async def test_traffic_counts_recordings_and_is_served_as_json(api, sandbox):
    call = sandbox.add_call("in", status="answered")
    link = (await api.ok("vpbx/get-call-record-link", {"vpbxId": call.vpbx_id}))["callRecordLink"]
    async with aiohttp.ClientSession() as session:
        async with session.get(link) as response:
            audio = await response.read()
        async with session.get(f"{sandbox.url}/sandbox/traffic") as response:
            served = await response.json()
    assert served["records"] == {"requests": 1, "bodyBytes": len(audio)}
    assert served["vpbx/get-call-record-link"]["requests"] == 1


async def test_traffic_is_counted_without_recording_requests(api_for):
    async with Sandbox(record_requests=False) as sb:
        await api_for(sb).ok("company/get-state")
        assert sb.requests == []
        assert sb.traffic["company/get-state"].requests == 1
