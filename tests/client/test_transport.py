"""The wire chokepoint against the sandbox's faults: signatures, retries, clock skew, secrets."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import ssl
import subprocess
import traceback
from pathlib import Path

import pytest
from aiohttp import web

import newtel
from newtel import NewtelClient
from newtel.sandbox import Sandbox

SIMPLE_CALL = "call/start-simple-call"


def attempts(sandbox: Sandbox, method: str) -> int:
    return sum(1 for request in sandbox.requests if request.method == method)


async def start_call(client: NewtelClient, sandbox: Sandbox) -> str:
    return await client.call.start_simple_call(
        src_number="100", dst_number="79165554433", caller_id=sandbox.company.external_numbers[0]
    )


async def test_request_is_signed_over_the_bytes_sent(client: NewtelClient, sandbox: Sandbox) -> None:
    await client.company.get_member_details(sandbox.company.members[0].name)
    request = sandbox.requests[-1]
    token = request.headers["Authorization"].removeprefix("Bearer ")
    parsed = newtel._signing.parse_token(token)
    assert parsed is not None
    assert parsed[2] == newtel._signing.signature(
        "company/get-member-details", parsed[1], sandbox.access_key, request.body, sandbox.signing_key
    )
    assert b" " not in request.body.replace(sandbox.company.members[0].name.encode(), b"")  # compact JSON


async def test_tampered_response_signature_is_rejected(client: NewtelClient, sandbox: Sandbox) -> None:
    sandbox.faults.tamper_signature = True
    with pytest.raises(newtel.SignatureMismatch) as caught:
        await client.company.get_state()
    assert caught.value.method == "company/get-state"
    assert attempts(sandbox, "company/get-state") == 1  # not retried: a forged answer is not a hiccup


async def test_signature_check_can_be_switched_off(sandbox: Sandbox) -> None:
    sandbox.faults.tamper_signature = True
    async with NewtelClient(sandbox.access_key, sandbox.signing_key, sandbox.url, verify_signature=False) as client:
        assert (await client.company.get_state()).currency == "RUB"


async def test_an_unsigned_success_is_rejected(client: NewtelClient, sandbox: Sandbox) -> None:
    sandbox.faults.drop_signature = True
    with pytest.raises(newtel.SignatureMissing) as caught:
        await client.company.get_state()
    assert isinstance(caught.value, newtel.SignatureMismatch)  # either way the answer cannot be trusted
    assert caught.value.method == "company/get-state"
    assert attempts(sandbox, "company/get-state") == 1


async def test_an_unsigned_call_start_may_have_started_a_call(client: NewtelClient, sandbox: Sandbox) -> None:
    sandbox.faults.drop_signature = True
    calls_before = len(sandbox.company.calls)
    with pytest.raises(newtel.ResponseError):  # not a refusal: the caller must assume the call may be ringing
        await start_call(client, sandbox)
    assert attempts(sandbox, SIMPLE_CALL) == 1
    assert len(sandbox.company.calls) == calls_before + 1


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (lambda sb: sb.faults.fail(status=403, times=1), newtel.PermissionDenied),
        (lambda sb: sb.faults.fail(status=404, times=1), newtel.MethodNotFound),
        (lambda sb: sb.faults.rate_limit(times=1, retry_after=120), newtel.RateLimited),
        (lambda sb: sb.faults.fail(status=502, times=10), newtel.ServerError),
    ],
    ids=["403", "404", "429", "502"],
)
async def test_unsigned_refusals_keep_their_meaning(client: NewtelClient, sandbox: Sandbox, fault, error) -> None:  # type: ignore[no-untyped-def]
    # A proxy's 502 or a gateway's 429 is not signed; only a success must be.
    sandbox.faults.drop_signature = True
    fault(sandbox)
    with pytest.raises(error):
        await client.company.get_state()


async def test_unsigned_auth_failure_is_an_auth_error(sandbox: Sandbox) -> None:
    async with NewtelClient(sandbox.access_key, "c" * 48, sandbox.url) as client:
        with pytest.raises(newtel.AuthError):
            await client.company.get_state()  # the sandbox, like the document, does not sign a 401


async def test_unsigned_answers_can_be_allowed(sandbox: Sandbox) -> None:
    async with NewtelClient(sandbox.access_key, sandbox.signing_key, sandbox.url, require_signature=False) as client:
        sandbox.faults.drop_signature = True
        assert (await client.company.get_state()).currency == "RUB"
        sandbox.faults.drop_signature = False
        sandbox.faults.tamper_signature = True
        with pytest.raises(newtel.SignatureMismatch):  # a signature that is there is still checked
            await client.company.get_state()


async def test_wrong_keys_are_an_auth_error(sandbox: Sandbox) -> None:
    async with NewtelClient("0" * 48, sandbox.signing_key, sandbox.url, retry_backoff=0.01) as client:
        with pytest.raises(newtel.AuthError) as caught:
            await client.company.get_state()
    assert caught.value.http_status == 401
    assert attempts(sandbox, "company/get-state") == 1


async def test_server_errors_of_read_methods_are_retried(client: NewtelClient, sandbox: Sandbox) -> None:
    sandbox.faults.fail(status=500, times=2)
    assert (await client.company.get_state()).currency == "RUB"
    assert attempts(sandbox, "company/get-state") == 3


async def test_retries_are_bounded(client: NewtelClient, sandbox: Sandbox) -> None:
    sandbox.faults.fail(status=503, times=100)
    with pytest.raises(newtel.ServerError) as caught:
        await client.vpbx.get_calls()
    assert caught.value.http_status == 503
    assert attempts(sandbox, "vpbx/get-calls") == 4  # the first try and max_retries=3


async def test_rate_limit_honours_retry_after(client: NewtelClient, sandbox: Sandbox, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    slept: list[float] = []
    real_sleep = newtel._transport.asyncio.sleep

    async def record_sleep(delay: float) -> None:
        slept.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(newtel._transport.asyncio, "sleep", record_sleep)
    sandbox.faults.rate_limit(times=1, retry_after=2)
    assert await client.vpbx.get_registered_numbers_list()
    assert slept == [2.0]
    assert attempts(sandbox, "vpbx/get-registered-numbers-list") == 2


async def test_timeouts_of_read_methods_are_retried(sandbox: Sandbox) -> None:
    sandbox.faults.latency = 0.3
    async with NewtelClient(
        sandbox.access_key, sandbox.signing_key, sandbox.url, timeout=0.1, max_retries=2, retry_backoff=0.01
    ) as client:
        with pytest.raises(newtel.Timeout):
            await client.company.get_state()
    assert attempts(sandbox, "company/get-state") == 3


@pytest.mark.parametrize(
    "fault",
    [
        lambda sb: sb.faults.fail(status=500, times=1),
        lambda sb: sb.faults.fail(status=502, times=1),
        lambda sb: sb.faults.rate_limit(times=1, retry_after=0),
        lambda sb: sb.faults.disconnect(times=1),
    ],
    ids=["500", "502", "429", "disconnect"],
)
async def test_starting_a_call_is_never_repeated(client: NewtelClient, sandbox: Sandbox, fault) -> None:  # type: ignore[no-untyped-def]
    fault(sandbox)
    with pytest.raises(newtel.NewtelError):
        await start_call(client, sandbox)
    assert attempts(sandbox, SIMPLE_CALL) == 1


async def test_a_timed_out_call_start_is_not_repeated(sandbox: Sandbox) -> None:
    sandbox.faults.latency = 0.3
    async with NewtelClient(sandbox.access_key, sandbox.signing_key, sandbox.url, timeout=0.1) as client:
        with pytest.raises(newtel.Timeout) as caught:
            await start_call(client, sandbox)
    assert caught.value.maybe_sent
    assert attempts(sandbox, SIMPLE_CALL) == 1


async def test_connection_refused_is_retried_even_for_call_start(unused_tcp_port: int) -> None:
    # Nothing listens: the request never left, so trying again cannot place a second call.
    async with NewtelClient("a" * 48, "b" * 48, f"http://127.0.0.1:{unused_tcp_port}", retry_backoff=0.01) as client:
        with pytest.raises(newtel.NetworkError) as caught:
            await client.call.start_simple_call(src_number="100", dst_number="79165554433", caller_id="74951234567")
    assert caught.value.maybe_sent is False


async def test_clock_skew_is_corrected_once(client: NewtelClient, sandbox: Sandbox) -> None:
    sandbox.clock_offset = 3600  # the server is an hour ahead of us
    assert (await client.company.get_state()).currency == "RUB"
    assert attempts(sandbox, "company/get-state") == 2
    await client.company.get_state()
    assert attempts(sandbox, "company/get-state") == 3  # the corrected offset is kept
    # The correction also lets a call start go through: a 401 means it did not run.
    sandbox.clock_offset = -1800
    await start_call(client, sandbox)
    assert attempts(sandbox, SIMPLE_CALL) == 2


async def test_auth_failure_without_skew_is_not_retried(sandbox: Sandbox) -> None:
    async with NewtelClient(sandbox.access_key, "c" * 48, sandbox.url) as client:
        with pytest.raises(newtel.AuthError):
            await client.company.get_state()
    assert attempts(sandbox, "company/get-state") == 1


def simple_call(client: NewtelClient, **overrides: object):  # type: ignore[no-untyped-def]
    arguments = {"src_number": "100", "dst_number": "79161234567", "caller_id": "74951234567", **overrides}
    return client.call.start_simple_call(**arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "parameter"),
    [
        (
            lambda c: c.call.start_simple_call(src_number="100", dst_number="12345", caller_id="74951234567"),
            "dstNumber",
        ),
        (lambda c: c.call.start_simple_call(src_number="100", dst_number="abc", caller_id="74951234567"), "dstNumber"),
        (lambda c: c.call.start_simple_call(src_number="0", dst_number="79161234567", caller_id="74951"), "srcNumber"),
        (lambda c: c.call.start_simple_call(src_number=[], dst_number="79161234567", caller_id="74951"), "srcNumber"),
        (lambda c: c.call.start_simple_call(src_number="100", dst_number="79161234567", caller_id="012"), "callerId"),
        (
            lambda c: c.call.start_simple_call(
                src_number="100", dst_number="79161234567", caller_id="74951234567", timeout=100
            ),
            "timeout",
        ),
        (lambda c: c.call.start_password_call(dst_number="79161234567", pin="1234"), "pin"),
        (lambda c: c.call.start_password_call(dst_number="79161234567", asynchronous=2), "async"),
        (lambda c: c.call.get_vpbx_id("123"), "callId"),
        (lambda c: c.call.get_vpbx_id("1234567890123456\n"), "callId"),
        (lambda c: c.call.start_password_call(dst_number="79161234567", pin="12345\n"), "pin"),
        (lambda c: c.vpbx.get_call_details("DA39A3EE5E6B4B0D3255BFEF95601890AFD80709"), "vpbxId"),
        (lambda c: c.company.get_member_details(""), "name"),
    ],
)
async def test_invalid_parameters_are_refused_before_any_request(client, sandbox, call, parameter) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(newtel.ValidationError) as caught:
        await call(client)
    assert caught.value.parameter == parameter
    assert str(caught.value).startswith(parameter)
    assert sandbox.requests == []


def test_keys_are_checked_at_construction() -> None:
    with pytest.raises(newtel.ConfigurationError, match="access_key must be 48 lowercase hexadecimal digits"):
        NewtelClient("ABC" * 16, "b" * 48)
    with pytest.raises(newtel.ConfigurationError, match="signing_key") as caught:
        NewtelClient("a" * 48, "secret-but-wrong")
    assert "secret-but-wrong" not in str(caught.value)


async def test_no_key_in_logs_repr_or_errors(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    failures: list[BaseException] = []
    async with NewtelClient(sandbox.access_key, sandbox.signing_key, sandbox.url, retry_backoff=0.01) as client:
        await client.company.get_state()
        sandbox.faults.fail(status=500, times=1)
        await client.vpbx.get_calls()
        sandbox.faults.tamper_signature = True
        try:
            await client.company.get_state()
        except newtel.NewtelError as error:
            failures.append(error)
        sandbox.faults.tamper_signature = False
        sandbox.clock_offset = 3600
        await client.company.get_state()
        texts = [caplog.text, repr(client), repr(client._transport.__dict__)]
    async with NewtelClient(sandbox.access_key, "c" * 48, sandbox.url) as wrong:
        try:
            await wrong.company.get_state()
        except newtel.NewtelError as error:
            failures.append(error)
    texts += ["".join(traceback.format_exception(error)) for error in failures]
    texts += [repr(error.__dict__) for error in failures]
    assert "company/get-state" in caplog.text  # debug logging does say what happened
    for text in texts:
        for secret in (sandbox.access_key, sandbox.signing_key):
            assert secret not in text


@pytest.fixture
def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("needs openssl to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


async def test_tls_certificates_are_verified(self_signed: tuple[Path, Path], unused_tcp_port: int) -> None:
    cert, key = self_signed
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def answer(request: web.Request) -> web.Response:
        return web.json_response({"status": "success"})

    app = web.Application()
    app.router.add_post("/company/get-state", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port, ssl_context=context).start()
    try:
        async with NewtelClient("a" * 48, "b" * 48, f"https://127.0.0.1:{unused_tcp_port}") as client:
            with pytest.raises(newtel.NetworkError, match="TLS certificate verification failed"):
                await client.company.get_state()
    finally:
        await runner.cleanup()


async def serve(handler, port: int) -> web.AppRunner:  # type: ignore[no-untyped-def]
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


def signed(request: web.Request, document: object, access_key: str, signing_key: str) -> web.Response:
    """A success signed as New-Tel signs it: over the body, with the request's own time."""
    parsed = newtel._signing.parse_token(request.headers["Authorization"].removeprefix("Bearer "))
    assert parsed is not None
    body = json.dumps(document).encode()
    method = request.path.lstrip("/")
    digest = newtel._signing.signature(method, parsed[1], access_key, body, signing_key)
    return web.Response(body=body, content_type="application/json", headers={"Signature": digest})


async def test_a_503_with_retry_after_is_waited_out(unused_tcp_port: int, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    answers = [web.json_response({"status": "error"}, status=503, headers={"Retry-After": "3"})]
    state = {"status": "success", "data": {"result": "success", "state": {"currency": "RUB", "status": "active"}}}

    async def handler(request: web.Request) -> web.Response:
        return answers.pop() if answers else signed(request, state, "a" * 48, "b" * 48)

    slept: list[float] = []

    async def record_sleep(delay: float) -> None:
        slept.append(delay)

    monkeypatch.setattr(newtel._transport.asyncio, "sleep", record_sleep)
    runner = await serve(handler, unused_tcp_port)
    try:
        async with NewtelClient("a" * 48, "b" * 48, f"http://127.0.0.1:{unused_tcp_port}") as client:
            assert (await client.company.get_state()).currency == "RUB"
    finally:
        await runner.cleanup()
    assert [delay for delay in slept if delay] == [3.0]  # (aiohttp itself yields with sleep(0))


async def test_redirects_are_not_followed(unused_tcp_port: int) -> None:
    hits: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(status=307, headers={"Location": "/elsewhere"})

    runner = await serve(handler, unused_tcp_port)
    try:
        async with NewtelClient("a" * 48, "b" * 48, f"http://127.0.0.1:{unused_tcp_port}") as client:
            with pytest.raises(newtel.NewtelError):
                await client.call.start_simple_call(src_number="100", dst_number="79161234567", caller_id="74951234567")
    finally:
        await runner.cleanup()
    assert hits == ["/call/start-simple-call"]


async def test_an_undecodable_signature_header_is_a_mismatch(unused_tcp_port: int) -> None:
    body = b'{"status":"success","data":{"result":"success","state":{"currency":"RUB","status":"active"}}}'

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nSignature: \xff\xfe\r\n"
        writer.write(head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", unused_tcp_port)
    try:
        async with NewtelClient("a" * 48, "b" * 48, f"http://127.0.0.1:{unused_tcp_port}") as client:
            with pytest.raises(newtel.SignatureMismatch):
                await client.company.get_state()
    finally:
        server.close()
        await server.wait_closed()


async def test_a_date_days_away_is_not_taken_for_the_time(client: NewtelClient, sandbox: Sandbox) -> None:
    sandbox.clock_offset = 3 * 86_400  # more likely a broken Date header than a clock three days off
    with pytest.raises(newtel.AuthError):
        await client.company.get_state()
    assert attempts(sandbox, "company/get-state") == 1
    assert client._transport.clock_offset == 0


async def test_the_observer_is_told_of_every_attempt_and_what_failed(sandbox: Sandbox) -> None:
    seen: list[tuple[str, str | None]] = []

    def observe(method: str, failure: newtel.NewtelError | None) -> None:
        seen.append((method, None if failure is None else type(failure).__name__))

    async with NewtelClient(
        sandbox.access_key, sandbox.signing_key, sandbox.url, retry_backoff=0.01, observer=observe
    ) as client:
        sandbox.faults.fail(status=500, times=1, methods={"company/get-state"})
        await client.company.get_state()  # a 500, then an answer
        with pytest.raises(newtel.CallNotFound):  # New-Tel's answer about the call: not a failure of New-Tel
            await client.with_options(max_retries=0).vpbx.get_call_details("0" * 40)
        sandbox.faults.tamper_signature = True
        with pytest.raises(newtel.SignatureMismatch):
            await client.company.get_state()
    assert seen == [
        ("company/get-state", "ServerError"),
        ("company/get-state", None),
        ("vpbx/get-call-details", None),
        ("company/get-state", "SignatureMismatch"),
    ]
