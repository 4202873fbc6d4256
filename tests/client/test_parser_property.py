"""Whatever bytes come back, the parser answers with data or a NewtelError, never another exception."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from newtel import NewtelError
from newtel._company import _State
from newtel._models import parse_model
from newtel._transport import parse_response
from newtel._vpbx import _Calls

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
envelope_keys = st.sampled_from(["status", "message", "data", "result", "calls", "state", "success", "error"])
envelopes = st.dictionaries(
    envelope_keys,
    st.sampled_from(["success", "error"]) | json_values | st.dictionaries(envelope_keys, json_values, max_size=4),
    max_size=4,
)
statuses = st.sampled_from([200, 201, 204, 301, 400, 401, 403, 404, 429, 500, 502, 503, 599])


def _parse_everything(http_status: int, raw: bytes) -> None:
    try:
        data = parse_response("vpbx/get-calls", http_status, raw)
        parse_model(_Calls, data, "vpbx/get-calls")
        parse_model(_State, data, "company/get-state")
    except NewtelError:
        pass


@settings(max_examples=400, deadline=None)
@given(statuses, st.binary(max_size=200))
def test_random_bytes(http_status: int, raw: bytes) -> None:
    _parse_everything(http_status, raw)


@settings(max_examples=400, deadline=None)
@given(statuses, envelopes)
def test_random_envelopes(http_status: int, document: object) -> None:
    _parse_everything(http_status, json.dumps(document).encode())


@settings(max_examples=200, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["vpbxId", "active", "direction", "startTime"]), json_values)))
def test_random_call_lists(calls: list[dict[str, object]]) -> None:
    raw = json.dumps({"status": "success", "data": {"result": "success", "calls": calls}}).encode()
    _parse_everything(200, raw)


def test_deeply_nested_json_is_a_newtel_error() -> None:
    _parse_everything(200, b"[" * 100_000 + b"]" * 100_000)
