"""Phone numbers as people type them, normalized for New-Tel and formatted for people."""

from typing import Any

import pytest

import newtel
from newtel import phones
from newtel.phones import format_for_people, normalize


@pytest.mark.parametrize(
    ("typed", "digits"),
    [
        ("+7 (904) 111-22-33", "79041112233"),
        ("8 904 111 22 33", "79041112233"),
        ("89041112233", "79041112233"),
        ("9041112233", "79041112233"),
        ("79041112233", "79041112233"),
        ("8 (495) 123-45-67", "74951234567"),
        ("8 800 777-61-17", "78007776117"),
        ("+49 30 12345678", "493012345678"),
        ("861012345678", "861012345678"),  # not a Russian number: read as international (China)
        ("375291234567", "375291234567"),  # Belarus
        ("abc", None),
        ("+7 916 123-45-67 ext 5", None),
        ("0123", None),
        ("", None),
    ],
)
def test_normalize(typed: str, digits: str | None) -> None:
    assert normalize(typed) == digits


def test_internal_numbers_only_when_allowed() -> None:
    assert normalize("101", allow_short=True) == "101"
    assert normalize("101") is None


def test_format_for_people() -> None:
    assert format_for_people("79041112233") == "+7 904 111-22-33"
    assert format_for_people("78007776117") == "+7 800 777-61-17"
    assert format_for_people("101") == "101"
    assert format_for_people(None) == "—"


@pytest.mark.parametrize(
    ("rule", "typed", "expected"),
    [
        (phones.destination, "8 (916) 123-45-67", "79161234567"),
        (phones.destination, "101", None),  # internal numbers cannot be dialled as a destination
        (phones.destination, "+7 916 12", None),
        (phones.source, "101", "101"),
        (phones.source, "+7 916 123-45-67", "79161234567"),
        (phones.source, "0123", None),
        (phones.caller_id, "101", None),  # under 4 digits
        (phones.caller_id, "8 800 777-61-17", "78007776117"),
    ],
)
def test_each_call_number_rule_is_one_public_function(rule: Any, typed: str, expected: str | None) -> None:
    assert rule(typed) == expected


def test_ids_and_keys_are_checked_whole() -> None:
    assert newtel.is_vpbx_id("a" * 40) and not newtel.is_vpbx_id("a" * 40 + "\n") and not newtel.is_vpbx_id("A" * 40)
    assert newtel.is_key("0" * 48) and not newtel.is_key("0" * 48 + "\n") and not newtel.is_key(None)


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("8 916 123-45-67 Иван Петров", ("79161234567", 3)),
        ("+7 (916) 123 45 67", ("79161234567", 5)),
        ("89161234567 007 Агент", ("79161234567", 1)),  # "89161234567 007" is only a possible number
        ("8 916 123 45 67 123", ("79161234567", 5)),
        ("8 916 12 Иван", (None, 3)),  # no number: how many words were typed as one
        ("Иван 89161234567", (None, 0)),
    ],
)
def test_the_number_the_first_words_spell_a_valid_one_first(words: str, expected: tuple[str | None, int]) -> None:
    assert phones.leading_number(words.split()) == expected


def test_a_merely_possible_number_is_taken_when_no_run_is_valid() -> None:
    assert not phones.is_valid("789161234567007") and phones.destination("89161234567 007") == "789161234567007"
    assert phones.leading_number(["89161234567", "007", "x"]) == ("79161234567", 1)
    possible = phones.destination("+7 200 123 45 67")
    assert possible is not None and not phones.is_valid(possible)
    assert phones.leading_number(["+7", "200", "123", "45", "67", "Иван"]) == (possible, 5)
    assert phones.is_valid("79161234567") and phones.TYPED_CHARS.fullmatch("+7 (916) 123-45.67")
