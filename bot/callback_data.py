"""Inline-button payloads: typed, versioned, packed and parsed here only; always ≤ 64 bytes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import MISSING, astuple, dataclass, fields
from typing import Any, ClassVar, TypeVar, get_args

from telegram import CallbackQuery, InlineKeyboardMarkup, Message, Update

from bot import arguments

VERSION = "v1"
MAX_BYTES = 64  # Telegram's limit for callback_data


@dataclass(frozen=True)
class CallsPage:
    tag: ClassVar[str] = "calls"
    kind: str  # all | missed | in | out | active
    limit: int
    page: int
    number: str = ""  # a customer's history from the archive; "" for New-Tel's last 24 hours
    period: str = ""  # days from the archive (``periods.canonical``); "" for New-Tel's last 24 hours
    until: int = 0  # the list as its first page showed it: calls started by then (0: up to now)


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


# The alert's owner and the callback reminder.
@dataclass(frozen=True)
class Take:
    tag: ClassVar[str] = "take"
    alert_id: int


@dataclass(frozen=True)
class Release:
    tag: ClassVar[str] = "rel"
    alert_id: int


@dataclass(frozen=True)
class RemindMe:
    tag: ClassVar[str] = "rmd"
    alert_id: int


@dataclass(frozen=True)
class RemindCall:
    """Call back, from the presser's private reminder."""

    tag: ClassVar[str] = "rmcb"
    alert_id: int


@dataclass(frozen=True)
class RemindDone:
    """Done, from the presser's private reminder."""

    tag: ClassVar[str] = "rmdone"
    alert_id: int


# The customer book.
@dataclass(frozen=True)
class CardCall:
    tag: ClassVar[str] = "kcall"
    number: str
    asker: int  # who opened the card: only their press rings


@dataclass(frozen=True)
class CardRename:
    tag: ClassVar[str] = "kren"
    number: str


@dataclass(frozen=True)
class CardRemove:
    tag: ClassVar[str] = "krm"
    number: str
    asker: int  # kept on the card shown after


@dataclass(frozen=True)
class CardRestore:
    """Undo, on the card a removal left."""

    tag: ClassVar[str] = "kundo"
    number: str
    asker: int  # kept on the card shown after


@dataclass(frozen=True)
class SaveShared:
    tag: ClassVar[str] = "ksave"
    number: str


@dataclass(frozen=True)
class SkipShared:
    tag: ClassVar[str] = "kskip"
    number: str


@dataclass(frozen=True)
class ImportApply:
    tag: ClassVar[str] = "iok"
    import_id: int


@dataclass(frozen=True)
class ImportCancel:
    tag: ClassVar[str] = "ino"
    import_id: int


# /forget's question: a customer forgotten (or not) once their admin confirms.
@dataclass(frozen=True)
class Forget:
    tag: ClassVar[str] = "fgt"
    number: str


@dataclass(frozen=True)
class ForgetCancel:
    tag: ClassVar[str] = "fgtno"
    number: str


Payload = (
    CallsPage
    | RequestAccess
    | Approve
    | Reject
    | CallBack
    | Done
    | Take
    | Release
    | RemindMe
    | RemindCall
    | RemindDone
    | CardCall
    | CardRename
    | CardRemove
    | CardRestore
    | SaveShared
    | SkipShared
    | ImportApply
    | ImportCancel
    | Forget
    | ForgetCancel
)
_TYPES: dict[str, type[Any]] = {cls.tag: cls for cls in get_args(Payload)}


def pack(payload: Payload) -> str:
    data = ":".join([VERSION, payload.tag, *(str(value) for value in astuple(payload))])
    if len(data.encode()) > MAX_BYTES or any(":" in str(value) for value in astuple(payload)):
        raise ValueError(f"callback data {data!r} cannot be packed")
    return data


def fits(payload: Payload) -> bool:
    """Whether ``pack`` takes it: within Telegram's 64 bytes, no value with a ":"."""
    try:
        pack(payload)
    except ValueError:
        return False
    return True


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
    if len(parts) < len(kinds) and all(f.default is not MISSING for f in kinds[len(parts) :]):
        parts += [str(f.default) for f in kinds[len(parts) :]]  # a button from before a field was added
    if len(parts) != len(kinds):
        return None
    try:
        payload: Payload = cls(*(int(p) if f.type in ("int", int) else p for p, f in zip(parts, kinds, strict=True)))
    except ValueError:
        return None
    return payload


# The Mini App opened from a group's alert (a URL button: groups take no web_app buttons) starts on that miss: Telegram
# hands the page ``startapp`` as initData's start_param (A-Z, a-z, 0-9, _ and -, up to 64 characters).
_START_MISS = "alert-"


def startapp(alert_id: int) -> str:
    """The ``startapp`` of a link that opens the Mini App on this alert's miss."""
    return f"{_START_MISS}{alert_id}"


def started_on(start_param: str | None) -> int | None:
    """The alert a Mini App's ``start_param`` opens it on (``startapp``), or None."""
    if start_param is None or not start_param.startswith(_START_MISS):
        return None
    digits = start_param.removeprefix(_START_MISS)
    return arguments.whole_number(digits, 1, 2**63 - 1)  # anyone may write a link: ASCII digits only


P = TypeVar("P", bound=Payload)
_NO_MARKUP = InlineKeyboardMarkup([])


def pressed(update: Update, kind: type[P]) -> tuple[CallbackQuery, P] | None:
    """The button press of this update and its payload, when it is one of ``kind``."""
    press = update.callback_query
    payload = parse(press.data) if press is not None else None
    return (press, payload) if press is not None and isinstance(payload, kind) else None


def on_its_message(press: CallbackQuery) -> bool:
    """Whether the press may have come from a button of its message. Telegram clients can send any data for any
    message, so a payload that message never offered (another chat's alert, a page of a list onto an alert) is
    forged and counts for nothing. A button the bot has since taken away (an alert someone claimed, a decided
    request) is only stale: those payloads name what they act on, and their handlers check it is what this
    message shows, so the presser hears the real reason ("already closed")."""
    message = press.message
    if not isinstance(message, Message):
        return False
    offered = _offered(message)
    payload = parse(press.data)
    # An alert's buttons change as it is taken, released and called back: those presses are stale, not forged.
    stale_ok = (
        RequestAccess | CallBack | Done | Take | Release | RemindMe
        | Approve | Reject | SaveShared | SkipShared | ImportApply | ImportCancel | CardRestore
    )  # fmt: skip
    if press.data in offered or isinstance(payload, stale_ok):
        return True
    # Another page of a list: the message must be a list with pages (a double tap on › lands here).
    return isinstance(payload, CallsPage) and any(isinstance(parse(data), CallsPage) for data in offered)


def offered_by_its_message(press: CallbackQuery) -> bool:
    """Whether the press's payload is one of the buttons its message shows now (not only one it may have shown)."""
    return isinstance(press.message, Message) and press.data in _offered(press.message)


def _offered(message: Message) -> list[str | object | None]:
    return [button.callback_data for row in (message.reply_markup or _NO_MARKUP).inline_keyboard for button in row]


def matches(*kinds: type[Any]) -> Callable[[object], bool]:
    """A ``CallbackQueryHandler`` pattern accepting the payloads of these types."""
    return lambda data: isinstance(parse(data), kinds)
