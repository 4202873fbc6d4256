"""Placing a call: the one place that decides which phone rings first, which number the customer sees, starts
the call once and audits it. ``/call`` and the alert's "Call back" both use it and render its results alike.

Two steps, because "Call back" claims the alert between them: ``prepare`` checks everything that can be
checked without ringing anyone; ``place`` writes the audit entry first (a call the bot cannot record is not
placed) and then starts the call, so nothing after the request can turn its reply into "try again".
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass, field

import newtel
from bot.access.checks import current_member
from bot.errors import describe
from bot.services import Services
from bot.texts import Html, Texts, echo
from newtel import Member, phones
from storage import User

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Plan:
    """A call that may be placed: ``source`` rings first, then ``destination``, which sees ``caller_id``."""

    source: str
    destination: str
    caller_id: str


@dataclass(frozen=True)
class Started:
    plan: Plan
    call_id: str


@dataclass(frozen=True)
class MayHaveStarted:
    """New-Tel may have placed it although starting it failed: saying "try again" could ring twice."""

    plan: Plan


@dataclass(frozen=True)
class CannotCall:
    """Nothing was placed; ``key`` names the text that says why (``error``: New-Tel refused, said by it)."""

    key: str
    values: dict[str, object] = field(default_factory=dict)
    error: newtel.NewtelError | None = field(default=None, compare=False)


Outcome = Started | MayHaveStarted | CannotCall


def first_phone(user: User, member: Member | None) -> str | None:
    """The phone New-Tel rings first: the user's own callback phone, else the member's personal number, else
    the internal number, both from ``member`` (current data; the user's stored snapshot when None)."""
    if member is not None:
        return user.callback_phone or member.personal_number or member.internal_number
    return user.callback_phone or user.personal_number or user.internal_number


def number_to_call(typed: str) -> str | CannotCall:
    """The number ``typed`` names to call (international digits), or why it names none: checked before New-Tel is
    asked anything."""
    destination = phones.destination(typed)
    return CannotCall("bad_number", {"value": echo(typed)}) if destination is None else destination


async def prepare(svc: Services, user: User, typed: str, *, dialled: str | None = None) -> Plan | CannotCall:
    """Everything checked before anyone rings. ``dialled``: the company number the customer called, shown
    back to them when the company owns it."""
    destination = number_to_call(typed)
    if isinstance(destination, CannotCall):
        return destination
    member = None
    if user.member_id is not None:
        member = current_member(user, await svc.directory.members())
        if member is None:
            return CannotCall("member_gone_call", {"member": user.member_name or "—"})
        if _snapshot_differs(user, member):
            svc.storage.users.refresh_member(user.telegram_id, member, now=int(time.time()))
    source = first_phone(user, member)
    if source is None:
        return CannotCall("no_own_phone")
    if source == destination:
        return CannotCall("call_yourself")
    caller_id = await _caller_id(svc, dialled)
    if caller_id is None:
        return CannotCall("no_caller_id")
    return Plan(source, destination, caller_id)


async def place(svc: Services, user: User, plan: Plan, *, origin: str) -> Outcome:
    """Start the call exactly once (the client never repeats it), audited before it starts."""
    details = {"src": plan.source, "caller_id": plan.caller_id, "origin": origin, "outcome": "requested"}
    try:
        entry = svc.storage.audit.log(
            "call.start", actor_id=user.telegram_id, target=plan.destination, details=details, now=int(time.time())
        )
    except sqlite3.Error as error:  # no record, no call: a call nobody can account for is not placed
        log.error("Call not placed: the audit log cannot be written (%s)", error)
        return CannotCall("call_not_recorded")
    outcome: Outcome
    try:
        call_id = await svc.newtel.call.start_simple_call(
            src_number=plan.source, dst_number=plan.destination, caller_id=plan.caller_id
        )
    except newtel.NewtelError as error:
        if not error.may_have_run:
            outcome, note = CannotCall("newtel", error=error), {"outcome": "refused", "error": type(error).__name__}
        else:
            log.warning("Call start uncertain (audit %s): %s: %s", entry, type(error).__name__, error)
            outcome, note = MayHaveStarted(plan), {"outcome": "uncertain", "error": type(error).__name__}
    else:
        outcome, note = Started(plan, call_id), {"outcome": "started", "call_id": call_id}
    try:
        svc.storage.audit.amend(entry, note)
    except sqlite3.Error as error:  # the request went out: its reply must not turn into "try again"
        log.error("Call audit %s could not record %s: %s", entry, note, error)
    return outcome


def why_not(outcome: CannotCall, texts: Texts) -> Html:
    """What a refused call means to the person who asked, the same words from /call and from Call back."""
    if outcome.error is not None:
        return describe(outcome.error, texts)
    return texts(outcome.key, **outcome.values)


async def _caller_id(svc: Services, dialled: str | None) -> str | None:
    """The number the customer sees: the one they dialled when the company owns it, else DEFAULT_CALLER_ID,
    else the company's first external number."""
    numbers = await svc.directory.numbers()
    if dialled and dialled in numbers.external:
        return dialled
    if svc.settings.default_caller_id:
        return svc.settings.default_caller_id
    return numbers.external[0] if numbers.external else None


def _snapshot_differs(user: User, member: Member) -> bool:
    return (user.member_name, user.member_email, user.internal_number, user.personal_number) != (
        member.name,
        member.email,
        member.internal_number,
        member.personal_number,
    )


def said(outcome: Outcome, texts: Texts) -> Html:
    """What the person who asked for the call is told of its outcome."""
    if isinstance(outcome, CannotCall):
        return why_not(outcome, texts)
    if isinstance(outcome, MayHaveStarted):
        return texts("call_uncertain", source=phones.format_for_people(outcome.plan.source))
    return texts(
        "calling",
        source=phones.format_for_people(outcome.plan.source),
        destination=phones.format_for_people(outcome.plan.destination),
        caller_id=phones.format_for_people(outcome.plan.caller_id),
    )
