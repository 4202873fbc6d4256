"""Inline-button payloads: typed, versioned, packed and parsed here only; always ≤ 64 bytes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import astuple, dataclass, fields
from typing import Any, ClassVar, TypeVar

from telegram import CallbackQuery, Message, Update

VERSION = "v1"
MAX_BYTES = 64  # Telegram's limit for callback_data


@dataclass(frozen=True)
class CallsPage:
    tag: ClassVar[str] = "calls"
    kind: str  # all | missed | in | out | active
    limit: int
    page: int


@dataclass(frozen=True)
class RequestAccess:
    tag: ClassVar[str] = "req"


@dataclass(frozen=True)
class Approve:
    tag: ClassVar[str] = "ap"
    request_id: int
    member_id: str


@dataclass(frozen=True)
class Reject:
    tag: ClassVar[str] = "rj"
    request_id: int


@dataclass(frozen=True)
class CallBack:
    tag: ClassVar[str] = "cb"
    alert_id: int


@dataclass(frozen=True)
class Done:
    tag: ClassVar[str] = "done"
    alert_id: int


Payload = CallsPage | RequestAccess | Approve | Reject | CallBack | Done
_TYPES: dict[str, type[Any]] = {cls.tag: cls for cls in (CallsPage, RequestAccess, Approve, Reject, CallBack, Done)}


def pack(payload: Payload) -> str:
    data = ":".join([VERSION, payload.tag, *(str(value) for value in astuple(payload))])
    if len(data.encode()) > MAX_BYTES or any(":" in str(value) for value in astuple(payload)):
        raise ValueError(f"callback data {data!r} cannot be packed")
    return data


def parse(data: object) -> Payload | None:
    """The payload, or None for anything this version of the bot did not produce."""
    if not isinstance(data, str):
        return None
    version, _, rest = data.partition(":")
    tag, _, values = rest.partition(":")
    cls = _TYPES.get(tag)
    if version != VERSION or cls is None:
        return None
    parts = values.split(":") if values else []
    kinds = fields(cls)
    if len(parts) != len(kinds):
        return None
    try:
        payload: Payload = cls(*(int(p) if f.type in ("int", int) else p for p, f in zip(parts, kinds, strict=True)))
    except ValueError:
        return None
    return payload


P = TypeVar("P", bound=Payload)


def pressed(update: Update, kind: type[P]) -> tuple[CallbackQuery, P] | None:
    """The button press of this update and its payload, when it is one of ``kind``."""
    press = update.callback_query
    payload = parse(press.data) if press is not None else None
    return (press, payload) if press is not None and isinstance(payload, kind) else None


def on_its_message(press: CallbackQuery) -> bool:
    """Whether the press carries one of the buttons of the message it came from. Telegram clients can send any
    data for any message; a payload that message never offered (another chat's alert, a page of a list onto an
    alert) is forged or stale, and counts for nothing."""
    message = press.message
    markup = message.reply_markup if isinstance(message, Message) else None
    if markup is None:
        return False
    return any(button.callback_data == press.data for row in markup.inline_keyboard for button in row)


def matches(*kinds: type[Any]) -> Callable[[object], bool]:
    """A ``CallbackQueryHandler`` pattern accepting the payloads of these types."""
    return lambda data: isinstance(parse(data), kinds)
