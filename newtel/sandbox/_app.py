"""The HTTP side: routing, authentication, envelopes, response signing, faults and request logging.

Order of checks for ``POST /<method>``, as the document implies: authentication (401, unsigned) first;
then injected faults; then the method's existence (404); the blocked account (403); the parameters (400);
and finally the method itself (200, with ``data.result`` "success" or "error").
Every answer, a refusal or a recording too, is counted with its body's bytes in ``Sandbox.traffic``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree

from aiohttp import web

from newtel._signing import parse_token, signature, signatures_match

from ._faults import Fault
from ._methods import METHODS, Context, MethodError
from ._params import InvalidBody, InvalidParameter, Params, parse_body
from ._wav import recording

if TYPE_CHECKING:
    from ._sandbox import Sandbox

log = logging.getLogger("newtel.sandbox")

TIME_WINDOW = 600  # ±10 minutes, as the document says
UNBLOCKED_METHODS = frozenset({"company/get-state"})  # the only method that answers a blocked account
SANDBOX: web.AppKey[Sandbox] = web.AppKey("sandbox")
RECORDINGS = "records"  # the traffic key of the recordings' downloads (GET /records/<vpbxId>.wav)

Envelope = dict[str, Any]


@dataclass(slots=True)
class RecordedRequest:
    method: str
    params: Params  # parsed body ({} when it could not be parsed)
    body: bytes
    headers: Mapping[str, str]
    time: float  # server clock (offset applied) when it arrived


@dataclass(slots=True)
class Traffic:
    """What one method cost the clients: requests answered and the response bodies' bytes."""

    requests: int = 0
    body_bytes: int = 0


@dataclass(slots=True)
class Answer:
    status: int
    envelope: Envelope
    signed_time: int | None = None  # the request's own time, when the request was correctly signed
    headers: dict[str, str] | None = None


def make_app(sandbox: Sandbox) -> web.Application:
    app = web.Application()
    app[SANDBOX] = sandbox
    app.on_response_prepare.append(_date_header)
    app.router.add_get("/records/{vpbx_id:[0-9a-f]{40}}.wav", _serve_recording)
    app.router.add_get("/sandbox/traffic", _serve_traffic)  # not New-Tel's: for a benchmark in another process
    app.router.add_post("/{method:.+}", _serve_method)
    return app


async def _date_header(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer, aiohttp's own 404/405 included, is dated by the sandbox's (offsettable) clock:
    clients read it to correct their clock skew."""
    response.headers["Date"] = formatdate(request.app[SANDBOX].now(), usegmt=True)


async def _serve_method(request: web.Request) -> web.StreamResponse:
    sandbox = request.app[SANDBOX]
    started = time.perf_counter()
    method = request.match_info["method"]
    body = await request.read()
    try:
        params, body_error = parse_body(body, request.content_type), None
    except InvalidBody as e:
        params, body_error = {}, e
    if sandbox.record_requests:
        sandbox.requests.append(RecordedRequest(method, params, body, request.headers, sandbox.now()))
    if sandbox.faults.latency > 0:
        await asyncio.sleep(sandbox.faults.latency)

    answer = await _answer(request, sandbox, method, body, params, body_error)
    if answer is None:  # an injected disconnect: close without a word
        assert request.transport is not None
        request.transport.close()
        _count(sandbox, method, 0)
        log.info("%s dropped %.1f ms", method, (time.perf_counter() - started) * 1000)
        return web.Response()
    response = _render(request, sandbox, method, answer)
    _count(sandbox, method, response.content_length or 0)
    log.info("%s %d %.1f ms", method, answer.status, (time.perf_counter() - started) * 1000)
    return response


async def _answer(
    request: web.Request,
    sandbox: Sandbox,
    method: str,
    body: bytes,
    params: Params,
    body_error: InvalidBody | None,
) -> Answer | None:
    now = sandbox.now()
    timestamp, failure = _authenticate(request.headers.get("Authorization", ""), sandbox, method, body, now)
    if timestamp is None:
        return Answer(401, _error(failure))

    fault = sandbox.faults.take(method)
    if fault is not None:
        return _fault_answer(fault, timestamp)

    found = METHODS.get(method)
    if found is None:
        return Answer(404, _error("Requested method not found"), timestamp)
    if sandbox.company.state.status == "blocked" and method not in UNBLOCKED_METHODS:
        return Answer(403, _error("Company account is blocked"), timestamp)
    if body_error is not None:
        # The document names no message for an unreadable body; this one says what is wrong.
        return Answer(400, _error(f"Invalid request body: {body_error}"), timestamp)
    try:
        checked = found.spec.validate(params)
    except InvalidParameter as e:
        return Answer(400, _error(f"Invalid parameter: {e.name}"), timestamp)

    context = Context(sandbox, now, base_url=f"{request.scheme}://{request.host}")
    try:
        payload = await found.handler(context, checked)
    except MethodError as e:
        return Answer(200, {"status": "success", "data": {"result": "error", "message": str(e)}}, timestamp)
    return Answer(200, {"status": "success", "data": {"result": "success", **payload}}, timestamp)


def _authenticate(header: str, sandbox: Sandbox, method: str, body: bytes, now: float) -> tuple[int | None, str]:
    """(the request's time, "") when the bearer token is right, else (None, why not)."""
    failed = None, "Authorization failed"
    scheme, _, token = header.strip().partition(" ")
    parsed = parse_token(token.strip()) if scheme.lower() == "bearer" else None
    if parsed is None:
        return failed
    access_key, timestamp, digest = parsed
    if not hmac.compare_digest(access_key.encode(), sandbox.access_key.encode()):
        return failed
    if abs(now - timestamp) > TIME_WINDOW:
        return None, "Request time is outside the allowed window"
    expected = signature(method, timestamp, access_key, body, sandbox.signing_key)
    if not signatures_match(expected, digest):
        return failed
    return timestamp, ""


def _fault_answer(fault: Fault, timestamp: int) -> Answer | None:
    # Injected after authentication, so these answers are signed like any other to a correct request.
    if fault.kind == "disconnect":
        return None
    if fault.kind == "rate_limit":
        return Answer(429, _error("Too many requests"), timestamp, {"Retry-After": str(fault.retry_after)})
    return Answer(fault.status, _error(fault.message), timestamp)


def _count(sandbox: Sandbox, key: str, body_bytes: int) -> None:
    traffic = sandbox.traffic.get(key)
    if traffic is None:
        traffic = sandbox.traffic[key] = Traffic()
    traffic.requests += 1
    traffic.body_bytes += body_bytes


def _error(message: str) -> Envelope:
    return {"status": "error", "message": message}


def _render(request: web.Request, sandbox: Sandbox, method: str, answer: Answer) -> web.Response:
    if _wants_xml(request.headers.get("Accept", "")):
        body, content_type = _to_xml(answer.envelope), "application/xml; charset=utf-8"
    else:
        body = json.dumps(answer.envelope, ensure_ascii=False, separators=(",", ":")).encode()
        content_type = "application/json; charset=utf-8"
    headers = {"Content-Type": content_type}
    headers.update(answer.headers or {})
    if answer.signed_time is not None and not sandbox.faults.drop_signature:
        digest = signature(method, answer.signed_time, sandbox.access_key, body, sandbox.signing_key)
        if sandbox.faults.tamper_signature:
            digest = f"{(int(digest[0], 16) + 1) % 16:x}{digest[1:]}"  # off by one nibble
        headers["Signature"] = digest
    return web.Response(status=answer.status, body=body, headers=headers)


def _wants_xml(accept: str) -> bool:
    """XML only when asked for before JSON; no Accept (or anything else) means JSON."""
    for item in accept.split(","):
        mime = item.split(";")[0].strip().lower()
        if mime in ("application/json", "application/xml", "text/xml"):
            return mime != "application/json"
    return False


def _to_xml(envelope: Envelope) -> bytes:
    """A plain rendering: one element per key, ``<item>`` per list entry, empty element for null."""
    root = ElementTree.Element("response")
    _xml_value(root, envelope)
    xml: bytes = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    return xml


def _xml_value(parent: ElementTree.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _xml_value(ElementTree.SubElement(parent, key), item)
    elif isinstance(value, list):
        for item in value:
            _xml_value(ElementTree.SubElement(parent, "item"), item)
    elif isinstance(value, bool):
        parent.text = "true" if value else "false"
    elif value is not None:
        parent.text = str(value)


async def _serve_recording(request: web.Request) -> web.Response:
    """A public link, as the provider's are: plain GET, no signature."""
    sandbox = request.app[SANDBOX]
    now = sandbox.now()
    call = sandbox.company.find(request.match_info["vpbx_id"], now)
    if call is None or not call.answered(now):
        response = web.Response(status=404, text="Record not found")
    elif (elsewhere := sandbox.faults.record_redirect) is not None:
        response = web.Response(status=302, headers={"Location": elsewhere})
    else:
        response = web.Response(body=recording(), content_type="audio/wav")
    _count(sandbox, RECORDINGS, response.content_length or 0)
    return response


async def _serve_traffic(request: web.Request) -> web.Response:
    """``Sandbox.traffic`` as JSON: {"company/get-state": {"requests": 3, "bodyBytes": 420}, ...}."""
    traffic = request.app[SANDBOX].traffic
    return web.json_response(
        {key: {"requests": t.requests, "bodyBytes": t.body_bytes} for key, t in sorted(traffic.items())}
    )
