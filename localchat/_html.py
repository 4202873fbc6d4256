"""Telegram's HTML parse mode: turn a marked-up text into plain text plus entities, as the Bot API does.

Strict on purpose: an unescaped ``<`` or an unknown tag is a 400 from the real Bot API, and the fake must
catch the bot forgetting ``html.escape`` before Telegram does.
"""

from __future__ import annotations

import html
import re
from typing import Any

_ENTITY_FOR_TAG = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",  # only with class="tg-spoiler"
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^<>]*)?)>")
_ATTR_RE = re.compile(r"""([a-zA-Z-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")
# Telegram supports exactly these named entities plus numeric ones; a lone "&" is taken literally.
_CHAR_REF_RE = re.compile(r"&(?:#[0-9]+|#x[0-9a-fA-F]+|lt|gt|amp|quot);")

_Stack = list[tuple[str, int, dict[str, Any] | None]]  # open tag, start offset, its entity


class EntityParseError(ValueError):
    """The text is not valid Telegram HTML; the message is the Bot API's description after the prefix."""


def utf16_len(text: str) -> int:
    """Entity offsets and lengths count UTF-16 code units, not Python characters."""
    return len(text.encode("utf-16-le")) // 2


def _attrs(raw: str) -> dict[str, str]:
    return {
        m.group(1).lower(): html.unescape(m.group(2) or m.group(3) or m.group(4) or "") for m in _ATTR_RE.finditer(raw)
    }


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Return ``(plain_text, entities)`` for ``parse_mode="HTML"`` or raise :class:`EntityParseError`."""
    out: list[str] = []
    pos = 0  # UTF-16 offset of the plain text produced so far
    stack: _Stack = []
    entities: list[dict[str, Any]] = []
    i = 0
    while i < len(source):
        ch = source[i]
        if ch == "<":
            at = len(source[:i].encode())
            m = _TAG_RE.match(source, i)
            if m is None:
                raise EntityParseError(f"Unexpected end of name token at byte offset {at}")
            closing, name, attrs = m.group(1) == "/", m.group(2).lower(), _attrs(m.group(3))
            if name not in _ENTITY_FOR_TAG or (name == "span" and not closing and attrs.get("class") != "tg-spoiler"):
                raise EntityParseError(f'Unsupported start tag "{name}" at byte offset {at}')
            if closing:
                if not stack or stack[-1][0] != name:
                    expected = f'"</{stack[-1][0]}>"' if stack else "nothing"
                    raise EntityParseError(
                        f'Unmatched end tag at byte offset {at}, expected {expected}, found "</{name}>"'
                    )
                _, start, entity = stack.pop()
                if entity is not None and pos > start:
                    entity.update(offset=start, length=pos - start)
                    entities.append(entity)
            else:
                stack.append((name, pos, _entity(name, attrs, stack)))
            i = m.end()
            continue
        if ch == "&" and (m := _CHAR_REF_RE.match(source, i)):
            ch = html.unescape(m.group(0))
            i = m.end()
        else:
            i += 1
        out.append(ch)
        pos += utf16_len(ch)
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _entity(name: str, attrs: dict[str, str], stack: _Stack) -> dict[str, Any] | None:
    if name == "code" and stack and stack[-1][0] == "pre":
        # <pre><code class="language-x"> is one pre entity with a language, not two entities.
        pre = stack[-1][2]
        if pre is not None and attrs.get("class", "").startswith("language-"):
            pre["language"] = attrs["class"].removeprefix("language-")
        return None
    kind = _ENTITY_FOR_TAG[name]
    if kind == "text_link":
        return {"type": kind, "url": attrs.get("href", "")}
    if kind == "custom_emoji":
        return {"type": kind, "custom_emoji_id": attrs.get("emoji-id", "")}
    if kind == "blockquote" and "expandable" in attrs:
        return {"type": "expandable_blockquote"}
    return {"type": kind}


def with_links(text: str, entities: list[dict[str, Any]] | None) -> str:
    """Plain text for a terminal: every ``text_link`` becomes ``text <url>``, other styling is dropped."""
    links = [e for e in entities or () if e.get("type") == "text_link" and e.get("url")]
    if not links:
        return text
    # Map UTF-16 offsets back to Python indexes once.
    index_at: dict[int, int] = {}
    pos = 0
    for idx, ch in enumerate(text):
        index_at[pos] = idx
        pos += utf16_len(ch)
    index_at[pos] = len(text)
    inserts = sorted(
        (index_at.get(e["offset"] + e["length"], len(text)), e["url"])
        for e in links
        if text[index_at.get(e["offset"], 0) : index_at.get(e["offset"] + e["length"], len(text))] != e["url"]
    )
    parts, last = [], 0
    for idx, url in inserts:
        parts += [text[last:idx], f" <{url}>"]
        last = idx
    parts.append(text[last:])
    return "".join(parts)
