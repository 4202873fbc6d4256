"""Where a link New-Tel gives (a call's recording) may lead: one rule for the link itself and for every redirect on
the way to the file, so that a link to a local file, to another scheme or to a host inside the client's network is
never followed, whatever New-Tel's signed answer says."""

from __future__ import annotations

from collections.abc import Iterable

import pydantic
from aiohttp import ClientHandlerType, ClientRequest, ClientResponse
from pydantic import AnyHttpUrl, TypeAdapter

from newtel._errors import ConfigurationError, LinkRefused

# New-Tel's own hosts: its document shows recordings at https://web.new-tel.net/public/audio/…; the API's host.
DEFAULT_LINK_HOSTS = ("web.new-tel.net", "api.new-tel.net")
MAX_REDIRECTS = 5

_Origin = tuple[str, str | None, int | None]  # scheme, host (lower case, IDNA-encoded), port (the scheme's own if none)
_HTTP_URL: TypeAdapter[AnyHttpUrl] = TypeAdapter(AnyHttpUrl)


def _http_url(text: str) -> AnyHttpUrl | None:
    try:
        return _HTTP_URL.validate_python(text)
    except pydantic.ValidationError:
        return None


def link_origin(entry: str) -> _Origin:
    """A host allowed: ``host`` or ``host:port`` (https), or a whole origin ``http(s)://host[:port]`` (plain http
    only so, for a sandbox). ValueError when ``entry`` is not one of these."""
    entry = entry.strip()
    url = _http_url(entry if "://" in entry else f"https://{entry}")
    if url is None or url.path not in (None, "/") or url.query or url.fragment or url.username is not None:
        raise ValueError(f"{entry!r} is not a host, host:port or http(s)://host[:port]")
    return url.scheme, url.host, url.port


def parse_link_hosts(text: str) -> tuple[str, ...]:
    """A setting's comma-separated hosts (``NEWTEL_RECORDING_HOSTS``), as ``link_hosts`` takes them; blanks dropped."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def is_link_host(entry: str) -> bool:
    """Whether ``entry`` is a host links may lead to, as ``link_hosts`` takes it."""
    try:
        link_origin(entry)
    except ValueError:
        return False
    return True


class LinkRule:
    """The origins a link may lead to: https on ``hosts`` (New-Tel's by default), any origin ``hosts`` names whole,
    and the API's own origin when it is https."""

    def __init__(self, hosts: Iterable[str], api_url: str) -> None:
        try:
            origins = {link_origin(host) for host in hosts}
        except ValueError as error:
            raise ConfigurationError(f"link_hosts: {error}") from None
        api = _http_url(api_url)
        if api is not None and api.scheme == "https":
            origins.add((api.scheme, api.host, api.port))
        self._origins = frozenset(origins)

    def link(self, text: str, method: str) -> AnyHttpUrl:
        """``text`` as a link this rule admits; anything else is ``LinkRefused``, which never carries the link (it may
        be all that protects the file, or a secret's path)."""
        url = _http_url(text)
        if url is None:
            raise LinkRefused("The link is not an http(s) URL", method=method)
        if (url.scheme, url.host, url.port) not in self._origins:
            raise LinkRefused("The link leads off the hosts links may lead to", method=method)
        return url

    async def middleware(self, request: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        """aiohttp runs it before each hop of a request, redirects included: none connects off the rule (checked on
        the URL as aiohttp itself parsed it)."""
        url = request.url
        if (url.scheme, url.raw_host, url.port) not in self._origins:
            raise LinkRefused("A redirect leads off the hosts links may lead to", method="download")
        return await handler(request)
