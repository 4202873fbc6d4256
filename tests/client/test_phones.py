"""Phone numbers as people type them, normalized for New-Tel and formatted for people."""

from typing import Any

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# --- format_for_people's fast path: the archive's +7 numbers grouped by their prefix, not parsed one by one ---------
# Where Russian (and Kazakh, +7 7…) numbers start, the ones phonenumbers groups differently drawn more often:
# mobiles, Moscow, St Petersburg, toll-free, regions' 3- to 5-digit codes, Kazakhstan's 3-, 4- and 5-digit codes,
# and prefixes phonenumbers groups not at all (+7 0…, +7 881…).
_HEADS = ("9", "916", "999", "495", "499", "812", "800", "809", "3452", "34342", "4012", "8442", "8362", "8172",
          "727", "7172", "7102", "71043", "7142", "72134", "7213", "71333", "0", "1", "2", "5", "6", "881", "810",
          "8")  # fmt: skip
russian_numbers = st.one_of(
    st.tuples(st.sampled_from(_HEADS), st.text("0123456789", min_size=10, max_size=10)).map(
        lambda parts: "7" + (parts[0] + parts[1])[:10]
    ),
    st.text("0123456789", min_size=10, max_size=10).map(lambda digits: "7" + digits),
)


def _parsed_and_formatted(number: str) -> str:
    """What ``format_for_people`` showed before its fast path: a phonenumbers parse of each number."""
    parsed = phonenumbers.parse("+" + number, "RU")
    assert phonenumbers.is_possible_number(parsed)
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL))


@settings(max_examples=3_000, deadline=None)
@given(russian_numbers)
def test_a_plus7_number_is_shown_as_its_own_parse_shows_it(number: str) -> None:
    assert format_for_people(number) == _parsed_and_formatted(number)


def test_the_prefix_the_fast_path_groups_by_decides_phonenumbers_grouping() -> None:
    """phonenumbers picks a +7 number's grouping by the metadata's leading-digit patterns (the last, most precise of
    each format), then checks its length: if no pattern reads further into the national number than the prefix,
    numbers of one prefix are grouped alike. A newer phonenumbers reading further fails here first."""
    from re import _parser  # type: ignore[attr-defined]  # only the widest match of a pattern is asked of it

    metadata = phonenumbers.PhoneMetadata.metadata_for_region("RU")
    assert phonenumbers.region_code_for_country_code(7) == "RU"  # +7 numbers are formatted by Russia's metadata
    widest = max(
        _parser.parse(pattern).getwidth()[1]
        for number_format in (*metadata.intl_number_format, *metadata.number_format)
        for pattern in number_format.leading_digits_pattern
    )
    assert 1 + widest <= phones.GROUPED_BY_PREFIX
    assert metadata.general_desc.possible_length == (10, 14)  # every 7 + ten digits is a possible number


def test_numbers_of_one_prefix_cost_one_parse_at_most(monkeypatch: pytest.MonkeyPatch) -> None:
    """A month's export shows 136,000 numbers: a parse each (80 µs) was a sixth of its time."""
    numbers = [f"7{head}{n:07d}"[:11] for head in ("91612", "49512", "81234") for n in range(0, 10_000_000, 9_973)]
    parses = 0
    parse = phonenumbers.parse

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal parses
        parses += 1
        return parse(*args, **kwargs)

    monkeypatch.setattr(phonenumbers, "parse", counted)
    shown = [format_for_people(number) for number in numbers]
    assert parses <= 3  # one per prefix, none if an earlier test grouped it
    monkeypatch.undo()
    assert shown == [_parsed_and_formatted(number) for number in numbers]


@pytest.mark.parametrize(
    ("number", "shown"),
    [
        ("79041112233", "+7 904 111-22-33"),
        ("77172123456", "+7 7172 12 34 56"),  # Astana: a 4-digit code
        ("77104312345", "+7 71043 1 23 45"),  # a 5-digit code
        ("78812345678", "+7 8812345678"),  # no grouping phonenumbers knows
        ("+79041112233", "+7 904 111-22-33"),  # not the archive's form: parsed
        ("7904111223３", "+7 904 111-22-33"),  # a full-width digit: parsed, as before
        ("790411122334", "790411122334"),  # 12 digits: parsed, not a possible number
        ("=1+2", "=1+2"),
    ],
)
def test_numbers_out_of_the_fast_path_are_shown_as_before(number: str, shown: str) -> None:
    assert format_for_people(number) == shown
