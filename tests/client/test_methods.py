"""Every documented method through the real client against the sandbox over loopback HTTP."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

import newtel
from newtel import NewtelClient
from newtel.sandbox import Sandbox

# The 31 method names of the provider's document (``../shared/newtel-api/api-reference-ru.md``).
DOCUMENTED = {
    "company/get-state", "company/get-profile-details", "company/get-members", "company/get-members-list",
    "company/get-member-details", "company/get-numbers", "user/get-profile-details", "call/start-simple-call",
    "call/start-password-call", "call/get-vpbx-id", "vpbx/get-calls", "vpbx/get-calls-list",
    "vpbx/get-active-calls", "vpbx/get-active-calls-list", "vpbx/get-call-details", "vpbx/get-call-direction",
    "vpbx/get-call-status", "vpbx/get-call-start-time", "vpbx/get-call-answer-time", "vpbx/get-call-end-time",
    "vpbx/get-inbound-call-clid", "vpbx/get-inbound-call-dnid", "vpbx/get-inbound-call-answered-numbers",
    "vpbx/get-inbound-call-first-answered-number", "vpbx/get-outbound-call-internal-clid",
    "vpbx/get-outbound-call-external-clid", "vpbx/get-outbound-call-dnid", "vpbx/get-call-record-link",
    "vpbx/get-registered-numbers-list", "vpbx/get-ringing-numbers-list", "vpbx/get-active-numbers-list",
}  # fmt: skip
DOCUMENT = Path(__file__).resolve().parents[3] / "shared" / "newtel-api" / "api-reference-ru.md"


def test_client_covers_every_documented_method() -> None:
    assert len(DOCUMENTED) == 31
    client = NewtelClient("a" * 48, "b" * 48)
    for method in DOCUMENTED:
        group, action = method.split("/")
        assert callable(getattr(getattr(client, group), action.replace("-", "_"))), method


@pytest.mark.skipif(not DOCUMENT.exists(), reason="the provider's document is not beside this checkout")
def test_the_list_matches_the_document() -> None:
    named = set(re.findall(r"^((?:company|user|call|vpbx)/[a-z-]+)$", DOCUMENT.read_text(), re.MULTILINE))
    assert named == DOCUMENTED


async def test_company_methods(client: NewtelClient, sandbox: Sandbox) -> None:
    company = sandbox.company
    state = await client.company.get_state()
    assert state.balance == Decimal(str(company.state.balance))
    assert (state.currency, state.status) == (company.state.currency, "active")

    profile = await client.company.get_profile_details()
    assert (profile.id, profile.company_name) == (company.profile.id, company.profile.company_name)
    assert isinstance(profile.registered_on, datetime)

    members = await client.company.get_members()
    assert [(m.id, m.name, m.internal_number, m.personal_number) for m in members] == [
        (m.id, m.name, m.internal_number, m.personal_number) for m in company.members
    ]
    assert await client.company.get_members_list() == [m.name for m in company.members]

    details = await client.company.get_member_details(company.members[1].name)
    assert (details.id, details.email) == (company.members[1].id, company.members[1].email)
    with pytest.raises(newtel.MemberNotFound):
        await client.company.get_member_details("Nobody Here")

    numbers = await client.company.get_numbers()
    assert numbers.external == company.external_numbers
    assert numbers.internal == company.internal_numbers


async def test_user_profile(client: NewtelClient, sandbox: Sandbox) -> None:
    profile = await client.user.get_profile_details()
    assert profile.name == sandbox.company.members[0].name


async def test_calls_and_details(client: NewtelClient, sandbox: Sandbox) -> None:
    inbound = sandbox.add_call(direction="in", clid="79161112233", status="answered")
    outbound = sandbox.add_call(direction="out", dnid="79035556677", status="no answer")
    calls = {call.vpbx_id: call for call in await client.vpbx.get_calls()}
    assert set(await client.vpbx.get_calls_list()) == set(calls)
    assert calls[inbound.vpbx_id].direction == "in" and calls[inbound.vpbx_id].status == "answered"
    assert not calls[outbound.vpbx_id].is_missed  # outbound calls are never "missed"

    details = await client.vpbx.get_call_details(inbound.vpbx_id)
    assert details == calls[inbound.vpbx_id]
    assert details.talk_seconds == 60 and details.ring_seconds == 8
    vpbx = client.vpbx
    assert await vpbx.get_call_direction(inbound.vpbx_id) == "in"
    assert await vpbx.get_call_status(outbound.vpbx_id) == "no answer"
    assert await vpbx.get_call_start_time(inbound.vpbx_id) == details.start_time
    assert await vpbx.get_call_answer_time(inbound.vpbx_id) == details.answer_time
    assert await vpbx.get_call_answer_time(outbound.vpbx_id) is None
    assert await vpbx.get_call_end_time(inbound.vpbx_id) == details.end_time
    assert await vpbx.get_inbound_call_clid(inbound.vpbx_id) == "79161112233"
    assert await vpbx.get_inbound_call_dnid(inbound.vpbx_id) == inbound.dnid
    answered = await vpbx.get_inbound_call_answered_numbers(inbound.vpbx_id)
    assert answered == list(inbound.answered_numbers)
    assert await vpbx.get_inbound_call_first_answered_number(inbound.vpbx_id) == answered[0]
    assert await vpbx.get_outbound_call_internal_clid(outbound.vpbx_id) == outbound.internal_clid
    assert await vpbx.get_outbound_call_external_clid(outbound.vpbx_id) == outbound.clid
    assert await vpbx.get_outbound_call_dnid(outbound.vpbx_id) == "79035556677"
    with pytest.raises(newtel.InboundCallOnly):
        await vpbx.get_inbound_call_clid(outbound.vpbx_id)
    with pytest.raises(newtel.OutboundCallOnly):
        await vpbx.get_outbound_call_dnid(inbound.vpbx_id)
    with pytest.raises(newtel.CallNotFound):
        await vpbx.get_call_details("0" * 40)


async def test_active_calls_and_numbers(client: NewtelClient, sandbox: Sandbox) -> None:
    talking = sandbox.add_call(direction="in", status="answered", active=True, start=sandbox.now() - 30)
    active = await client.vpbx.get_active_calls()
    assert [c.vpbx_id for c in active] == await client.vpbx.get_active_calls_list()
    assert talking.vpbx_id in {c.vpbx_id for c in active}
    assert all(c.active and c.end_time is None for c in active)
    registered = await client.vpbx.get_registered_numbers_list()
    assert registered == sandbox.company.registered_numbers
    assert set(talking.answered_numbers) <= set(await client.vpbx.get_active_numbers_list())
    assert isinstance(await client.vpbx.get_ringing_numbers_list(), list)


async def test_record_link_serves_audio(client: NewtelClient, sandbox: Sandbox) -> None:
    answered = sandbox.add_call(direction="in", status="answered")
    missed = sandbox.add_call(direction="in", status="no answer")
    link = await client.vpbx.get_call_record_link(answered.vpbx_id)
    assert str(link) == f"{sandbox.url}/records/{answered.vpbx_id}.wav"
    with pytest.raises(newtel.RecordNotFound):
        await client.vpbx.get_call_record_link(missed.vpbx_id)


async def wait_until(condition, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.02)


async def test_simple_call_progresses_into_the_call_history(client: NewtelClient, sandbox: Sandbox) -> None:
    caller = sandbox.company.external_numbers[0]
    manager = sandbox.company.members[0]
    call_id = await client.call.start_simple_call(
        src_number=manager.internal_number, dst_number="+7 (916) 555-44-33", caller_id=caller, timeout=30
    )
    assert re.fullmatch(r"\d{16}", call_id)
    params = sandbox.requests[-1].params
    assert params == {
        "callerId": caller,
        "dstNumber": "79165554433",
        "srcNumber": manager.internal_number,
        "timeout": 30,
    }
    vpbx_id = await client.call.get_vpbx_id(call_id)

    async def ended() -> bool:
        return not (await client.vpbx.get_call_details(vpbx_id)).active

    await wait_until(ended)
    details = await client.vpbx.get_call_details(vpbx_id)
    assert (details.direction, details.clid, details.dnid, details.status) == ("out", caller, "79165554433", "answered")
    assert vpbx_id in {c.vpbx_id for c in await client.vpbx.get_calls()}


async def test_simple_call_method_errors(client: NewtelClient, sandbox: Sandbox) -> None:
    caller = sandbox.company.external_numbers[0]
    with pytest.raises(newtel.SameSourceAndDestination):
        await client.call.start_simple_call(src_number="79161234567", dst_number="8 916 123-45-67", caller_id=caller)
    with pytest.raises(newtel.CallerIdNotAllowed):
        await client.call.start_simple_call(src_number="100", dst_number="79161234567", caller_id="74990000000")
    with pytest.raises(newtel.CallNotFound):
        await client.call.get_vpbx_id("1" * 16)


async def test_password_call(client: NewtelClient, sandbox: Sandbox) -> None:
    started = await client.call.start_password_call(dst_number="8 916 111 22 33", pin="12345")
    assert (started.pin, started.status) == ("12345", None)
    assert re.fullmatch(r"\d{16}", started.call_id)
    waited = await client.call.start_password_call(dst_number="79161112233", asynchronous=False, timeout=20)
    assert waited.status in {"answered", "no answer"}
    assert sandbox.requests[-1].params["async"] == 0


async def test_generic_request_and_unknown_method(client: NewtelClient) -> None:
    data = await client.request("company/get-state")
    assert data["result"] == "success" and "state" in data
    with pytest.raises(newtel.MethodNotFound) as caught:
        await client.request("vpbx/hangup-call", {"vpbxId": "0" * 40})
    assert caught.value.http_status == 404


async def test_form_encoded_bodies_are_signed_and_accepted(sandbox: Sandbox) -> None:
    async with NewtelClient(sandbox.access_key, sandbox.signing_key, sandbox.url, body_format="form") as client:
        member = sandbox.company.members[0]
        assert (await client.company.get_member_details(member.name)).id == member.id
    assert sandbox.requests[-1].headers["Content-Type"] == "application/x-www-form-urlencoded"


async def test_blocked_account_answers_only_get_state(client: NewtelClient, sandbox: Sandbox) -> None:
    sandbox.set_state(status="blocked", balance=-120.5)
    state = await client.company.get_state()
    assert state.is_blocked and state.balance == Decimal("-120.5")
    with pytest.raises(newtel.AccountBlocked):
        await client.vpbx.get_calls()


async def test_a_call_says_what_it_is(client: NewtelClient, sandbox: Sandbox) -> None:
    sandbox.company.clear_calls()
    now = sandbox.now()
    sandbox.add_call(direction="in", status="no answer", start=now - 30, end=now - 10)
    sandbox.add_call(direction="in", status="answered", start=now - 30, answer=now - 25, end=now - 5)
    sandbox.add_call(direction="out", status="answered", start=now - 20, answer=now - 15)  # still talking
    kinds = [(c.is_inbound, c.is_outbound, c.is_answered, c.is_missed) for c in await client.vpbx.get_calls()]
    assert sorted(kinds) == [(False, True, True, False), (True, False, False, True), (True, False, True, False)]
