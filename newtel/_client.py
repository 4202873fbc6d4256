"""``NewtelClient``: the keys, one HTTP session, and the four method groups."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import aiohttp
from pydantic import SecretStr

from newtel._call import CallMethods
from newtel._company import CompanyMethods
from newtel._errors import ConfigurationError
from newtel._signing import KEY_PATTERN
from newtel._transport import BodyFormat, Transport
from newtel._user import UserMethods
from newtel._vpbx import VpbxMethods

DEFAULT_BASE_URL = "https://api.new-tel.net"


def _key(name: str, value: str | SecretStr) -> SecretStr:
    secret = value if isinstance(value, SecretStr) else SecretStr(value)
    if not isinstance(secret.get_secret_value(), str) or not KEY_PATTERN.match(secret.get_secret_value()):
        # The value itself is never echoed: a half-pasted key is still a secret.
        raise ConfigurationError(f"{name} must be 48 lowercase hexadecimal digits")
    return secret


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
        verify_signature: bool = True,
        body_format: BodyFormat = "json",
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        if body_format not in ("json", "form"):
            raise ConfigurationError("body_format must be 'json' or 'form'")
        self._transport = Transport(
            access_key=_key("access_key", access_key),
            signing_key=_key("signing_key", signing_key),
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            backoff_base=retry_backoff,
            verify_signature=verify_signature,
            body_format=body_format,
            session=session,
        )
        self.company = CompanyMethods(self._transport)
        self.user = UserMethods(self._transport)
        self.call = CallMethods(self._transport)
        self.vpbx = VpbxMethods(self._transport)

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Any method by name (e.g. one the document lists without a name), signed like the rest.

        Returns the response's ``data``; parameters are sent as given, so nothing here is retried
        unless the request never left this machine.
        """
        return await self._transport.request(method.strip("/"), params, idempotent=False)

    async def close(self) -> None:
        await self._transport.close()

    async def __aenter__(self) -> NewtelClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"NewtelClient(base_url={self.base_url!r})"
