"""The one chokepoint for the wire: serialize once, sign, send, verify, decode, map errors, retry.

Group modules call ``Transport.request`` and never see aiohttp.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import json
import logging
import random
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import urlencode

import aiohttp
import pydantic
from pydantic import AnyHttpUrl, BaseModel, SecretStr, TypeAdapter

from newtel import _signing
from newtel._errors import (
    LinkRefused,
    MethodError,
    NetworkError,
    NewtelError,
    RateLimited,
    RecordNotFound,
    ResponseError,
    ServerError,
    SignatureMismatch,
    SignatureMissing,
    Timeout,
    TransportError,
    api_error,
    method_error,
)
from newtel._limiter import Limiter
from newtel._links import DEFAULT_LINK_HOSTS, MAX_REDIRECTS, LinkRule
from newtel._models import parse_field, parse_model

logger = logging.getLogger("newtel")

BodyFormat = Literal["json", "form"]
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
Decoder = Callable[[int, bytes, float | None], T]  # (HTTP status, body, Retry-After) -> value, or a NewtelError
# Told of each request that reached the wire: the method, and the failure of New-Tel it met (None: New-Tel answered,
# a method's own refusal such as "call not found" included). Called on the event loop: it must be quick, never raise.
Observer = Callable[[str, NewtelError | None], None]
# The server's window is ±600 s: a smaller gap is not why it refused (Date has 1 s resolution, and the
# answer takes a moment), and a gap over a day is more likely a broken Date than a broken clock.
_SKEW_MIN, _SKEW_MAX = 540.0, 86_400.0
_MAX_RETRY_WAIT = 60.0  # a Retry-After longer than this is handed to the caller instead of slept through


def encode_body(params: Mapping[str, Any] | None, body_format: BodyFormat) -> tuple[bytes, str]:
    """The exact bytes to sign and send, and their Content-Type."""
    if body_format == "form":
        return urlencode(dict(params or {})).encode(), "application/x-www-form-urlencoded"
    if not params:
        return b"{}", "application/json"  # most methods take no parameters
    text = json.dumps(dict(params), ensure_ascii=False, separators=(",", ":"))
    return text.encode(), "application/json"


def parse_response(method: str, http_status: int, raw: bytes, retry_after: float | None = None) -> dict[str, Any]:
    """The ``data`` object of a successful response; anything else raises a ``NewtelError``."""
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        document = None
    if not isinstance(document, dict):
        if http_status >= 400:
            raise api_error(method, http_status, None, retry_after)
        raise ResponseError("The response is not a JSON object", method=method, http_status=http_status)
    message = document.get("message")
    message = message if isinstance(message, str) else None
    if http_status >= 400 or http_status < 200:
        raise api_error(method, http_status, message, retry_after)
    if document.get("status") != "success":
        raise api_error(method, http_status, message, retry_after)
    data = document.get("data")
    if not isinstance(data, dict):
        raise ResponseError("The response has no data object", method=method, http_status=http_status)
    result = data.get("result")
    if result == "success":
        return data
    if result == "error":
        detail = data.get("message")
        raise method_error(method, detail if isinstance(detail, str) else None)
    raise ResponseError("The response's data.result is missing", method=method, http_status=http_status)


class _Success(BaseModel, Generic[M]):
    """A successful answer's envelope, for parsing straight from the bytes (``data.result`` is checked after)."""

    status: Literal["success"]
    data: M


def model_decoder(method: str, model: type[M], fallback: Callable[[dict[str, Any]], M] | None = None) -> Decoder[M]:
    """A decoder of the ``data`` object as ``model`` straight from the bytes: one pass of pydantic's JSON parser and
    no intermediate dicts (for a 10,000-call history about half the CPU time and memory of ``json.loads`` followed
    by ``model_validate``). Whatever that fast path does not accept goes the usual way, ``parse_response`` then
    ``fallback`` (default ``parse_model``), so every error is the same as theirs. Build it once per method (at
    import), not per call."""
    envelope = _Success[model]  # type: ignore[valid-type]
    build = fallback or functools.partial(parse_model, model, method=method)

    def decode(http_status: int, raw: bytes, retry_after: float | None) -> M:
        if 200 <= http_status < 400:
            try:
                data: M = envelope.model_validate_json(raw).data
            except pydantic.ValidationError:
                pass
            else:
                if getattr(data, "result", None) == "success":
                    return data
        return build(parse_response(method, http_status, raw, retry_after))

    return decode


@dataclass(frozen=True, slots=True)
class Answer(Generic[T]):
    """A method and how its answer becomes a typed value: what every group method hands to ``Transport.request``
    (like anthropic's ``cast_to=``). Built once per method, at import."""

    method: str
    decode: Decoder[T]

    @classmethod
    def model(cls, method: str, model: type[M], fallback: Callable[[dict[str, Any]], M] | None = None) -> Answer[M]:
        """The ``data`` object as ``model``, straight from the bytes (``model_decoder``)."""
        return Answer(method, model_decoder(method, model, fallback))

    @classmethod
    def field(cls, method: str, key: str, adapter: TypeAdapter[T]) -> Answer[T]:
        """One documented property of the ``data`` object (``callId``, ``callDirection`` …)."""

        def decode(http_status: int, raw: bytes, retry_after: float | None) -> T:
            return parse_field(adapter, parse_response(method, http_status, raw, retry_after), key, method)

        return Answer(method, decode)

    @classmethod
    def raw(cls, method: str) -> Answer[dict[str, Any]]:
        """The ``data`` object as it came (for methods the document lists without a model)."""
        return Answer(method, functools.partial(parse_response, method))


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


@dataclass(eq=False, slots=True)
class _InFlight(Generic[T]):
    """A read-only request under way in its first caller's task: the answer the others wait for, and how many do."""

    answer: asyncio.Future[T]
    waiters: int = 0
    # The request made for the others when the first caller was cancelled (its own request broke off with it).
    handed_over: asyncio.Task[T] | None = None

    def settle(self, done: asyncio.Future[T]) -> None:
        """Give the others the outcome of ``done`` (a result, an error, or cancelled)."""
        if self.answer.done():
            return
        if done.cancelled():
            self.answer.cancel()
        elif (error := done.exception()) is not None:
            self.answer.set_exception(error)
        else:
            self.answer.set_result(done.result())


def _retrieved(answer: asyncio.Future[Any]) -> None:
    """An error nobody stayed to await is not "never retrieved": its first caller raised it already."""
    if not answer.cancelled():
        answer.exception()


class _Shared:
    """What a transport and its ``with_options`` views have in common: one session, one clock offset, one
    request limit and the read-only requests in flight."""

    def __init__(self, session: aiohttp.ClientSession | None, max_rps: float | None, observer: Observer | None) -> None:
        self.session = session
        self.owns_session = session is None
        self.clock_offset = 0.0  # seconds to add to the local clock, learned from the server's Date header
        self.max_rps = max_rps
        self.limiter = None if max_rps is None else Limiter(max_rps)
        self.observer = observer
        self.in_flight: dict[Hashable, _InFlight[Any]] = {}

    def observe(self, method: str, failure: NewtelError | None) -> None:
        if self.observer is not None:
            self.observer(method, None if isinstance(failure, MethodError) else failure)


class Transport:
    def __init__(
        self,
        *,
        access_key: SecretStr,
        signing_key: SecretStr,
        base_url: str,
        timeout: float,
        max_retries: int,
        verify_signature: bool,
        body_format: BodyFormat,
        require_signature: bool = True,
        deadline: float | None = None,
        max_rps: float | None = None,
        session: aiohttp.ClientSession | None = None,
        links: LinkRule | None = None,
        observer: Observer | None = None,
        clock: Callable[[], float] = time.time,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
    ) -> None:
        self._access_key = access_key
        self._signing_key = signing_key
        self.base_url = base_url.rstrip("/")
        self.links = links or LinkRule(DEFAULT_LINK_HOSTS, base_url)
        self._verify_signature = verify_signature
        self._require_signature = require_signature
        self._body_format: BodyFormat = body_format
        self._shared = _Shared(session, max_rps, observer)
        self._is_view = False
        self._urgent = False  # a person waits on this view's requests: they go first (``Limiter``)
        self._clock = clock
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._set_timings(timeout, max_retries, deadline)

    def _set_timings(self, timeout: float, max_retries: int, deadline: float | None) -> None:
        self.timeout = timeout
        self.max_retries = max_retries
        self.deadline = deadline  # seconds for one request, all its attempts and waits included; None: unbounded
        self._default_timeout = aiohttp.ClientTimeout(total=timeout)

    def with_options(
        self,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        deadline: float | None = None,
        urgent: bool | None = None,
    ) -> Transport:
        """A view with other timings (None keeps this one's) over the same session, clock offset and limit."""
        view = copy.copy(self)
        view._is_view = True
        view._urgent = self._urgent if urgent is None else urgent
        view._set_timings(
            self.timeout if timeout is None else timeout,
            self.max_retries if max_retries is None else max_retries,
            self.deadline if deadline is None else deadline,
        )
        return view

    @property
    def clock_offset(self) -> float:
        return self._shared.clock_offset

    @property
    def max_rps(self) -> float | None:
        """Requests a second for this transport and all its views together; None: unlimited."""
        return self._shared.max_rps

    def _get_session(self) -> aiohttp.ClientSession:
        shared = self._shared
        if shared.session is None or shared.session.closed:
            # TLS verification stays on (aiohttp's default); keep-alive for the client's life.
            shared.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64, ttl_dns_cache=300))
            shared.owns_session = True
        return shared.session

    async def close(self) -> None:
        """Closes the session this transport opened; a view leaves it to the transport it came from."""
        session = self._shared.session
        if not self._is_view and session is not None and self._shared.owns_session and not session.closed:
            await session.close()

    async def request(
        self,
        answer: Answer[T],
        params: Mapping[str, Any] | None = None,
        *,
        read_only: bool,
        timeout: float | None = None,
    ) -> T:
        """Call ``answer.method`` and decode its answer.

        ``read_only``: the method changes nothing at New-Tel, so a failure is retried, and callers asking the same
        (method, parameters, view's timings and urgency) while it is under way share its one request: its answer or
        its error reaches each of them, and a caller cancelled leaves the others theirs (when it was the one whose task
        made the request, the others get a request of their own). The value is the same
        object for all: frozen models, lists not to be changed. Anything else (starting a call) goes on its own and
        is sent again only when it never left this machine."""
        body, content_type = encode_body(params, self._body_format)
        if not read_only:
            return await self._attempts(answer, body, content_type, read_only=False, timeout=timeout)
        key = (answer, body, timeout, self.timeout, self.max_retries, self.deadline, self._urgent)
        in_flight = self._shared.in_flight
        shared: _InFlight[T] | None = in_flight.get(key)
        if shared is not None:
            return await self._follow(shared)
        # The first caller makes the request in its own task: no task of its own for a request nobody shares, the
        # common case, which would cost more than the request's own work here (bench/client_overhead.py).
        shared = in_flight[key] = _InFlight(asyncio.get_running_loop().create_future())
        shared.answer.add_done_callback(_retrieved)
        try:
            result = await self._attempts(answer, body, content_type, read_only=True, timeout=timeout)
        except asyncio.CancelledError:
            self._landed(key, shared)
            if shared.waiters:  # its request broke off with it: the others get one of their own
                attempts = self._attempts(answer, body, content_type, read_only=True, timeout=timeout)
                shared.handed_over = asyncio.create_task(attempts, name=f"newtel {answer.method}")
                shared.handed_over.add_done_callback(shared.settle)
            else:
                shared.answer.cancel()
            raise
        except Exception as error:
            self._landed(key, shared)
            shared.answer.set_exception(error)
            raise
        self._landed(key, shared)
        shared.answer.set_result(result)
        return result

    @staticmethod
    async def _follow(shared: _InFlight[T]) -> T:
        """Wait for the answer of a request another caller made; the last to give up gives up a handed-over one."""
        shared.waiters += 1
        try:
            return await asyncio.shield(shared.answer)
        finally:
            shared.waiters -= 1
            if not shared.waiters and shared.handed_over is not None and not shared.handed_over.done():
                shared.handed_over.cancel()

    def _landed(self, key: Hashable, shared: _InFlight[Any]) -> None:
        """The shared request has its answer (or was given up): the next caller asks anew."""
        if self._shared.in_flight.get(key) is shared:
            del self._shared.in_flight[key]

    async def _attempts(
        self, answer: Answer[T], body: bytes, content_type: str, *, read_only: bool, timeout: float | None
    ) -> T:
        """One request, each attempt in its turn of the limit; retried only what is safe to repeat."""
        method, decode = answer.method, answer.decode
        url = f"{self.base_url}/{method}"
        per_attempt = self.timeout if timeout is None else timeout
        request_timeout = self._default_timeout if timeout is None else aiohttp.ClientTimeout(total=timeout)
        give_up = None if self.deadline is None else time.monotonic() + self.deadline
        attempt = 0
        clock_corrected = False
        failure: NewtelError | None = None
        while True:
            # The turn comes first, so that the time and the attempt's timeout are taken when it really leaves.
            if not await self._wait_turn(give_up):
                # Not sent: after a failed attempt that attempt's error says more than the wait does.
                raise failure or Timeout(
                    f"The deadline passed waiting for the client's limit of {self.max_rps:g} requests a second",
                    method=method,
                    maybe_sent=False,
                )
            attempt_timeout = request_timeout
            if give_up is not None and (left := give_up - time.monotonic()) < per_attempt:
                # Never 0: aiohttp reads a zero timeout as none at all.
                attempt_timeout = aiohttp.ClientTimeout(total=max(left, 0.001))
            timestamp = int(self._clock() + self._shared.clock_offset)  # one timestamp per request
            token = _signing.bearer_token(
                method,
                timestamp,
                self._access_key.get_secret_value(),
                body,
                self._signing_key.get_secret_value(),
            )
            # No Accept header: the document makes JSON the default, and every header costs both ends.
            headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
            started = time.perf_counter()
            try:
                status, response_headers, raw = await self._send(url, body, headers, attempt_timeout, method)
            except TransportError as error:
                failure = error
            else:
                if logger.isEnabledFor(logging.DEBUG):
                    elapsed = (time.perf_counter() - started) * 1000
                    logger.debug("%s -> HTTP %d in %.1f ms (attempt %d)", method, status, elapsed, attempt + 1)
                if status == 401 and not clock_corrected and self._correct_clock(response_headers):
                    clock_corrected = True
                    self._shared.observe(method, api_error(method, status, None))
                    if give_up is None or time.monotonic() < give_up:
                        continue  # refused before it ran, so even a call start is safe to send again
                try:
                    self._check_signature(method, status, timestamp, response_headers, raw)
                    retry_after = _retry_after(response_headers) if status in (429, 503) else None
                    value = decode(status, raw, retry_after)
                except (RateLimited, ServerError) as error:
                    failure = error
                except NewtelError as error:
                    self._shared.observe(method, error)
                    raise
                else:
                    self._shared.observe(method, None)
                    return value
            self._shared.observe(method, failure)
            delay = self._retry_delay(failure, read_only, attempt)
            if delay is None or (give_up is not None and time.monotonic() + delay >= give_up):
                raise failure
            attempt += 1
            logger.info("%s failed (%s); retry %d in %.2f s", method, type(failure).__name__, attempt, delay)
            await asyncio.sleep(delay)

    async def _wait_turn(self, give_up: float | None) -> bool:
        """Wait for the request limit to let one more request go (a person's first); False if ``give_up`` came
        first."""
        limiter = self._shared.limiter
        if limiter is None:
            return True
        if give_up is None:
            await limiter.turn(urgent=self._urgent)
            return True
        try:
            async with asyncio.timeout(give_up - time.monotonic()):
                await limiter.turn(urgent=self._urgent)
        except TimeoutError:
            return False
        return True

    async def download(self, link: str | AnyHttpUrl, max_bytes: int, timeout: float) -> bytes | None:
        """GET a file New-Tel links to (a call's recording): its bytes, or None past ``max_bytes`` (read no further).
        The link and each redirect must lead where ``links`` admits (``LinkRefused`` before connecting otherwise).
        One attempt, within the request limit; failures are this package's errors, never with the link in their text
        (the link may be all the file's protection)."""
        method = "download"
        url = str(self.links.link(str(link), method))
        await self._wait_turn(None)
        session = self._get_session()
        try:
            async with session.get(
                url,
                timeout=aiohttp.ClientTimeout(total=timeout),
                max_redirects=MAX_REDIRECTS,
                middlewares=(self.links.middleware,),
            ) as response:
                if response.status in (404, 410):  # the file server has no such file (any more)
                    raise RecordNotFound("New-Tel's file server has no such file", method=method, http_status=404)
                if response.status >= 400:
                    raise api_error(method, response.status, None, _retry_after(response.headers))
                if (response.content_length or 0) > max_bytes:
                    return None
                chunks, size = [], 0
                async for chunk in response.content.iter_chunked(256 * 1024):
                    size += len(chunk)
                    if size > max_bytes:
                        return None
                    chunks.append(chunk)
            # One copy, and in a thread (bytes.join lets go of the GIL for big joins): growing one buffer instead
            # stalled the event loop for ~100 ms on a 50 MB recording.
            return await asyncio.to_thread(b"".join, chunks)
        except NewtelError:
            raise
        except (aiohttp.NonHttpUrlRedirectClientError, aiohttp.InvalidUrlRedirectClientError):
            raise LinkRefused("A redirect leads to something other than an http(s) URL", method=method) from None
        except TimeoutError:
            raise Timeout(f"The file did not come within {timeout:.3g} s", method=method) from None
        except aiohttp.ClientError as error:
            raise NetworkError(f"Downloading the file failed: {type(error).__name__}", method=method) from None

    async def _send(
        self, url: str, body: bytes, headers: dict[str, str], timeout: aiohttp.ClientTimeout, method: str
    ) -> tuple[int, Mapping[str, str], bytes]:
        session = self._get_session()
        try:
            # No redirects: a redirected POST would carry the token elsewhere (or turn into a GET).
            async with session.post(
                url, data=body, headers=headers, timeout=timeout, allow_redirects=False
            ) as response:
                return response.status, response.headers, await response.read()
        except aiohttp.ClientConnectorCertificateError as error:
            raise NetworkError(
                f"TLS certificate verification failed for {error.host}", method=method, maybe_sent=False
            ) from None
        except aiohttp.ConnectionTimeoutError:
            raise Timeout("Timed out connecting to New-Tel", method=method, maybe_sent=False) from None
        except aiohttp.ClientConnectorError as error:
            raise NetworkError(
                f"Cannot connect to New-Tel ({error.os_error})", method=method, maybe_sent=False
            ) from None
        except TimeoutError:
            raise Timeout(f"No response from New-Tel within {timeout.total:.3g} s", method=method) from None
        except aiohttp.ClientError as error:
            raise NetworkError(f"Connection to New-Tel failed: {type(error).__name__}", method=method) from None

    def _check_signature(
        self, method: str, http_status: int, timestamp: int, headers: Mapping[str, str], raw: bytes
    ) -> None:
        received = headers.get("Signature")
        if not self._verify_signature:
            return
        if received is None:
            # Only successes must be signed: a 401 never is, and a proxy's 429 or 502 need not be.
            if self._require_signature and 200 <= http_status < 300:
                raise SignatureMissing("The response is not signed", method=method, http_status=http_status)
            return
        access_key = self._access_key.get_secret_value()
        expected = _signing.signature(method, timestamp, access_key, raw, self._signing_key.get_secret_value())
        # The document says "computed like the request's"; accept the bare digest or the whole token form.
        if not (
            _signing.signatures_match(expected, received)
            or _signing.signatures_match(f"{access_key}{timestamp:010d}{expected}", received)
        ):
            raise SignatureMismatch("The response signature does not match its body", method=method)

    def _correct_clock(self, headers: Mapping[str, str]) -> bool:
        """After a 401: if the server's clock is far from ours, adopt its time. True when corrected."""
        try:
            server_now = parsedate_to_datetime(headers["Date"]).timestamp()
        except (KeyError, TypeError, ValueError):
            return False
        gap = server_now - (self._clock() + self._shared.clock_offset)
        if not _SKEW_MIN <= abs(gap) <= _SKEW_MAX:
            return False
        self._shared.clock_offset += gap
        logger.warning("Local clock is %+.0f s off New-Tel's; correcting and retrying", -gap)
        return True

    def _retry_delay(self, failure: NewtelError, read_only: bool, attempt: int) -> float | None:
        """Seconds to wait before the next attempt, or None when it must not be retried."""
        if attempt >= self.max_retries:
            return None
        if isinstance(failure, TransportError):
            safe = read_only or not failure.maybe_sent
        else:
            safe = read_only and isinstance(failure, RateLimited | ServerError)
        if not safe:
            return None
        retry_after = getattr(failure, "retry_after", None)  # 429, and 503 when the server says when
        if retry_after is not None:
            return float(retry_after) if retry_after <= _MAX_RETRY_WAIT else None
        ceiling = min(self._backoff_max, self._backoff_base * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)  # jitter keeps many clients from retrying in step
