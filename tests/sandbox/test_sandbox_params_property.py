"""Property tests for the parameter rules: any input is either accepted as documented or named as invalid."""

from __future__ import annotations

import contextlib
import json
import re

from hypothesis import given
from hypothesis import strategies as st

from newtel.sandbox import METHODS
from newtel.sandbox._params import CALLER_ID, DST_NUMBER, SRC_NUMBER, InvalidBody, InvalidParameter, parse_body

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
param_names = st.sampled_from(
    ["name", "callerId", "dstNumber", "srcNumber", "timeout", "pin", "async", "callId", "vpbxId"]
)


@given(method=st.sampled_from(sorted(METHODS)), params=st.dictionaries(param_names, json_values, max_size=5))
def test_validation_accepts_or_names_a_parameter(method, params):
    spec = METHODS[method].spec
    try:
        checked = spec.validate(params)
    except InvalidParameter as e:
        assert e.name in spec.fields
    else:
        assert set(checked) == set(spec.fields)


@given(st.binary(max_size=40), st.sampled_from(["application/json", "application/x-www-form-urlencoded", ""]))
def test_any_body_parses_or_is_refused_cleanly(body, content_type):
    with contextlib.suppress(InvalidBody):
        assert isinstance(parse_body(body, content_type), dict)


@given(st.from_regex(r"[1-9][0-9]{8,14}", fullmatch=True))
def test_documented_numbers_are_accepted(number):
    assert DST_NUMBER(number) == number
    assert CALLER_ID(number) == number
    assert SRC_NUMBER(f"{number},100") == [number, "100"]


@given(st.text(max_size=20))
def test_dst_number_rule(text):
    ok = re.fullmatch(r"[1-9][0-9]{8,14}", text) is not None
    try:
        DST_NUMBER(text)
    except ValueError:
        assert not ok
    else:
        assert ok


def test_json_round_trip_of_a_php_style_body():
    body = json.dumps({"callerId": "74951112233", "timeout": 30}).encode()
    assert parse_body(body, "application/json") == {"callerId": "74951112233", "timeout": 30}
