"""Placing a call: the one place that decides which phone rings first, which number the customer sees, starts
the call once and audits it. ``/call`` and the alert's "Call back" both use it and render its results alike.

Two steps, because "Call back" claims the alert between them: ``prepare`` checks everything that can be
checked without ringing anyone; ``place`` writes the audit entry first (a call the bot cannot record is not
placed) and then starts the call, so nothing after the request can turn its reply into "try again".

What costs more is asked first, here for every way a call is placed: a number in another country than the company's
(the number the customer sees) is ``Confirm``; the same person asking for it again within CONFIRM_WITHIN seconds, but
not sooner than CONFIRM_AFTER (a double tap is one press, not an answer), places it. ``confirmed`` is that rule, for
the alerts' "call anyway" too.
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
from storage.kv import KV

log = logging.getLogger(__name__)

CONFIRM_WITHIN = 15  # seconds: asking again this soon after the question answers it
CONFIRM_AFTER = 1.5  # ...but not sooner: a double tap is one press, not an answer
_ASKED = "calls.asked:"  # kv: <question> -> when it was asked, and about what


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


@dataclass(frozen=True)
class Confirm:
    """Nothing was placed: the call costs more (another country), and the person was asked ``question`` (of
    ``confirmed``); asking for it again within CONFIRM_WITHIN seconds places it."""

    plan: Plan
    question: str


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


async def prepare(
    svc: Services, user: User, typed: str, *, dialled: str | None = None, answers: frozenset[str] | None = None
) -> Plan | CannotCall | Confirm:
    """Everything checked before anyone rings, the question about a call abroad last (``Confirm`` the first time).
    ``dialled``: the company number the customer called, shown back to them when the company owns it. ``answers``:
    the questions this request may answer (None: any asked of this person, by asking again)."""
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
    plan = Plan(source, destination, caller_id)
    home = phones.country(caller_id) or phones.DEFAULT_REGION
    abroad = f"abroad:{user.telegram_id}:{destination}"
    answering = answers is None or abroad in answers
    if phones.country(destination) != home and not confirmed(
        svc.storage.kv, abroad, about=destination, answering=answering, pressed=answers is None
    ):
        return Confirm(plan, abroad)
    return plan


def confirmed(
    kv: KV, question: str, *, about: object, once: bool = True, answering: bool = True, pressed: bool = True
) -> bool:
    """Whether this request answers ``question``, asked of the same person about the same ``about`` at least
    CONFIRM_AFTER and at most CONFIRM_WITHIN seconds ago. Otherwise the question is asked now (a double tap keeps
    the first time) and False. Kept in storage: a popup cannot hold buttons, and a restart forgets nothing.
    ``once``: an answer counts for one request; else for every request until the window ends (a question another
    may follow, the next press answering that one). ``answering`` False: this request cannot be an answer (the Mini
    App's page answers with the token of its question only), so the question is asked anew. ``pressed`` False: the
    answer is the page's signed token of the question, a deliberate yes that no double tap sends, so no
    CONFIRM_AFTER."""
    key, now = _ASKED + question, time.time()
    asked = kv.get(key)
    same = answering and isinstance(asked, dict) and asked.get("about") == about
    if same and pressed and now - float(asked["at"]) < CONFIRM_AFTER:
        return False
    if same and now - float(asked["at"]) <= CONFIRM_WITHIN:
        if once:
            kv.delete(key)
        return True
    kv.forget_older(_ASKED, before=int(now) - 60)  # the questions nobody answered
    kv.set(key, {"at": now, "about": about}, now=int(now))
    return False


def question(ask: Confirm, texts: Texts, *, popup: bool) -> Html:
    """What the person is asked before a call abroad: in a button's popup (press it again), or in a message with a
    button of its own (``/call``)."""
    key = "call_abroad_popup" if popup else "call_abroad"
    return texts(key, destination=phones.format_for_people(ask.plan.destination), seconds=CONFIRM_WITHIN)


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
