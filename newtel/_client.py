"""``NewtelClient``: the keys, one HTTP session, and the four method groups."""

from __future__ import annotations

import math
from collections.abc import Iterable
from types import TracebackType
from typing import Any

import aiohttp
from pydantic import AnyHttpUrl, SecretStr

from newtel._call import CallMethods
from newtel._company import CompanyMethods
from newtel._errors import ConfigurationError
from newtel._links import DEFAULT_LINK_HOSTS, LinkRule
from newtel._signing import is_key
from newtel._transport import Answer, BodyFormat, Observer, Transport
from newtel._user import UserMethods
from newtel._vpbx import VpbxMethods

DEFAULT_BASE_URL = "https://api.new-tel.net"


def _key(name: str, value: str | SecretStr) -> SecretStr:
    secret = value if isinstance(value, SecretStr) else SecretStr(value)
    if not is_key(secret.get_secret_value()):
        # The value itself is never echoed: a half-pasted key is still a secret.
        raise ConfigurationError(f"{name} must be 48 lowercase hexadecimal digits")
    return secret


def _check_deadline(deadline: float | None) -> None:
    if deadline is not None and not deadline > 0:
        raise ConfigurationError("deadline must be a positive number of seconds (or None)")


def _check_max_rps(max_rps: float | None) -> None:
    if max_rps is None:
        return
    if isinstance(max_rps, bool) or not isinstance(max_rps, int | float) or not (0 < max_rps < math.inf):
        raise ConfigurationError("max_rps must be a positive number of requests a second (or None)")


class NewtelClient:
    """An async, signed client for the New-Tel API.

    ``async with NewtelClient(access_key, signing_key) as client: state = await client.company.get_state()``
    """

    def __init__(
        self,
        access_key: str | SecretStr,
        signing_key: str | SecretStr,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float = 10.0,
        max_retries: int = 3,
        retry_backoff: float = 0.5,
        deadline: float | None = None,
        max_rps: float | None = None,
        verify_signature: bool = True,
        require_signature: bool = True,
        body_format: BodyFormat = "json",
        session: aiohttp.ClientSession | None = None,
        link_hosts: Iterable[str] = DEFAULT_LINK_HOSTS,
        observer: Observer | None = None,
    ) -> None:
        """``timeout`` bounds one attempt, ``deadline`` one request with all its retries and waits (seconds).
        ``max_rps`` caps the requests a second of this client and all its ``with_options`` views together
        (every attempt counts; up to ``max(1, max_rps)`` go at once, so any ``t`` seconds carry at most that many
        plus ``max_rps * t``), None for no cap. Requests of an ``urgent`` view take the turns first.
        Identical read-only requests (every method but the call starts and ``request``) made while one is under
        way share it: one request, its answer or error for each caller.
        ``require_signature=False`` accepts a success without a ``Signature`` header (a present one is still
        checked); ``verify_signature=False`` checks none.
        ``link_hosts``: where the links New-Tel gives (a recording's) may lead, redirects included: https on these
        hosts (``host`` or ``host:port``) and on the API's own https origin; plain http only to an origin named
        whole, ``http://127.0.0.1:8080`` (a sandbox). Any other link is ``LinkRefused``.
        ``observer(method, failure)`` is told of every attempt of an API method (this client's and its views'): the
        ``NewtelError`` it failed with, or None when New-Tel answered (a method's own refusal, such as
        ``CallNotFound``, is an answer); for metrics. It runs on the event loop: quick, and never raising."""
        if body_format not in ("json", "form"):
            raise ConfigurationError("body_format must be 'json' or 'form'")
        _check_deadline(deadline)
        _check_max_rps(max_rps)
        self._bind(
            Transport(
                access_key=_key("access_key", access_key),
                signing_key=_key("signing_key", signing_key),
                base_url=base_url,
                timeout=timeout,
                max_retries=max_retries,
                deadline=deadline,
                max_rps=max_rps,
                backoff_base=retry_backoff,
                verify_signature=verify_signature,
                require_signature=require_signature,
                body_format=body_format,
                session=session,
                links=LinkRule(link_hosts, base_url),
                observer=observer,
            )
        )

    def _bind(self, transport: Transport) -> None:
        self._transport = transport
        self.company = CompanyMethods(transport)
        self.user = UserMethods(transport)
        self.call = CallMethods(transport)
        self.vpbx = VpbxMethods(transport)

    def with_options(
        self,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        deadline: float | None = None,
        urgent: bool | None = None,
    ) -> NewtelClient:
        """This client with other timings (None keeps this client's), e.g. a short ``deadline`` for a person
        waiting. It shares the HTTP session, the learned clock offset and the ``max_rps`` limit; closing it leaves
        the session open. ``urgent=True``: a person waits on its requests; within ``max_rps`` they go before the
        waiting requests of views that are not urgent (three turns in four while both wait), and those leave the
        last 30 % of the burst to them: however many of those wait, a person's request goes at once, or after one
        refill (``1 / max_rps``) at most, unless other urgent ones are waiting already."""
        _check_deadline(deadline)
        view = object.__new__(NewtelClient)
        view._bind(
            self._transport.with_options(timeout=timeout, max_retries=max_retries, deadline=deadline, urgent=urgent)
        )
        return view

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Any method by name (e.g. one the document lists without a name), signed like the rest.

        Returns the response's ``data``; parameters are sent as given, so nothing here is retried
        unless the request never left this machine.
        """
        return await self._transport.request(Answer.raw(method.strip("/")), params, read_only=False)

    async def download(self, link: str | AnyHttpUrl, *, max_bytes: int, timeout: float = 120.0) -> bytes | None:
        """A file New-Tel links to, such as ``vpbx.get_call_record_link``'s: its bytes, None when larger than
        ``max_bytes``. Only where ``link_hosts`` admits, each redirect too (``LinkRefused`` before connecting
        elsewhere); TLS verified, the request limit respected, one attempt; errors are ``NewtelError``."""
        return await self._transport.download(link, max_bytes, timeout)

    async def close(self) -> None:
        await self._transport.close()

    async def __aenter__(self) -> NewtelClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        transport = self._transport
        timings = f"timeout={transport.timeout:g}, max_retries={transport.max_retries}"
        if transport.deadline is not None:
            timings += f", deadline={transport.deadline:g}"
        if transport.max_rps is not None:
            timings += f", max_rps={transport.max_rps:g}"
        return f"NewtelClient(base_url={self.base_url!r}, {timings})"
