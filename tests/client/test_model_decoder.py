"""The straight-from-bytes decoder of ``vpbx/get-calls`` answers what ``parse_response`` + ``parse_model`` answer:
the same models, the same errors, except that a malformed row is left out instead of failing the whole list."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import newtel
from newtel._models import parse_model
from newtel._transport import parse_response
from newtel._vpbx import _CALLS, _Calls
from newtel.sandbox import Sandbox

METHOD = "vpbx/get-calls"
CALL = {
    "vpbxId": "a1",
    "active": False,
    "direction": "in",
    "clid": "79035551122",
    "dnid": "74951234567",
    "status": "no answer",
    "startTime": 1_700_000_000,
    "answerTime": None,
    "endTime": 1_700_000_030,
    "somethingNew": [1, 2],
}


def body(document: object) -> bytes:
    return json.dumps(document).encode()


def two_steps(http_status: int, raw: bytes) -> _Calls:
    return parse_model(_Calls, parse_response(METHOD, http_status, raw), METHOD)


def outcome(decode: Callable[[int, bytes], _Calls], http_status: int, raw: bytes) -> object:
    """The value, or the error's class and text."""
    try:
        return decode(http_status, raw)
    except newtel.NewtelError as error:
        return type(error), str(error)


def fast(http_status: int, raw: bytes) -> _Calls:
    return _CALLS.decode(http_status, raw, None)


def test_a_history_parses_to_the_same_models() -> None:
    raw = body({"status": "success", "data": {"result": "success", "calls": [CALL, {**CALL, "vpbxId": "b2"}]}})
    parsed = fast(200, raw)
    assert parsed == two_steps(200, raw)
    assert parsed.calls[0].is_missed  # and the unknown "somethingNew" field did not get in the way


def test_bad_rows_are_left_out_and_the_rest_kept_in_order() -> None:
    rows = [CALL, {**CALL, "vpbxId": "b2", "active": "maybe"}, "x", None, [], {**CALL, "vpbxId": "c3"}]
    raw = body({"status": "success", "data": {"result": "success", "calls": rows}})
    assert [call.vpbx_id for call in fast(200, raw).calls] == ["a1", "c3"]


@pytest.mark.parametrize(
    ("http_status", "raw"),
    [
        (200, b"not json"),
        (200, body({"status": "success"})),
        (200, body({"status": "success", "data": {"calls": []}})),  # no data.result
        (200, body({"status": "success", "data": {"result": "error", "message": "Error occured"}})),
        (200, body({"status": "success", "data": {"result": "success"}})),
        (200, body({"status": "success", "data": {"result": "success", "calls": None}})),
        (200, body({"status": "success", "data": {"result": "success", "calls": {"a1": CALL}}})),
        (200, body({"status": "error", "message": "Something"})),
        (403, body({"status": "error", "message": "Company account is blocked"})),
        (500, body({"status": "success", "data": {"result": "success", "calls": []}})),
        (503, b""),
    ],
)
def test_errors_are_the_two_step_errors(http_status: int, raw: bytes) -> None:
    expected = outcome(two_steps, http_status, raw)
    assert isinstance(expected, tuple)  # every case here is an error
    assert outcome(fast, http_status, raw) == expected


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([200, 201, 302, 400, 429, 500]),
    st.sampled_from(["success", "error", 1]),
    st.sampled_from(["success", "error", None]),
    st.lists(st.fixed_dictionaries({}, optional={k: st.sampled_from([v, None, "x", 1]) for k, v in CALL.items()})),
)
def test_random_answers_decode_like_two_steps_row_by_row(
    http_status: int, status: object, result: object, calls: list[dict[str, object]]
) -> None:
    """What two steps accept decodes the same; what they refuse for the envelope is the same error; what they
    refuse for some rows is every row that decodes on its own, in order."""

    def answer(rows: list[dict[str, object]]) -> bytes:
        return body({"status": status, "data": {"result": result, "calls": rows}})

    expected = outcome(two_steps, http_status, answer(calls))
    envelope = outcome(two_steps, http_status, answer([]))
    got = outcome(fast, http_status, answer(calls))
    if not isinstance(expected, tuple) or isinstance(envelope, tuple):
        assert got == expected
    else:
        one_by_one = [c for row in calls for c in fast(http_status, answer([row])).calls]
        assert isinstance(got, _Calls) and got.calls == one_by_one


async def test_get_calls_through_the_sandbox(sandbox: Sandbox) -> None:
    call = sandbox.add_call(direction="in", status="no answer")
    async with newtel.NewtelClient(sandbox.access_key, sandbox.signing_key, sandbox.url) as client:
        calls = {c.vpbx_id: c for c in await client.vpbx.get_calls()}
    assert calls[call.vpbx_id].is_missed and len(calls) == len(sandbox.company.calls)
