"""Request bodies and the document's parameter rules.

Values are accepted as strings (what the document specifies, and all a form body can carry) and, for the
numeric ones, as JSON integers, since PHP's json_encode turns numeric-looking values into numbers.
JSON booleans are never numbers here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

Params = dict[str, Any]
Validator = Callable[[Any], Any]


class InvalidParameter(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


class InvalidBody(Exception):
    pass


def parse_body(body: bytes, content_type: str) -> Params:
    """The parameters of a JSON or form body. ``""``, ``[]``, ``{}``, ``null`` and no body mean none."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidBody("body is not UTF-8") from e
    if not text.strip():
        return {}
    if content_type == "application/x-www-form-urlencoded":
        return dict(parse_qsl(text, keep_blank_values=True))
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as e:  # RecursionError: absurdly nested JSON
        raise InvalidBody("body is not valid JSON") from e
    if isinstance(value, dict):
        return value
    if value in ("", [], None):
        return {}
    raise InvalidBody("body must be a JSON object")


def _text(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    return value if isinstance(value, str) else None


def phone(low: int, high: int) -> Validator:
    """``low``..``high`` decimal digits, not starting with 0."""
    pattern = re.compile(rf"[1-9][0-9]{{{low - 1},{high - 1}}}")

    def check(value: Any) -> str:
        text = _text(value)
        if text is None or not pattern.fullmatch(text):
            raise ValueError
        return text

    return check


def phone_list(low: int, high: int) -> Validator:
    """One or several numbers separated by commas."""
    one = phone(low, high)

    def check(value: Any) -> list[str]:
        text = _text(value)
        if text is None:
            raise ValueError
        return [one(part.strip()) for part in text.split(",")]

    return check


def integer(low: int, high: int) -> Validator:
    def check(value: Any) -> int:
        text = _text(value)
        if text is None or not re.fullmatch(r"[0-9]{1,3}", text) or not low <= int(text) <= high:
            raise ValueError
        return int(text)

    return check


def pattern(regex: str) -> Validator:
    compiled = re.compile(regex)

    def check(value: Any) -> str:
        text = _text(value)
        if text is None or not compiled.fullmatch(text):
            raise ValueError
        return text

    return check


def non_empty_string(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError
    return value


CALLER_ID = phone(4, 15)
DST_NUMBER = phone(9, 15)
SRC_NUMBER = phone_list(2, 15)
TIMEOUT = integer(20, 99)
PIN = pattern(r"[0-9]{5}")
ASYNC = integer(0, 1)
CALL_ID = pattern(r"[0-9]{16}")
VPBX_ID = pattern(r"[0-9a-f]{40}")
NAME = non_empty_string


class Spec:
    """A method's parameters: name -> (validator, required, default)."""

    def __init__(self, **fields: tuple[Validator, bool, Any]) -> None:
        self.fields = fields

    def validate(self, params: Params) -> Params:
        """Checked and normalized parameters; unknown ones are ignored."""
        checked: Params = {}
        for name, (validator, required, default) in self.fields.items():
            if name not in params:
                if required:
                    raise InvalidParameter(name)
                checked[name] = default
                continue
            try:
                checked[name] = validator(params[name])
            except ValueError:
                raise InvalidParameter(name) from None
        return checked


def required(validator: Validator) -> tuple[Validator, bool, Any]:
    return validator, True, None


def optional(validator: Validator, default: Any = None) -> tuple[Validator, bool, Any]:
    return validator, False, default
