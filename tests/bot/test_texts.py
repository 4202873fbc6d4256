"""The text catalogs: the same keys and placeholders in both languages, well-formed HTML, and each text
fits where it goes."""

from __future__ import annotations

import re
import string

import pytest

from bot.app import MENU
from bot.texts import CATALOGS, Html, Texts, echo

ALLOWED_TAGS = {"b", "i", "code", "u", "s", "a", "pre", "blockquote"}


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_both_languages_have_the_same_keys_and_placeholders() -> None:
    ru, en = CATALOGS["ru"], CATALOGS["en"]
    assert sorted(ru) == sorted(en)
    for key in ru:
        assert placeholders(ru[key]) == placeholders(en[key]), key


@pytest.mark.parametrize("lang", sorted(CATALOGS))
def test_every_text_is_telegram_html_with_balanced_tags(lang: str) -> None:
    """Only Telegram's tags, each closed in order; a literal "<" must be written &lt;."""
    for key, template in CATALOGS[lang].items():
        open_tags: list[str] = []
        for closing, tag in re.findall(r"<(/?)([^>\s]*)", template):
            assert tag in ALLOWED_TAGS, (key, tag)
            if closing:
                assert open_tags and open_tags.pop() == tag, key
            else:
                open_tags.append(tag)
        assert open_tags == [], key


@pytest.mark.parametrize("lang", sorted(CATALOGS))
def test_button_labels_and_menu_descriptions_are_short(lang: str) -> None:
    texts = Texts(lang)
    for key in ("button_request_access", "button_share_contact", "previous", "next", "reject"):
        assert 0 < len(texts.plain(key)) <= 40, key
    for _, key in MENU:
        assert 3 <= len(texts.plain(key)) <= 256, key


def test_only_what_the_user_typed_is_shortened_when_echoed() -> None:
    url = "https://records.example/" + "a" * 300  # a signed link is long, and must stay whole
    assert url in Texts("ru")("record_link", caption=Html(""), url=url)
    assert echo("x" * 4000) == "x" * 199 + "…" and echo("+7 916") == "+7 916"
