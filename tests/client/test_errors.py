"""The error-mapping table: HTTP status and the documented messages → one class of the error tree."""

from __future__ import annotations

import json

import pytest

import newtel
from newtel._transport import parse_response


def body(document: object) -> bytes:
    return json.dumps(document).encode()


def method_failure(message: str) -> bytes:
    return body({"status": "success", "data": {"result": "error", "message": message}})


@pytest.mark.parametrize(
    ("http_status", "raw", "expected"),
    [
        (401, body({"status": "error", "message": "Authorization failed"}), newtel.AuthError),
        (403, body({"status": "error", "message": "Access denied"}), newtel.PermissionDenied),
        (403, body({"status": "error", "message": "Company account is blocked"}), newtel.AccountBlocked),
        (404, body({"status": "error", "message": "Requested method not found"}), newtel.MethodNotFound),
        (400, body({"status": "error", "message": "Invalid parameter: dstNumber"}), newtel.InvalidParameters),
        (429, body({"status": "error", "message": "Too many requests"}), newtel.RateLimited),
        (500, body({"status": "error", "message": "Internal server error"}), newtel.ServerError),
        (502, b"<html>Bad gateway</html>", newtel.ServerError),
        (503, b"", newtel.ServerError),
        (418, body({"status": "error"}), newtel.APIError),
        (200, body({"status": "error", "message": "Something"}), newtel.APIError),
        (200, method_failure("Call not found"), newtel.CallNotFound),
        (200, method_failure("Call not found or unavailable"), newtel.CallNotFound),
        (200, method_failure("Member not found"), newtel.MemberNotFound),
        (200, method_failure("Record not found"), newtel.RecordNotFound),
        (200, method_failure("Destination and source numbers must not match"), newtel.SameSourceAndDestination),
        (200, method_failure("Specified caller ID not allowed"), newtel.CallerIdNotAllowed),
        (200, method_failure("Method for inbound call only"), newtel.InboundCallOnly),
        (200, method_failure("Method for outbound call only"), newtel.OutboundCallOnly),
        (200, method_failure("Error occured"), newtel.MethodError),
        (200, b"not json", newtel.ResponseError),
        (200, body([1, 2]), newtel.ResponseError),
        (200, body({"status": "success"}), newtel.ResponseError),
        (200, body({"status": "success", "data": {"state": {}}}), newtel.ResponseError),
    ],
)
def test_error_mapping(http_status: int, raw: bytes, expected: type[newtel.NewtelError]) -> None:
    with pytest.raises(expected) as caught:
        parse_response("vpbx/get-call-details", http_status, raw, retry_after=7)
    error = caught.value
    assert type(error) is expected  # the most specific class, not just a parent
    assert error.method == "vpbx/get-call-details"
    assert "vpbx/get-call-details" in str(error)
    if isinstance(error, newtel.RateLimited):
        assert error.retry_after == 7


def test_error_carries_status_and_server_message() -> None:
    with pytest.raises(newtel.MemberNotFound) as caught:
        parse_response("company/get-member-details", 200, method_failure("Member not found"))
    assert (caught.value.http_status, caught.value.server_message) == (200, "Member not found")
    with pytest.raises(newtel.MethodNotFound) as not_found:
        parse_response("x/y", 404, body({"status": "error", "message": "Requested method not found"}))
    assert (not_found.value.http_status, not_found.value.server_message) == (404, "Requested method not found")


def test_success_returns_the_data_object() -> None:
    raw = body({"status": "success", "data": {"result": "success", "callId": "1234567890123456"}})
    assert parse_response("call/start-simple-call", 200, raw) == {"result": "success", "callId": "1234567890123456"}


def test_every_error_is_a_newtel_error() -> None:
    classes = [getattr(newtel, name) for name in newtel.__all__ if name.endswith(("Error", "Found", "Only"))]
    classes += [newtel.RateLimited, newtel.Timeout, newtel.SignatureMismatch, newtel.AccountBlocked]
    assert all(issubclass(cls, newtel.NewtelError) for cls in classes)


@pytest.mark.parametrize(
    ("error", "may_have_run"),
    [
        (newtel.Timeout("no answer", method="call/start-simple-call"), True),
        (newtel.NetworkError("broken mid-way", method="call/start-simple-call"), True),
        (newtel.NetworkError("refused", method="call/start-simple-call", maybe_sent=False), False),
        (newtel.ServerError("HTTP 502", http_status=502), True),
        (newtel.ResponseError("not JSON"), True),
        (newtel.SignatureMissing("unsigned"), True),
        (newtel.RateLimited("HTTP 429", http_status=429), False),
        (newtel.AuthError("HTTP 401", http_status=401), False),
        (newtel.CallerIdNotAllowed("Specified caller id not allowed"), False),
        (newtel.ValidationError("dstNumber", "must be a phone number"), False),
    ],
)
def test_whether_a_failed_request_may_have_run_is_decided_by_the_error(
    error: newtel.NewtelError, may_have_run: bool
) -> None:
    assert error.may_have_run is may_have_run
