"""Injected faults: latency, error statuses, rate limiting, bad signatures, dropped connections."""

from __future__ import annotations

import time

import aiohttp
import pytest


async def test_latency_delays_every_answer(api, sandbox):
    sandbox.faults.latency = 0.2
    started = time.perf_counter()
    assert (await api("company/get-state")).status == 200
    assert time.perf_counter() - started >= 0.2


async def test_fail_answers_the_next_n_requests_then_recovers(api, sandbox):
    sandbox.faults.fail(status=503, times=2, message="Service unavailable")
    timestamp = int(time.time())
    for _ in range(2):
        reply = await api("company/get-state", timestamp=timestamp)
        assert reply.status == 503
        assert reply.json == {"status": "error", "message": "Service unavailable"}
        assert api.signature_ok("company/get-state", reply, timestamp)
    assert (await api("company/get-state")).status == 200
    assert [r.method for r in sandbox.requests] == ["company/get-state"] * 3  # faulted attempts recorded


async def test_faults_can_target_methods(api, sandbox):
    sandbox.faults.fail(times=1, methods=["vpbx/get-calls"])
    assert (await api("company/get-state")).status == 200
    assert (await api("vpbx/get-calls")).status == 500
    assert (await api("vpbx/get-calls")).status == 200


async def test_rate_limit_sends_429_with_retry_after(api, sandbox):
    sandbox.faults.rate_limit(times=1, retry_after=7)
    reply = await api("vpbx/get-calls")
    assert reply.status == 429
    assert reply.headers["Retry-After"] == "7"
    assert reply.json["status"] == "error"
    assert (await api("vpbx/get-calls")).status == 200


async def test_tampered_signature(api, sandbox):
    sandbox.faults.tamper_signature = True
    timestamp = int(time.time())
    reply = await api("company/get-state", timestamp=timestamp)
    assert reply.status == 200
    assert len(reply.headers["Signature"]) == 64
    assert not api.signature_ok("company/get-state", reply, timestamp)
    sandbox.faults.clear()
    reply = await api("company/get-state", timestamp=timestamp)
    assert api.signature_ok("company/get-state", reply, timestamp)


async def test_dropped_signature(api, sandbox):
    sandbox.faults.drop_signature = True
    sandbox.faults.rate_limit(times=1)
    reply = await api("company/get-state")
    assert reply.status == 429 and "Signature" not in reply.headers
    reply = await api("company/get-state")
    assert reply.status == 200 and "Signature" not in reply.headers


async def test_malformed_call_rows(api, sandbox):
    call, other = sandbox.add_call(active=True), sandbox.add_call(active=True)
    sandbox.faults.malform(call.vpbx_id, clid=None, endTime="soon")
    for method, key in (("vpbx/get-calls", "calls"), ("vpbx/get-active-calls", "activeCalls")):
        rows = {row["vpbxId"]: row for row in (await api.ok(method))[key]}
        assert (rows[call.vpbx_id]["clid"], rows[call.vpbx_id]["endTime"]) == (None, "soon")
        assert rows[call.vpbx_id]["dnid"] == call.dnid  # only the named fields change
        assert rows[other.vpbx_id]["clid"] == other.clid
    details = (await api.ok("vpbx/get-call-details", {"vpbxId": call.vpbx_id}))["callDetails"]
    assert details["clid"] is None


async def test_a_recording_link_that_leads_elsewhere(api, sandbox):
    call = sandbox.add_call(status="answered")
    own = f"{sandbox.url}/records/{call.vpbx_id}.wav"
    sandbox.faults.record_link = "/proc/self/environ"
    reply = await api("vpbx/get-call-record-link", {"vpbxId": call.vpbx_id})
    assert reply.data["callRecordLink"] == "/proc/self/environ" and "Signature" in reply.headers
    sandbox.faults.record_redirect = "http://127.0.0.1:9/secret"
    async with api.session.get(own, allow_redirects=False) as served:
        assert (served.status, served.headers["Location"]) == (302, "http://127.0.0.1:9/secret")
    sandbox.faults.clear()
    assert (await api.ok("vpbx/get-call-record-link", {"vpbxId": call.vpbx_id}))["callRecordLink"] == own
    async with api.session.get(own, allow_redirects=False) as served:
        assert served.status == 200


async def test_disconnect_closes_without_an_answer(api, sandbox):
    sandbox.faults.disconnect(times=1, methods="call/start-simple-call")
    params = {
        "callerId": sandbox.company.external_numbers[0],
        "dstNumber": "79161112233",
        "srcNumber": "100",
    }
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api("call/start-simple-call", params)
    assert sandbox.requests[-1].method == "call/start-simple-call"
    calls_before = len(sandbox.company.calls)
    assert "callId" in (await api.ok("call/start-simple-call", params))
    assert len(sandbox.company.calls) == calls_before + 1  # the dropped request started nothing


async def test_clear_disarms_everything(api, sandbox):
    sandbox.faults.latency = 5
    sandbox.faults.fail(times=3)
    sandbox.faults.rate_limit(times=3)
    sandbox.faults.disconnect(times=3)
    sandbox.faults.drop_signature = True
    call = sandbox.add_call()
    sandbox.faults.malform(call.vpbx_id, clid=None)
    sandbox.faults.clear()
    reply = await api("company/get-state")
    assert reply.status == 200 and "Signature" in reply.headers
    assert next(row for row in (await api.ok("vpbx/get-calls"))["calls"] if row["vpbxId"] == call.vpbx_id)["clid"]


async def test_bad_auth_wins_over_faults(api, sandbox):
    # Faults are injected after authentication: a badly signed request gets its 401 and the fault stays armed.
    sandbox.faults.fail(times=1)
    assert (await api("company/get-state", signing_key="0" * 48)).status == 401
    assert (await api("company/get-state")).status == 500
