"""Who is asking the Mini App's API, in two ways that both end in a Telegram user id.

- ``initData``: the query string Telegram hands the page, signed with a key only Telegram and the bot hold
  (Telegram's "Validating data received via the Mini App"). The page sends it with every API request
  (``Authorization: tma <initData>``). It is a credential: never logged, never shown.
- ``Links``: the URLs the browser fetches by itself (an ``<audio src>``, a chart, a file) cannot carry that header.
  The JSON that lists them gives each one a token of the server's own, bound to the user and to the exact resource,
  valid for ``LINK_SECONDS``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, urlencode

FUTURE_SKEW = 60  # seconds an auth_date may lie ahead of the server's clock (clocks differ a little)
LINK_SECONDS = 600  # a media link's life: long enough to start playing, short enough that a leaked one soon dies
MAX_INIT_DATA = 4096  # characters; Telegram's is well under 1 KB (and the server takes no longer header)

Failure = Literal["auth_missing", "auth_invalid", "auth_expired"]


class AuthRefused(Exception):
    """The request does not prove who sends it. ``language``: the initData user's language_code when it was signed
    (to say so in their language), else None."""

    def __init__(self, code: Failure, language: str | None = None) -> None:
        super().__init__(code)
        self.code, self.language = code, language


@dataclass(frozen=True)
class InitData:
    """What a valid initData says."""

    telegram_id: int
    first_name: str
    last_name: str | None
    username: str | None
    language_code: str | None
    start_param: str | None  # the ``startapp`` of a t.me link that opened the app
    auth_date: int


def _secret(token: str) -> bytes:
    return hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()


def _check_string(pairs: Mapping[str, str]) -> bytes:
    return "\n".join(f"{key}={pairs[key]}" for key in sorted(pairs)).encode()


def check_init_data(raw: str, token: str, *, max_age: float, now: float | None = None) -> InitData:
    """The initData's user, when ``raw`` is signed with ``token`` and its auth_date is at most ``max_age`` seconds old
    (and not more than ``FUTURE_SKEW`` ahead); else ``AuthRefused``."""
    if not raw:
        raise AuthRefused("auth_missing")
    if len(raw) > MAX_INIT_DATA:
        raise AuthRefused("auth_invalid")
    try:
        parsed = parse_qsl(raw, keep_blank_values=True, strict_parsing=True, errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise AuthRefused("auth_invalid") from None
    pairs = dict(parsed)
    if len(pairs) != len(parsed):  # a key twice: which one was signed is anyone's guess
        raise AuthRefused("auth_invalid")
    given = pairs.pop("hash", "")
    expected = hmac.new(_secret(token), _check_string(pairs), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise AuthRefused("auth_invalid")
    try:  # signed by Telegram from here on: a malformed field is Telegram's change, refused all the same
        user = json.loads(pairs["user"])
        found = InitData(
            telegram_id=int(user["id"]),
            first_name=str(user.get("first_name") or ""),
            last_name=user.get("last_name"),
            username=user.get("username"),
            language_code=user.get("language_code"),
            start_param=pairs.get("start_param"),
            auth_date=int(pairs["auth_date"]),
        )
    except (KeyError, ValueError, TypeError, AttributeError):
        raise AuthRefused("auth_invalid") from None
    now = time.time() if now is None else now
    if not now - max_age <= found.auth_date <= now + FUTURE_SKEW:
        raise AuthRefused("auth_expired", found.language_code)
    return found


def sign_init_data(fields: Mapping[str, str], token: str) -> str:
    """``fields`` as Telegram would hand them to the page, signed with ``token``: for the demo and the tests."""
    signed = hmac.new(_secret(token), _check_string(fields), hashlib.sha256).hexdigest()
    return urlencode({**fields, "hash": signed})


def init_data_for(
    telegram_id: int,
    token: str,
    *,
    first_name: str = "",
    language_code: str | None = "ru",
    start_param: str | None = None,
    auth_date: int | None = None,
) -> str:
    """A signed initData for this user, as Telegram makes it (the demo's and the tests' way in)."""
    user: dict[str, object] = {"id": telegram_id, "first_name": first_name or str(telegram_id)}
    if language_code is not None:
        user["language_code"] = language_code
    fields = {
        "auth_date": str(int(time.time()) if auth_date is None else auth_date),
        "user": json.dumps(user, ensure_ascii=False, separators=(",", ":")),
    }
    if start_param is not None:
        fields["start_param"] = start_param
    return sign_init_data(fields, token)


# ASCII digits only: ``str.isdigit`` also takes "²", which ``int`` refuses.
_LINK_TOKEN = re.compile(r"(-?[0-9]{1,19})\.([0-9]{1,19})\.(.*)", re.DOTALL)


class Links:
    """Tokens for URLs the browser fetches itself: ``<telegram id>.<expiry>.<mac>``, the MAC over the user, the
    expiry and the resource (the path and every query parameter but the token), with a key derived from the bot's
    token (so it changes with it, and no other key is kept)."""

    def __init__(self, token: str) -> None:
        self._key = hmac.new(b"MiniAppLinks", token.encode(), hashlib.sha256).digest()

    def _mac(self, telegram_id: int, expires: int, resource: str) -> str:
        message = f"{telegram_id}\n{expires}\n{resource}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()[:18]
        return base64.urlsafe_b64encode(digest).decode()

    def token(self, telegram_id: int, resource: str, *, now: float | None = None) -> str:
        expires = int(time.time() if now is None else now) + LINK_SECONDS
        return f"{telegram_id}.{expires}.{self._mac(telegram_id, expires, resource)}"

    def check(self, token: str, resource: str, *, now: float | None = None) -> int:
        """The Telegram user id the token was made for, if it is for ``resource`` and still valid; else
        ``AuthRefused``."""
        parts = _LINK_TOKEN.fullmatch(token)
        if parts is None:
            raise AuthRefused("auth_invalid")
        telegram_id, expires = int(parts[1]), int(parts[2])
        if not hmac.compare_digest(parts[3].encode(), self._mac(telegram_id, expires, resource).encode()):
            raise AuthRefused("auth_invalid")
        if (time.time() if now is None else now) > expires:
            raise AuthRefused("auth_expired")
        return telegram_id


def resource_of(path: str, query: Mapping[str, str] | list[tuple[str, str]]) -> str:
    """What a link token is bound to: the path and its query, the token (``t``) left out, in a fixed order."""
    pairs = sorted((k, v) for k, v in (query.items() if isinstance(query, Mapping) else query) if k != "t")
    return f"{path}?{urlencode(pairs)}" if pairs else path
