"""One malformed row in a call list costs that row, not the whole answer: a poll keeps alerting about the rest."""

from __future__ import annotations

import logging
import secrets
from typing import Any

import pytest

import newtel
from newtel import NewtelClient
from newtel.sandbox import Sandbox

BAD_FIELDS: list[dict[str, Any]] = [
    {"clid": None},
    {"clid": 7.9161234567e10},  # a float is no phone number: skipped, not turned into "79161234567.0"
    {"dnid": None},
    {"status": None},
    {"active": None},
    {"endTime": "soon"},
]


def warnings_about(caplog: pytest.LogCaptureFixture, vpbx_id: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "newtel" and vpbx_id in r.getMessage()]


@pytest.mark.parametrize("fields", BAD_FIELDS, ids=lambda fields: ",".join(f"{k}={v}" for k, v in fields.items()))
async def test_a_malformed_call_is_skipped_and_the_rest_returned(
    client: NewtelClient, sandbox: Sandbox, fields: dict[str, Any]
) -> None:
    bad, good = sandbox.add_call(), sandbox.add_call(status="no answer")
    sandbox.faults.malform(bad.vpbx_id, **fields)
    calls = {c.vpbx_id: c for c in await client.vpbx.get_calls()}
    assert bad.vpbx_id not in calls
    assert calls[good.vpbx_id].is_missed
    assert len(calls) == len(sandbox.company.calls_within_day(sandbox.now())) - 1


async def test_a_malformed_active_call_is_skipped(client: NewtelClient, sandbox: Sandbox) -> None:
    bad, good = sandbox.add_call(active=True), sandbox.add_call(active=True)
    sandbox.faults.malform(bad.vpbx_id, status=None)
    assert [c.vpbx_id for c in await client.vpbx.get_active_calls() if c.vpbx_id in (bad.vpbx_id, good.vpbx_id)] == [
        good.vpbx_id
    ]


async def test_a_malformed_call_is_logged_once_not_every_poll(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="newtel")
    # What was reported is remembered for the process, so this test needs vpbxIds no other test has used.
    async with Sandbox(seed=secrets.randbits(64)) as sandbox:
        first, second = sandbox.add_call(), sandbox.add_call()
        sandbox.faults.malform(first.vpbx_id, clid=None)
        async with NewtelClient(sandbox.access_key, sandbox.signing_key, sandbox.url) as client:
            for _ in range(3):
                await client.vpbx.get_calls()
            assert len(warnings_about(caplog, first.vpbx_id)) == 1
            assert "clid" in warnings_about(caplog, first.vpbx_id)[0].getMessage()
            assert "79161112233" not in caplog.text  # what is wrong, not the caller's number
            sandbox.faults.malform(second.vpbx_id, endTime="soon")  # a new bad row is news again
            for _ in range(2):
                await client.with_options(timeout=5).vpbx.get_calls()
    assert len(warnings_about(caplog, second.vpbx_id)) == 1
    assert len(warnings_about(caplog, first.vpbx_id)) == 1


async def test_a_numeric_clid_is_taken_as_its_digits(client: NewtelClient, sandbox: Sandbox) -> None:
    # The document says strings; an integer such as 79161234567 can only mean those digits.
    call = sandbox.add_call(active=True)
    sandbox.faults.malform(call.vpbx_id, clid=79161234567, dnid=74951234567)
    for calls in (await client.vpbx.get_calls(), await client.vpbx.get_active_calls()):
        found = next(c for c in calls if c.vpbx_id == call.vpbx_id)
        assert (found.clid, found.dnid) == ("79161234567", "74951234567")
    details = await client.vpbx.get_call_details(call.vpbx_id)
    assert (details.clid, details.dnid) == ("79161234567", "74951234567")


async def test_a_malformed_single_call_is_still_an_error(client: NewtelClient, sandbox: Sandbox) -> None:
    call = sandbox.add_call()
    sandbox.faults.malform(call.vpbx_id, endTime="soon")
    with pytest.raises(newtel.ResponseError, match="endTime"):
        await client.vpbx.get_call_details(call.vpbx_id)
