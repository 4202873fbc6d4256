"""Pure functions: Telegram HTML parsing and the terminal's rendering of bot messages."""

from __future__ import annotations

from typing import Any

import pytest

from localchat import render_message
from localchat._html import EntityParseError, parse_html, with_links
from localchat.terminal import render_header


@pytest.mark.parametrize(
    ("source", "text", "entities"),
    [
        ("plain", "plain", []),
        ("<b>Ivan</b> called", "Ivan called", [{"type": "bold", "offset": 0, "length": 4}]),
        ("a &lt;b&gt; &amp; &quot;c&quot; &#8470;", 'a <b> & "c" №', []),
        ("Tom & Jerry", "Tom & Jerry", []),  # a lone "&" is taken literally
        ("😀<i>x</i>", "😀x", [{"type": "italic", "offset": 2, "length": 1}]),  # UTF-16 offsets
        (
            '<a href="https://a.example/?x=1&amp;y=2">here</a>',
            "here",
            [{"type": "text_link", "offset": 0, "length": 4, "url": "https://a.example/?x=1&y=2"}],
        ),
        (
            '<pre><code class="language-python">x = 1</code></pre>',
            "x = 1",
            [{"type": "pre", "offset": 0, "length": 5, "language": "python"}],
        ),
        (
            "<b>bold <i>both</i></b>",
            "bold both",
            [{"type": "bold", "offset": 0, "length": 9}, {"type": "italic", "offset": 5, "length": 4}],
        ),
        ('<span class="tg-spoiler">s</span>', "s", [{"type": "spoiler", "offset": 0, "length": 1}]),
        ("<b></b>empty", "empty", []),
    ],
)
def test_parse_html(source: str, text: str, entities: list[dict[str, Any]]) -> None:
    assert parse_html(source) == (text, entities)


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("1 < 2", "Unexpected end of name token at byte offset 2"),
        ("<script>x</script>", 'Unsupported start tag "script" at byte offset 0'),
        ("<span>x</span>", 'Unsupported start tag "span"'),
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("x</b>", "expected nothing"),
    ],
)
def test_parse_html_rejects_what_telegram_rejects(source: str, error: str) -> None:
    with pytest.raises(EntityParseError, match=error.replace("(", r"\(")):
        parse_html(source)


def test_with_links_appends_urls_but_not_twice() -> None:
    text, entities = parse_html(
        'See <a href="https://x.example">the docs</a> or <a href="https://y.example">https://y.example</a>.'
    )
    assert with_links(text, entities) == "See the docs <https://x.example> or https://y.example."
    assert with_links("😀 a", [{"type": "text_link", "offset": 3, "length": 1, "url": "u://"}]) == "😀 a <u://>"


def test_render_text_with_buttons() -> None:
    text, entities = parse_html('<b>Missed call</b> from +7 916 111-22-33, <a href="https://crm.example/7">card</a>')
    message = {
        "message_id": 5,
        "text": text,
        "entities": entities,
        "reply_markup": {
            "inline_keyboard": [
                [{"text": "Call back", "callback_data": "v1:cb:7"}, {"text": "Done", "callback_data": "v1:done:7"}],
                [{"text": "Open CRM", "url": "https://crm.example/7"}],
            ]
        },
    }
    assert render_message(message) == (
        "Missed call from +7 916 111-22-33, card <https://crm.example/7>\n"
        "[1] Call back  [2] Done\n"
        "[3] Open CRM <https://crm.example/7>"
    )


@pytest.mark.parametrize(
    ("message", "rendered"),
    [
        (
            {"audio": {"file_id": "f", "file_name": "call-17.mp3", "file_size": 48_640}, "caption": "Call 17"},
            "🎵 audio: call-17.mp3, 48 KB\nCall 17",
        ),
        (
            {"audio": {"file_id": "f", "file_name": "17.mp3"}, "file_url": "https://rec.example/17.mp3"},
            "🎵 audio: https://rec.example/17.mp3",
        ),
        ({"voice": {"file_id": "v1", "file_size": 900}}, "🎤 voice: v1, 900 B"),
        (
            {
                "photo": [{"file_id": "p", "width": 1200, "height": 800, "file_size": 120_000}],
                "file_url": "http://127.0.0.1:1/file/p.png",
                "caption": "Report",
            },
            "🖼 photo 1200×800: http://127.0.0.1:1/file/p.png, 117 KB\nReport",
        ),
        ({"document": {"file_id": "d", "file_name": "calls.csv", "file_size": 2048}}, "📄 document: calls.csv, 2 KB"),
        (
            {
                "text": "Share your number",
                "reply_markup": {"keyboard": [[{"text": "My number", "request_contact": True}, "Cancel"]]},
            },
            "Share your number\nkeyboard: ‹My number› (!contact)  ‹Cancel›",
        ),
        ({"text": "Thanks", "reply_markup": {"remove_keyboard": True}}, "Thanks\n(keyboard removed)"),
        ({"contact": {"phone_number": "+79161112233", "first_name": "Ivan"}}, "📇 contact: +79161112233 (Ivan)"),
    ],
)
def test_render_media_keyboards_and_contacts(message: dict[str, Any], rendered: str) -> None:
    assert render_message(message) == rendered


def test_render_header() -> None:
    private = {"message_id": 5, "chat": {"id": 42, "type": "private"}, "date": 0}
    group = {"message_id": 6, "chat": {"id": -1, "type": "group", "title": "Sales"}, "date": 0}
    assert render_header(private) == "── bot → you #5"
    assert render_header(group) == "── bot → Sales group #6"
    assert render_header(private, edited=True) == "── bot edited #5"
    assert render_header(group, edited=True) == "── bot edited #6 in Sales group"
    assert render_header(private, reader="Olga") == "── bot → Olga #5"  # someone else the terminal speaks as
    assert render_header(private, edited=True, reader="Olga") == "── bot edited #5 for Olga"
    stamped = render_header({**private, "date": 1_700_000_000})
    assert stamped.startswith("── bot → you #5 (") and stamped.endswith(")") and stamped.count(":") == 2
