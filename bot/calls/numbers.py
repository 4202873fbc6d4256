"""A number a person types for New-Tel to ring (``/phone``, ``/call``): the one rule for both.

New-Tel can ring a valid phone number (``phonenumbers``: one in use in its country's numbering plan, not merely of a
possible length: "123" and "+7 000 000-00-00" are not) or one of the company's internal numbers (company/get-numbers).
``call/start-simple-call`` rings a first phone of 2–15 digits, internal numbers included, and connects a destination
of 9–15: an internal number may be the phone that rings first (``/phone 101``), but ``/call`` cannot connect one.
"""

from __future__ import annotations

from bot.calls.calling import CannotCall
from bot.services import Services
from bot.texts import echo
from newtel import phones
from storage import User

_SHORT = 8  # digits of an internal number at most (``phones``' short numbers)


async def first_phone(svc: Services, user: User, typed: str) -> str | CannotCall:
    """The phone ``/phone`` sets: a valid phone number or an internal number of the company, as digits."""
    digits = await _internal(svc, typed)
    if digits is None:
        digits = _valid(typed)
    if digits is None:
        if user.internal_number:  # the example of an internal number is the user's own, none made up
            return CannotCall("phone_bad_internal", {"value": echo(typed), "internal": user.internal_number})
        return CannotCall("phone_bad", {"value": echo(typed)})
    return digits


async def to_call(svc: Services, typed: str) -> str | CannotCall:
    """The number ``/call`` connects: a valid phone number, as digits; the company's internal number is told apart."""
    digits = _valid(typed)
    if digits is not None:
        return digits
    internal = await _internal(svc, typed)
    if internal is not None:
        return CannotCall("call_internal", {"number": internal})
    return CannotCall("bad_number", {"value": echo(typed)})


def _valid(typed: str) -> str | None:
    digits = phones.destination(typed)
    return digits if digits is not None and phones.is_valid(digits) else None


async def _internal(svc: Services, typed: str) -> str | None:
    """``typed`` as one of the company's internal numbers, else None (New-Tel is asked only about a short number)."""
    digits = phones.source(typed)
    if digits is None or len(digits) > _SHORT:
        return None
    return digits if digits in (await svc.directory.numbers()).internal else None
