"""Every text the bot sends, one catalog per language (``ru.py``, ``en.py``).

Templates are HTML (the bot sends with ``parse_mode=HTML``); values are escaped here, in one place,
unless they are ``Html`` that the caller already built from escaped parts.
"""

from __future__ import annotations

import html
import re
from typing import get_args

from bot.texts import en, ru
from storage import Language

CATALOGS: dict[str, dict[str, str]] = {"ru": ru.TEXTS, "en": en.TEXTS}
LANGUAGES: tuple[Language, ...] = get_args(Language)


def language_named(value: str) -> Language | None:
    """``ru`` or ``en`` as typed (any case), else None."""
    wanted = value.strip().lower()
    return next((language for language in LANGUAGES if language == wanted), None)


class Html(str):
    """Text that is already safe HTML (built from escaped parts): inserted as is."""


ECHO_LIMIT = 200  # characters of what the user typed that a reply shows back: replies stay under 4096


def echo(typed: str, limit: int = ECHO_LIMIT) -> str:
    """What the user typed, as a reply quotes it: at most ``limit`` characters, an ellipsis for the rest."""
    return typed if len(typed) <= limit else typed[: limit - 1] + "…"


class Texts:
    """The catalog of one language: ``_ = Texts("ru"); _("balance", amount=...)``."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in CATALOGS else "ru"
        self._catalog = CATALOGS[self.lang]

    def __call__(self, key: str, **values: object) -> Html:
        safe = {name: value if isinstance(value, Html) else html.escape(str(value)) for name, value in values.items()}
        return Html(self._catalog[key].format(**safe))

    def account_status(self, status: str) -> Html:
        """New-Tel's account status in words; one the document does not list is shown as it came."""
        key = f"status_{status}"
        return Html(self._catalog[key]) if key in self._catalog else Html(html.escape(status))

    @staticmethod
    def strip(text: str) -> str:
        """Plain text of an HTML message (for popups, which take no markup), cut to Telegram's 200."""
        plain = Texts.unmarked(text)
        return plain if len(plain) <= 200 else plain[:199] + "…"

    @staticmethod
    def unmarked(text: str) -> str:
        """Plain text of an HTML message, whole (the Mini App's JSON carries no markup)."""
        return html.unescape(re.sub(r"<[^>]+>", "", text))

    def plain(self, key: str) -> str:
        """A template with no placeholders, for places that take plain text (button labels, popups)."""
        return html.unescape(self._catalog[key])
