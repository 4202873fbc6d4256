"""Authentication, envelopes, response signing, bodies and the Date header."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from xml.etree import ElementTree

import aiohttp
import pytest

from newtel.sandbox import Sandbox


async def test_signed_request_succeeds_and_response_signature_verifies(api, sandbox):
    timestamp = int(time.time())
    reply = await api("company/get-state", timestamp=timestamp)
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/json; charset=utf-8"
    assert reply.json == {
        "status": "success",
        "data": {
            "result": "success",
            "state": {
                "balance": 12345.67,
                "credit": 0,
                "currency": "RUB",
                "dayTrafficCost": sandbox.company.state.day_traffic_cost,
                "monthTrafficCost": sandbox.company.state.month_traffic_cost,
                "status": "active",
            },
        },
    }
    assert api.signature_ok("company/get-state", reply, timestamp)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"access_key": "0" * 48}, "Authorization failed"),
        ({"signing_key": "f" * 48}, "Authorization failed"),
        ({"sign_body": b'{"other":1}'}, "Authorization failed"),
        ({"timestamp": -606}, "Request time is outside the allowed window"),
        ({"timestamp": +700}, "Request time is outside the allowed window"),
        ({"authorization": "Bearer nonsense"}, "Authorization failed"),
        ({"authorization": "Basic dXNlcjpwYXNz"}, "Authorization failed"),
    ],
    ids=["wrong-access-key", "wrong-signing-key", "hash-over-other-body", "stale", "future", "garbage", "basic"],
)
async def test_bad_authentication_is_401_and_unsigned(api, kwargs, message):
    if "timestamp" in kwargs:  # an offset from now
        kwargs = {"timestamp": int(time.time()) + kwargs["timestamp"]}
    reply = await api("company/get-state", **kwargs)
    assert reply.status == 401
    assert reply.json == {"status": "error", "message": message}
    assert "Signature" not in reply.headers
    assert "Date" in reply.headers


async def test_missing_authorization_is_401(api, sandbox):
    async with api.session.post(f"{sandbox.url}/company/get-state", data=b"{}") as response:
        assert response.status == 401
        assert "Signature" not in response.headers


async def test_time_window_follows_the_server_clock(api, sandbox):
    now = int(time.time())
    sandbox.clock_offset = 3600
    assert (await api("company/get-state", timestamp=now)).status == 401
    reply = await api("company/get-state", timestamp=now + 3600)
    assert reply.status == 200
    date = parsedate_to_datetime(reply.headers["Date"]).timestamp()
    assert abs(date - (time.time() + 3600)) < 5


async def test_window_edge_is_inclusive_of_ten_minutes(api):
    assert (await api("company/get-state", timestamp=int(time.time()) - 590)).status == 200


async def test_unknown_method_is_404_and_signed(api):
    timestamp = int(time.time())
    reply = await api("call/start_simple_call", {}, timestamp=timestamp)  # the PHP example's typo
    assert reply.status == 404
    assert reply.json == {"status": "error", "message": "Requested method not found"}
    assert api.signature_ok("call/start_simple_call", reply, timestamp)


@pytest.mark.parametrize("body", [b"", b'""', b"{}", b"[]", b"null"])
async def test_method_without_params_accepts_empty_bodies(api, body):
    reply = await api("company/get-members-list", body=body)
    assert reply.status == 200
    assert reply.data["result"] == "success"


async def test_form_urlencoded_body_is_accepted(api, sandbox):
    name = sandbox.company.members[1].name
    body = aiohttp.helpers.quote(f"name={name}", safe="=").encode()
    reply = await api("company/get-member-details", body=body, content_type="application/x-www-form-urlencoded")
    assert reply.status == 200
    assert reply.data["memberDetails"]["name"] == name
    assert sandbox.requests[-1].params == {"name": name}


async def test_unreadable_body_is_400(api):
    reply = await api("company/get-state", body=b"{not json")
    assert reply.status == 400
    assert reply.json["status"] == "error"


async def test_only_post(sandbox):
    sandbox.clock_offset = -7200
    async with aiohttp.ClientSession() as session, session.get(f"{sandbox.url}/company/get-state") as response:
        assert response.status == 405
        date = parsedate_to_datetime(response.headers["Date"]).timestamp()
        assert abs(date - (time.time() - 7200)) < 5


async def test_requests_are_recorded(api, sandbox):
    await api("company/get-member-details", {"name": "Никто"})
    recorded = sandbox.requests[-1]
    assert recorded.method == "company/get-member-details"
    assert recorded.params == {"name": "Никто"}
    assert recorded.body == b'{"name": "\\u041d\\u0438\\u043a\\u0442\\u043e"}'
    assert recorded.headers["Authorization"].startswith("Bearer ")
    assert abs(recorded.time - time.time()) < 5


async def test_utf8_json_body_is_signed_byte_for_byte(api):
    body = '{"name":"Никто"}'.encode()
    reply = await api("company/get-member-details", body=body)
    assert reply.data == {"result": "error", "message": "Member not found"}


async def test_xml_on_request(api):
    timestamp = int(time.time())
    reply = await api("company/get-numbers", accept="application/xml", timestamp=timestamp)
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("application/xml")
    root = ElementTree.fromstring(reply.body)
    assert root.findtext("status") == "success"
    assert root.findtext("data/result") == "success"
    assert len(root.findall("data/numbers/external/item")) == 3
    assert api.signature_ok("company/get-numbers", reply, timestamp)


async def test_given_keys_are_used_and_bad_keys_refused():
    with pytest.raises(ValueError):
        Sandbox("ABC", None)
    async with Sandbox("a" * 48, "b" * 48) as sb:
        assert (sb.access_key, sb.signing_key) == ("a" * 48, "b" * 48)
        assert sb.url.startswith("http://127.0.0.1:")
