"""Phone numbers as people type them and as New-Tel wants them.

New-Tel takes digits only, in international form without ``+`` (``79041112233``); people type
``+7 (904) 111-22-33`` or ``8 904 111 22 33``. The ``phonenumbers`` library does the parsing and the
formatting; the default region decides what a national form such as ``8 904 …`` means.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import phonenumbers

DEFAULT_REGION = "RU"
_SHORT_NUMBER = re.compile(r"^[1-9][0-9]{1,7}$")  # internal (extension) numbers: 2–8 digits
TYPED_CHARS = re.compile(r"[0-9+()\-.\s]+")  # what a typed phone number is made of (``fullmatch`` it)
_LEADING = re.compile(r"\s*[0-9+][0-9()\-.\s]*")  # the number a typed text begins with
_EXTENSION_WORDS = 3  # "доб. 5", "ext 5", "x5": the words an extension takes at most


def normalize(value: str, *, region: str = DEFAULT_REGION, allow_short: bool = False) -> str | None:
    """International digits (``79041112233``) for a typed number, or None when it cannot be a phone number.

    With ``allow_short``, a plain internal number such as ``101`` is kept as it is.
    """
    text = value.strip()
    if not text or not TYPED_CHARS.fullmatch(text):
        return None
    digits = re.sub(r"\D", "", text)
    if allow_short and not text.startswith("+") and _SHORT_NUMBER.match(digits):
        return digits
    if text.startswith("+"):
        readings = [text]
    elif len(digits) >= 11 and not digits.startswith("8"):
        readings = ["+" + digits]  # already international, e.g. "79041112233" or "49 30 1234567"
    else:
        # National first (people type "8 916 …" or "916 …"), then the digits as an international number
        # ("861012345678"), for those that are not valid in the home region.
        readings = [text, "+" + digits]
    parsed = [number for number in (_parse(r, region) for r in readings) if number is not None]
    chosen = next((n for n in parsed if phonenumbers.is_valid_number(n)), None)
    chosen = chosen or next((n for n in parsed if phonenumbers.is_possible_number(n)), None)
    if chosen is None:
        return None
    return phonenumbers.format_number(chosen, phonenumbers.PhoneNumberFormat.E164).lstrip("+")


def within(value: str, low: int, high: int, *, allow_short: bool = False) -> str | None:
    """``normalize``d, and only when it has ``low`` to ``high`` digits and does not start with 0."""
    digits = normalize(value, allow_short=allow_short)
    if digits is None or not low <= len(digits) <= high or digits.startswith("0"):
        return None
    return digits


# The document's rules for the numbers of a call, one place each (``_validation`` and the bot both use them).
def destination(value: str) -> str | None:
    """A number to call (``dstNumber``): 9–15 digits, international."""
    return within(value, 9, 15)


def source(value: str) -> str | None:
    """A phone that rings first (``srcNumber``): 2–15 digits, internal numbers such as ``101`` included."""
    return within(value, 2, 15, allow_short=True)


def caller_id(value: str) -> str | None:
    """A number the called party sees (``callerId``): 4–15 digits."""
    return within(value, 4, 15, allow_short=True)


def leading_number(words: Sequence[str]) -> tuple[str | None, int]:
    """The ``destination`` the first ``words`` spell and how many words it takes ("8 916 123 45 67 Иван" → 5).

    The longest run of leading phone-character words that is a valid number wins, else the longest that is only a
    possible one: "89161234567 007 Агент" is +7 916 123-45-67 with "007 Агент" after it, not a 15-digit number.
    None when no run is a number, with how many leading words look like one (what was typed as the number).
    """
    leading = 0
    while leading < len(words) and TYPED_CHARS.fullmatch(words[leading]):
        leading += 1
    possible: tuple[str, int] | None = None
    for end in range(leading, 0, -1):
        digits = destination(" ".join(words[:end]))
        if digits is None:
            continue
        if is_valid(digits):
            return digits, end
        possible = possible or (digits, end)
    return possible or (None, leading)


def split_extension(typed: str, *, region: str = DEFAULT_REGION) -> tuple[str, str | None]:
    """A number typed with an extension, apart: ``("+7 495 111-22-33", "5")`` for "+7 495 111-22-33 доб. 5" (and
    "ext. 5", "x5", "#5": the markers ``phonenumbers`` reads); ``(typed, None)`` when it names none. New-Tel dials
    no extension: the caller keeps the number and says what was left out."""
    number = _LEADING.match(typed)
    if number is None or TYPED_CHARS.fullmatch(typed.strip()):
        return typed, None
    parsed = _parse(typed, region)
    if parsed is None or not parsed.extension or not phonenumbers.is_possible_number(parsed):
        return typed, None
    return number[0].rstrip(" (,;.-"), parsed.extension


def leading_number_and_extension(words: Sequence[str]) -> tuple[str | None, str | None, int]:
    """``leading_number``, and the extension typed after it: "8 495 111 22 33 доб. 5 Иван" → ("74951112233", "5",
    7). No extension: (the number or None, None, as many words as ``leading_number`` takes)."""
    digits, taken = leading_number(words)
    if digits is not None:
        for end in range(min(len(words), taken + _EXTENSION_WORDS), taken, -1):
            number, extension = split_extension(" ".join(words[:end]))
            if extension is not None and destination(number) == digits:
                return digits, extension, end
    return digits, None, taken


def is_valid(digits: str, *, region: str = DEFAULT_REGION) -> bool:
    """Whether international digits (``79041112233``) are a number in use by the numbering plan, not merely of a
    possible length."""
    parsed = _parse("+" + digits, region)
    return parsed is not None and phonenumbers.is_valid_number(parsed)


def country(digits: str) -> str | None:
    """The country of international digits as an ISO code ("RU", "KZ", "US"): by the numbering plan when the number is
    valid, else the main country of its calling code; None for digits that cannot be an international number (an
    internal one such as ``101``)."""
    parsed = _parse("+" + digits, DEFAULT_REGION) if digits.isdigit() else None
    if parsed is None or not phonenumbers.is_possible_number(parsed):
        return None
    found = phonenumbers.region_code_for_number(parsed)
    found = found or phonenumbers.region_code_for_country_code(parsed.country_code or 0)
    return None if found == phonenumbers.UNKNOWN_REGION else found


def _parse(text: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None


def format_for_people(number: str | None, *, region: str = DEFAULT_REGION) -> str:
    """``79041112233`` → ``+7 904 111-22-33``; internal and unparseable numbers are shown as they are."""
    if number and len(number) == _PLUS7_LENGTH and number[0] == "7" and number.isascii() and number.isdigit():
        template = _grouping(number[:GROUPED_BY_PREFIX])
        if template is not None:
            return template.format(*number)
    return _parsed_for_people(number, region)


# The archive's form of a number in +7 (Russia, Kazakhstan): 7 and ten digits. phonenumbers groups it by the first
# of its formats whose leading-digit pattern matches, and those read at most five digits past the 7 (Kazakhstan's
# "+7 71043 1 23 45"; tests/client/test_phones.py checks the metadata): numbers of one prefix are grouped alike. So
# phonenumbers is asked once per prefix, not per number: a parse costs ~80 µs, and a month's export shows 136,000.
_PLUS7_LENGTH = 11
GROUPED_BY_PREFIX = 6


@functools.lru_cache(maxsize=16_384)  # a month of mobiles uses under 10,000 prefixes (+7 9xxxx)
def _grouping(prefix: str) -> str | None:
    """How phonenumbers shows the +7 numbers starting with ``prefix``, as a template of their digits in order
    (``+{} {}{}{} …``); None where it shows something else (it never does today)."""
    sample = prefix.ljust(_PLUS7_LENGTH, "0")
    shown = _parsed_for_people(sample, DEFAULT_REGION)
    if "{" in shown or "}" in shown or re.sub(r"\D", "", shown) != sample:
        return None
    return re.sub(r"\d", "{}", shown)


def _parsed_for_people(number: str | None, region: str) -> str:
    if not number:
        return "—"
    digits = number.lstrip("+")
    if not digits.isdigit() or len(digits) < 9:
        return number
    try:
        parsed = phonenumbers.parse("+" + digits, region)
    except phonenumbers.NumberParseException:
        return number
    if not phonenumbers.is_possible_number(parsed):
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
