"""Command arguments as people type them, read strictly: ASCII digits only (``str.isdigit`` also accepts ``²``
and other digits that ``int`` refuses), within the ranges Telegram and SQLite can hold."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"[0-9]{1,16}")
MAX_USER_ID = 2**53 - 1  # Telegram: user ids have at most 52 significant bits


def whole_number(text: str, low: int, high: int) -> int | None:
    """``text`` as a whole number from ``low`` to ``high``, else None."""
    if not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if low <= value <= high else None


def user_id(text: str) -> int | None:
    """A Telegram user id (positive: negative ids are chats, not people), else None."""
    return whole_number(text, 1, MAX_USER_ID)


def looks_like_a_number(text: str) -> bool:
    """Digits of any kind, maybe signed (``²``, ``-100500``): meant as a number, so worth a precise answer."""
    body = text.lstrip("+-")
    return bool(body) and body.isdigit()
