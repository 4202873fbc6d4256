"""What a customer's name may not hold, wherever it comes from (/name, a contact passed on, an /import row, the Mini
App's card), and the same for the note on their card."""

from __future__ import annotations

import unicodedata

# Control characters (U+0000 cuts SQLite's text short), lone surrogates (no UTF-8 has them) and invisible format
# characters (U+202E turns the rest of a line around, U+200B shows nothing) ...
_HIDDEN = frozenset({"Cc", "Cs", "Cf"})
# ... but for the joiners, which emoji sequences (👨‍💻) and the words of some scripts need.
_JOINERS = frozenset({"\u200c", "\u200d"})
MAX_NOTE = 500  # characters of a note on a customer's card (the database holds no more)


def hidden_character(name: str) -> str | None:
    """The first character of ``name`` that cannot be stored or would not show as itself, else None. Whitespace
    (tabs, line breaks) is not looked for: names are read with it collapsed to single spaces."""
    return next((ch for ch in name if unicodedata.category(ch) in _HIDDEN and ch not in _JOINERS), None)


def code_point(character: str) -> str:
    """How the message names a character nobody can see: "U+202E"."""
    return f"U+{ord(character):04X}"


def clean_note(typed: str) -> str:
    """A note as it is kept: its lines (whatever breaks them) joined by line feeds, tabs as spaces, blank ends
    dropped. A note is the one text with line breaks; ``hidden_character`` then looks at the rest."""
    return "\n".join(typed.replace("\t", " ").splitlines()).strip()


def hidden_in_note(note: str) -> str | None:
    """``hidden_character`` of a ``clean_note``: its line feeds are no hidden characters."""
    return hidden_character(note.replace("\n", ""))
