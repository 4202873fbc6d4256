"""What a customer's name may not hold, wherever it comes from (/name, a contact passed on, an /import row)."""

from __future__ import annotations

import unicodedata

# Control characters (U+0000 cuts SQLite's text short), lone surrogates (no UTF-8 has them) and invisible format
# characters (U+202E turns the rest of a line around, U+200B shows nothing) ...
_HIDDEN = frozenset({"Cc", "Cs", "Cf"})
# ... but for the joiners, which emoji sequences (👨‍💻) and the words of some scripts need.
_JOINERS = frozenset({"\u200c", "\u200d"})


def hidden_character(name: str) -> str | None:
    """The first character of ``name`` that cannot be stored or would not show as itself, else None. Whitespace
    (tabs, line breaks) is not looked for: names are read with it collapsed to single spaces."""
    return next((ch for ch in name if unicodedata.category(ch) in _HIDDEN and ch not in _JOINERS), None)


def code_point(character: str) -> str:
    """How the message names a character nobody can see: "U+202E"."""
    return f"U+{ord(character):04X}"
