"""The request and response signatures, exactly as the New-Tel document defines them.

    token = accessKey + time + sha256_hex(method "\\n" time "\\n" accessKey "\\n" body "\\n" signingKey)

The body is hashed as the exact bytes that go on the wire, so callers serialize once and
pass the same bytes here and to the transport.
"""

from __future__ import annotations

import hashlib
import hmac
import re

_KEY = re.compile(r"[0-9a-f]{48}")
TOKEN_LENGTH = 48 + 10 + 64  # the document says 112; the formula gives 122


def is_key(value: object) -> bool:
    """The shape of both New-Tel keys: 48 lowercase hexadecimal digits (and nothing else, not even a newline)."""
    return isinstance(value, str) and _KEY.fullmatch(value) is not None


def signature(method: str, timestamp: int, access_key: str, body: bytes, signing_key: str) -> str:
    """The SHA-256 hex digest over method, time, access key, body and signing key."""
    head = f"{method}\n{timestamp:010d}\n{access_key}\n".encode()
    return hashlib.sha256(b"".join((head, body, b"\n", signing_key.encode()))).hexdigest()


def bearer_token(method: str, timestamp: int, access_key: str, body: bytes, signing_key: str) -> str:
    """The value after ``Bearer `` in the Authorization header."""
    return f"{access_key}{timestamp:010d}{signature(method, timestamp, access_key, body, signing_key)}"


def parse_token(token: str) -> tuple[str, int, str] | None:
    """Split a bearer token into (access key, time, signature); None when it is not shaped like one."""
    if len(token) != TOKEN_LENGTH:
        return None
    access_key, time_digits, digest = token[:48], token[48:58], token[58:]
    if not (is_key(access_key) and time_digits.isdigit() and re.fullmatch(r"[0-9a-f]{64}", digest)):
        return None
    return access_key, int(time_digits), digest


def signatures_match(expected: str, received: str) -> bool:
    """Constant-time comparison, so a forged signature cannot be found byte by byte."""
    # Header values arrive decoded with surrogateescape: undecodable bytes must compare unequal, not raise.
    return hmac.compare_digest(expected.encode(), received.strip().lower().encode("utf-8", "surrogateescape"))
