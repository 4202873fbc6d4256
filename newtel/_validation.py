"""The documented parameter rules, checked before anything goes on the wire.

Each function returns the value in the form New-Tel expects or raises ``ValidationError`` naming the
parameter and the rule. Phone numbers are accepted as people type them and normalized first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from newtel import phones
from newtel._errors import ValidationError

_VPBX_ID = re.compile(r"^[0-9a-f]{40}$")
_CALL_ID = re.compile(r"^[0-9]{16}$")
_PIN = re.compile(r"^[0-9]{5}$")


def _number(parameter: str, value: str, rule: Callable[[str], str | None], low: int, high: int) -> str:
    text = f"must be a phone number of {low}–{high} digits, not starting with 0"
    if not isinstance(value, str):
        raise ValidationError(parameter, text)
    digits = rule(value)
    if digits is None:
        raise ValidationError(parameter, f"{text} (got {value!r})")
    return digits


def caller_id(value: str) -> str:
    return _number("callerId", value, phones.caller_id, 4, 15)


def dst_number(value: str) -> str:
    return _number("dstNumber", value, phones.destination, 9, 15)


def src_numbers(value: str | Iterable[str]) -> str:
    """One number or several (a list, or comma-separated); internal numbers such as ``101`` allowed."""
    items = value.split(",") if isinstance(value, str) else list(value)
    if not items or any(not isinstance(item, str) or not item.strip() for item in items):
        raise ValidationError("srcNumber", "must name at least one phone number")
    return ",".join(_number("srcNumber", item, phones.source, 2, 15) for item in items)


def timeout(value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 20 <= value <= 99:
        raise ValidationError("timeout", f"must be a whole number of seconds from 20 to 99 (got {value!r})")
    return value


def pin(value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _PIN.fullmatch(value):
        raise ValidationError("pin", f"must be exactly 5 digits (got {value!r})")
    return value


def async_flag(value: bool | int) -> int:
    if value not in (0, 1):  # True and False compare equal to 1 and 0
        raise ValidationError("async", f"must be 0 or 1 (got {value!r})")
    return int(value)


def call_id(value: str) -> str:
    if not isinstance(value, str) or not _CALL_ID.fullmatch(value):
        raise ValidationError("callId", f"must be 16 digits (got {value!r})")
    return value


def is_vpbx_id(value: object) -> bool:
    """A call's id in the virtual PBX: 40 lowercase hexadecimal digits."""
    return isinstance(value, str) and _VPBX_ID.fullmatch(value) is not None


def vpbx_id(value: str) -> str:
    if not is_vpbx_id(value):
        raise ValidationError("vpbxId", f"must be 40 lowercase hexadecimal digits (got {value!r})")
    return value


def member_name(value: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError("name", "must be at least 1 character")
    return value
