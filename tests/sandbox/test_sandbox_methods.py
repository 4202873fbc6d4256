"""Every documented method's payload shape, parameter rules and documented errors."""

from __future__ import annotations

import time

import pytest

from newtel.sandbox import METHODS, Sandbox, generate_company

VPBX_ID = "da39a3ee5e6b4b0d3255bfef95601890afd80709"  # well-formed, unknown to the sandbox

DOCUMENTED = {
    "company/get-state",
    "company/get-profile-details",
    "company/get-members",
    "company/get-members-list",
    "company/get-member-details",
    "company/get-numbers",
    "user/get-profile-details",
    "call/start-simple-call",
    "call/start-password-call",
    "call/get-vpbx-id",
    *(
        f"vpbx/{name}"
        for name in (
            "get-calls",
            "get-calls-list",
            "get-active-calls",
            "get-active-calls-list",
            "get-call-details",
            "get-call-direction",
            "get-call-status",
            "get-call-start-time",
            "get-call-answer-time",
            "get-call-end-time",
            "get-inbound-call-clid",
            "get-inbound-call-dnid",
            "get-inbound-call-answered-numbers",
            "get-inbound-call-first-answered-number",
            "get-outbound-call-internal-clid",
            "get-outbound-call-external-clid",
            "get-outbound-call-dnid",
            "get-call-record-link",
            "get-registered-numbers-list",
            "get-ringing-numbers-list",
            "get-active-numbers-list",
        )
    ),
}


def test_all_31_documented_methods_exist():
    assert len(DOCUMENTED) == 31
    assert set(METHODS) == DOCUMENTED


def test_demo_company_is_deterministic_and_believable():
    a, b = generate_company(7, 60, now=1_700_000_000), generate_company(7, 60, now=1_700_000_000)
    assert [m.name for m in a.members] == [m.name for m in b.members]
    assert [c.vpbx_id for c in a.calls] == [c.vpbx_id for c in b.calls]
    assert 5 <= len(a.members) <= 6
    assert [m.internal_number for m in a.members] == [str(100 + i) for i in range(len(a.members))]
    assert sum(m.personal_number is None for m in a.members) == 1
    assert [n[:4] for n in a.external_numbers] == ["7495", "7800", "7812"]
    assert len(a.calls) == 60
    assert {c.direction for c in a.calls} == {"in", "out"}
    assert any(c.active(1_700_000_000) for c in a.calls)


async def test_company_methods(api, sandbox):
    company = sandbox.company
    members = (await api.ok("company/get-members"))["members"]
    assert members[0] == {
        "Id": company.members[0].id,
        "Name": company.members[0].name,
        "Email": company.members[0].email,
        "internalNumber": "100",
        "personalNumber": company.members[0].personal_number,
        "timeZone": "Europe/Moscow",
    }
    names = (await api.ok("company/get-members-list"))["membersList"]
    assert names == [m.name for m in company.members]
    details = (await api.ok("company/get-member-details", {"name": names[2]}))["memberDetails"]
    assert set(details) == {"Id", "name", "email", "internalNumber", "personalNumber", "timeZone"}
    assert details["name"] == names[2]
    profile = (await api.ok("company/get-profile-details"))["profileDetails"]
    assert set(profile) == {"id", "companyName", "registeredBy", "registeredOn", "agreementNumber", "agreementDate"}
    assert profile["companyName"] == company.profile.company_name
    numbers = (await api.ok("company/get-numbers"))["numbers"]
    assert numbers == {"external": company.external_numbers, "internal": company.internal_numbers, "virtual": []}
    user = (await api.ok("user/get-profile-details"))["profileDetails"]
    assert user == {
        "name": names[0],
        "email": company.members[0].email,
        "internalNumber": "100",
        "personalNumber": company.members[0].personal_number,
        "timeZone": "Europe/Moscow",
    }


async def test_vpbx_lists(api, sandbox):
    calls = (await api.ok("vpbx/get-calls"))["calls"]
    assert len(calls) == 60
    assert set(calls[0]) == {
        "vpbxId",
        "active",
        "direction",
        "clid",
        "dnid",
        "status",
        "startTime",
        "answerTime",
        "endTime",
    }
    assert [c["startTime"] for c in calls] == sorted(c["startTime"] for c in calls)
    assert (await api.ok("vpbx/get-calls-list"))["callsList"] == [c["vpbxId"] for c in calls]
    active = (await api.ok("vpbx/get-active-calls"))["activeCalls"]
    assert active and all(c["active"] and c["endTime"] is None for c in active)
    assert (await api.ok("vpbx/get-active-calls-list"))["activeCallsList"] == [c["vpbxId"] for c in active]
    for call in calls:
        assert (call["status"] == "answered") == (call["answerTime"] is not None)
        assert call["active"] == (call["endTime"] is None)
    registered = (await api.ok("vpbx/get-registered-numbers-list"))["registeredNumbersList"]
    assert set(registered) < set(sandbox.company.internal_numbers)
    ringing = (await api.ok("vpbx/get-ringing-numbers-list"))["ringingNumbersList"]
    talking = (await api.ok("vpbx/get-active-numbers-list"))["activeNumbersList"]
    assert set(ringing) <= set(sandbox.company.internal_numbers)
    assert talking and set(talking) <= set(sandbox.company.internal_numbers)


async def test_vpbx_call_getters(api, sandbox):
    start = time.time() - 300
    inbound = sandbox.add_call(
        "in",
        clid="79161112233",
        status="answered",
        start=start,
        answer=start + 10,
        end=start + 70,
        answered_numbers=("101", "100"),
    )
    outbound = sandbox.add_call("out", dnid="79035556677", status="no answer", internal_clid="102")
    v = {"vpbxId": inbound.vpbx_id}
    details = (await api.ok("vpbx/get-call-details", v))["callDetails"]
    assert details == {
        "vpbxId": inbound.vpbx_id,
        "active": False,
        "direction": "in",
        "clid": "79161112233",
        "dnid": sandbox.company.external_numbers[0],
        "status": "answered",
        "startTime": int(start),
        "answerTime": int(start + 10),
        "endTime": int(start + 70),
    }
    expected = {
        "vpbx/get-call-direction": ("callDirection", "in"),
        "vpbx/get-call-status": ("callStatus", "answered"),
        "vpbx/get-call-start-time": ("callStartTime", int(start)),
        "vpbx/get-call-answer-time": ("callAnswerTime", int(start + 10)),
        "vpbx/get-call-end-time": ("callEndTime", int(start + 70)),
        "vpbx/get-inbound-call-clid": ("callClid", "79161112233"),
        "vpbx/get-inbound-call-dnid": ("callDnid", sandbox.company.external_numbers[0]),
        "vpbx/get-inbound-call-answered-numbers": ("callAnsweredNumbers", ["101", "100"]),
        "vpbx/get-inbound-call-first-answered-number": ("callFirstAnsweredNumber", "101"),
        "vpbx/get-call-record-link": ("callRecordLink", f"{sandbox.url}/records/{inbound.vpbx_id}.wav"),
    }
    for method, (key, value) in expected.items():
        assert (await api.ok(method, v)) == {"result": "success", key: value}, method

    o = {"vpbxId": outbound.vpbx_id}
    assert (await api.ok("vpbx/get-outbound-call-internal-clid", o))["callInternalClid"] == "102"
    assert (await api.ok("vpbx/get-outbound-call-external-clid", o))["callExternalClid"] == (
        sandbox.company.external_numbers[0]
    )
    assert (await api.ok("vpbx/get-outbound-call-dnid", o))["callDnid"] == "79035556677"
    assert (await api.ok("vpbx/get-call-answer-time", o))["callAnswerTime"] is None
    assert (await api.ok("vpbx/get-call-status", o))["callStatus"] == "no answer"


def _error(message):
    return {"result": "error", "message": message}


async def test_documented_method_errors(api, sandbox):
    inbound = sandbox.add_call("in", status="answered")
    outbound = sandbox.add_call("out", status="answered")
    missed = sandbox.add_call("in", status="no answer")
    caller, member = sandbox.company.external_numbers[0], sandbox.company.members[0]
    cases = [
        ("company/get-member-details", {"name": "Нет Такого"}, "Member not found"),
        ("vpbx/get-call-details", {"vpbxId": VPBX_ID}, "Call not found"),
        ("vpbx/get-call-record-link", {"vpbxId": VPBX_ID}, "Call not found"),
        ("call/get-vpbx-id", {"callId": "1234567890123456"}, "Call not found or unavailable"),
        (
            "call/start-simple-call",
            {"callerId": caller, "dstNumber": "79161112233", "srcNumber": "79161112233"},
            "Destination and source numbers must not match",
        ),
        (
            "call/start-simple-call",
            {"callerId": caller, "dstNumber": "79161112233", "srcNumber": "100,79161112233"},
            "Destination and source numbers must not match",
        ),
        (
            "call/start-simple-call",
            {"callerId": "74950000000", "dstNumber": "79161112233", "srcNumber": member.internal_number},
            "Specified caller ID not allowed",
        ),
        ("vpbx/get-call-record-link", {"vpbxId": missed.vpbx_id}, "Record not found"),
    ]
    for method in (
        "vpbx/get-inbound-call-clid",
        "vpbx/get-inbound-call-dnid",
        "vpbx/get-inbound-call-answered-numbers",
        "vpbx/get-inbound-call-first-answered-number",
    ):
        cases.append((method, {"vpbxId": outbound.vpbx_id}, "Method for inbound call only"))
    for method in (
        "vpbx/get-outbound-call-internal-clid",
        "vpbx/get-outbound-call-external-clid",
        "vpbx/get-outbound-call-dnid",
    ):
        cases.append((method, {"vpbxId": inbound.vpbx_id}, "Method for outbound call only"))
        cases.append((method, {"vpbxId": VPBX_ID}, "Call not found"))
    for method, params, message in cases:
        reply = await api(method, params)
        assert reply.status == 200, (method, reply.body)
        assert reply.json == {"status": "success", "data": _error(message)}, method


@pytest.mark.parametrize(
    ("method", "params", "name"),
    [
        ("company/get-member-details", {}, "name"),
        ("company/get-member-details", {"name": ""}, "name"),
        ("company/get-member-details", {"name": 5}, "name"),
        ("call/start-simple-call", {"dstNumber": "79161112233", "srcNumber": "100"}, "callerId"),
        ("call/start-simple-call", {"callerId": "123", "dstNumber": "79161112233", "srcNumber": "100"}, "callerId"),
        ("call/start-simple-call", {"callerId": "0495111", "dstNumber": "79161112233", "srcNumber": "1"}, "callerId"),
        (
            "call/start-simple-call",
            {"callerId": "74951112233", "dstNumber": "12345678", "srcNumber": "10"},
            "dstNumber",
        ),
        (
            "call/start-simple-call",
            {"callerId": "74951112233", "dstNumber": "09161112233", "srcNumber": "10"},
            "dstNumber",
        ),
        (
            "call/start-simple-call",
            {"callerId": "74951112233", "dstNumber": "7916111223344556", "srcNumber": "10"},
            "dstNumber",
        ),
        (
            "call/start-simple-call",
            {"callerId": "74951112233", "dstNumber": "79161112233", "srcNumber": "1"},
            "srcNumber",
        ),
        (
            "call/start-simple-call",
            {"callerId": "74951112233", "dstNumber": "79161112233", "srcNumber": "10,"},
            "srcNumber",
        ),
        ("call/start-simple-call", {"callerId": "74951112233", "dstNumber": "79161112233"}, "srcNumber"),
        (
            "call/start-simple-call",
            {"callerId": "74951112233", "dstNumber": "79161112233", "srcNumber": "100", "timeout": 19},
            "timeout",
        ),
        (
            "call/start-simple-call",
            {"callerId": "74951112233", "dstNumber": "79161112233", "srcNumber": "100", "timeout": 100},
            "timeout",
        ),
        ("call/start-password-call", {"dstNumber": "79161112233", "async": 2}, "async"),
        ("call/start-password-call", {"dstNumber": "79161112233", "async": True}, "async"),
        ("call/start-password-call", {"dstNumber": "79161112233"}, "async"),
        ("call/start-password-call", {"dstNumber": "79161112233", "async": 1, "pin": "1234"}, "pin"),
        ("call/start-password-call", {"dstNumber": "79161112233", "async": 1, "pin": "12a45"}, "pin"),
        ("call/start-password-call", {"async": 1}, "dstNumber"),
        ("call/get-vpbx-id", {"callId": "123456789012345"}, "callId"),
        ("call/get-vpbx-id", {}, "callId"),
        ("vpbx/get-call-details", {"vpbxId": VPBX_ID.upper()}, "vpbxId"),
        ("vpbx/get-call-details", {"vpbxId": VPBX_ID[:-1]}, "vpbxId"),
        ("vpbx/get-call-status", {}, "vpbxId"),
    ],
)
async def test_invalid_parameters_are_400_naming_the_parameter(api, method, params, name):
    timestamp = int(time.time())
    reply = await api(method, params, timestamp=timestamp)
    assert reply.status == 400
    assert reply.json == {"status": "error", "message": f"Invalid parameter: {name}"}
    assert api.signature_ok(method, reply, timestamp)


async def test_numbers_may_come_as_json_integers(api, sandbox):
    caller = int(sandbox.company.external_numbers[0])
    data = await api.ok("call/start-simple-call", {"callerId": caller, "dstNumber": 79161112233, "srcNumber": 100})
    assert len(data["callId"]) == 16


async def test_blocked_account_answers_only_get_state(api, sandbox):
    sandbox.set_state(status="blocked", balance=-131)
    state = (await api.ok("company/get-state"))["state"]
    assert state["status"] == "blocked"
    assert state["balance"] == -131
    timestamp = int(time.time())
    for method in ("company/get-members", "vpbx/get-calls", "call/get-vpbx-id"):
        reply = await api(method, timestamp=timestamp)
        assert reply.status == 403, method
        assert reply.json == {"status": "error", "message": "Company account is blocked"}
        assert api.signature_ok(method, reply, timestamp)
    sandbox.set_state(status="active")
    assert (await api("company/get-members")).status == 200


def test_set_state_rejects_unknown_values():
    sb = Sandbox()
    with pytest.raises(ValueError):
        sb.set_state(status="asleep")
    with pytest.raises(TypeError):
        sb.set_state(money=1)
