"""The misses desk: what a person does with a missed-call alert (take it, release it, call the customer back, close
it, be reminded of it) in one place, whichever way they asked: the alert's buttons and its private reminder's
(``bot.alerts.buttons``, ``bot.alerts.reminders``) or the Mini App's page (``bot.miniapp.misses``). Each action takes
the services, the acting user (checked by the caller: a manager whose member is still at New-Tel) and the alert, and
returns an outcome: done and the words that say so, a question to ask first, or refused and why. Saying it (a popup,
JSON) is the caller's; an alert the action changed is handed to ``show`` (its chat's lane), so its message in the
group shows the change, whoever made it and from where.

Call back keeps the button's guarantees for every way in. One call at most: the claim is atomic in storage, so a second
request by anyone places nothing. Asked first when someone else took the alert or the customer is abroad, within
``calling.confirmed``'s window: a press answers by being pressed again, the page only with the token naming the
question (``answers``). Audited before it starts, never repeated (``calling.place``). From the claim on, the call and
its record run shielded: whoever asked may go away meanwhile (a page closed mid-request, a shutdown) without the call
being lost half-way, placed twice or its outcome unrecorded.

A customer's card calls them through ``call_back`` when their miss is open (``bot.miniapp.card``), else through
``call_customer``: ``/call``'s call, with the same guarantees, one call per customer at a time included."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import newtel
from bot.calls import calling, numbers
from bot.errors import describe
from bot.formatting import format_for_people
from bot.services import Services
from bot.texts import Html, Texts
from storage import Alert, User

if TYPE_CHECKING:
    from telegram import Bot

    from bot.alerts.delivery import Delivery

log = logging.getLogger(__name__)

Show = Callable[[Alert], None]  # hands a changed alert to its chat's lane (``Delivery.kick``); returns at once
GoAhead = Callable[[], Awaitable[bool]]  # right before the call is placed: False when nobody waits for it any more


def shown_by(delivery: Delivery, bot: Bot) -> Show:
    """The ``show`` of every way in: the alert's chat's lane edits its message, at the group's Telegram pace."""
    return lambda alert: delivery.kick(bot, alert.chat_id)


@dataclass(frozen=True)
class Done:
    """It is done; ``key`` (with ``values``) says so."""

    key: str
    values: Mapping[str, object] = field(default_factory=dict)

    def said(self, texts: Texts) -> Html:
        return texts(self.key, **self.values)


@dataclass(frozen=True)
class Ask:
    """Nothing was done: the person is asked first. ``questions``: what a request must answer to go ahead (this one and
    those answered on the way), each a ``calling.confirmed`` question of this person."""

    # someone else took the alert; the customer's number is in another country; a card called them moments ago
    about: Literal["owner", "abroad", "again"]
    values: Mapping[str, object]
    questions: frozenset[str]

    def said(self, texts: Texts, *, popup: bool) -> Html:
        """In a button's popup (press it again), or as the page's yes/no question."""
        keys = {
            "owner": ("owner_call_anyway", "miss_ask_owner"),
            "abroad": ("call_abroad_popup", "miss_ask_abroad"),
            "again": ("call_ask_again", "call_ask_again"),  # the page's only
        }
        return texts(keys[self.about][0 if popup else 1], seconds=calling.CONFIRM_WITHIN, **self.values)


@dataclass(frozen=True)
class Refused:
    """Nothing was done (or the call did not start); ``key`` says why, or New-Tel's ``error`` does."""

    key: str
    values: Mapping[str, object] = field(default_factory=dict)
    error: newtel.NewtelError | None = field(default=None, compare=False)

    def said(self, texts: Texts) -> Html:
        return describe(self.error, texts) if self.error is not None else texts(self.key, **self.values)


@dataclass(frozen=True)
class Withdrawn:
    """Call back was claimed and let go before anything rang: ``go_ahead`` said nobody waits for the call any more."""


Outcome = Done | Ask | Refused | Withdrawn
CALLING = Done("callback_started")  # the call back was placed: the presser's phone rings first
AGAIN_WITHIN = 60  # seconds: a card's call this soon after another to the same customer asks first
_CALLED = "desk.called:"  # kv: <customer> -> the card's last call to them (by, name, at), for AGAIN_WITHIN


def take(svc: Services, user: User, alert: Alert, show: Show) -> Done | Refused:
    """I'll take it: the user owns the alert, unless someone took it first (two requests, one owner)."""
    me = user.telegram_id
    taken = svc.storage.alerts.take(alert.id, me, user.name, int(time.time()))
    if taken is None:
        current = svc.storage.alerts.get(alert.id)
        if current is None or current.state == "closed":
            return Refused("callback_closed")
        if current.owner_id == me:
            return Refused("owner_already_yours")
        return Refused("owner_taken_by", {"name": current.owner_name or "—"})
    show(taken)
    return Done("owner_taken")


def release(svc: Services, user: User, alert: Alert, show: Show) -> Done | Refused:
    """Release: only the owner lets the alert go; anyone else hears whose it is."""
    released = svc.storage.alerts.release_owner(alert.id, user.telegram_id, int(time.time()))
    if released is None:
        current = svc.storage.alerts.get(alert.id)
        if current is None or current.state == "closed":
            return Refused("callback_closed")
        if current.owner_id is None:
            return Refused("owner_nobody")
        return Refused("owner_not_yours", {"name": current.owner_name or "—"})
    show(released)
    return Done("owner_released")


def done(svc: Services, user: User, alert: Alert, show: Show) -> Done | Refused:
    """Done: the alert is closed by hand."""
    if not svc.storage.alerts.close(alert.id, "done", user.telegram_id, user.name, int(time.time())):
        return Refused("callback_closed")
    show(alert)
    return Done("done_ok")


def remind(svc: Services, user: User, alert: Alert) -> Done | Refused:
    """Remind me: the alert comes to the user privately ALERT_REMIND_MINUTES from now, unless it closes first
    (``bot.alerts.reminders`` sends it)."""
    if alert.state == "closed":
        return Refused("callback_closed")
    now, minutes = int(time.time()), svc.settings.alert_remind_minutes
    due = svc.storage.reminders.rearm(alert.id, "callback", user.telegram_id, int(now + minutes * 60), now)
    at = datetime.fromtimestamp(due.due_at, svc.settings.zone).strftime("%H:%M")
    return Done("remind_set", {"minutes": f"{minutes:g}", "time": at})


async def call_back(
    svc: Services,
    user: User,
    alert: Alert,
    show: Show,
    *,
    answers: frozenset[str] | None = None,
    go_ahead: GoAhead | None = None,
) -> Outcome:
    """Call the customer back: asks first when someone else took the alert (or the customer is abroad), else claims
    it and places one call. ``answers``: the questions this request answers (None: a press, which answers what its
    presser was asked by being pressed again). ``go_ahead`` runs once the alert is claimed, before anything rings.
    A New-Tel failure before the claim raises (nothing changed)."""
    kv, me = svc.storage.kv, user.telegram_id
    answered: frozenset[str] = frozenset()
    if alert.owner_id is not None and alert.owner_id != me:
        question = _anyway(alert.id, me)
        # Kept for its window (not ``once``): for a customer abroad, the request that answers it is asked that next.
        answering, pressed = _answers(answers, question), answers is None
        if not calling.confirmed(kv, question, about=alert.owner_id, once=False, answering=answering, pressed=pressed):
            return _ask_owner(alert, question)
        answered = frozenset({question})
    plan = await calling.prepare(svc, user, alert.clid, dialled=alert.dnid, answers=answers)
    if isinstance(plan, calling.Confirm):
        destination = format_for_people(plan.plan.destination)
        return Ask("abroad", {"destination": destination}, answered | {plan.question})
    if isinstance(plan, calling.CannotCall):
        # Said in a group's popup or on the page: the phone is to be set in the private chat.
        return Refused("callback_no_phone") if plan.key == "no_own_phone" else _refused(plan)
    claimed = svc.storage.alerts.claim_callback(alert.id, me, user.name, int(time.time()), owner_seen=alert.owner_id)
    if claimed is None:
        return _why_not(svc, alert, me)
    return await _shielded(_place(svc, user, plan, claimed, show, go_ahead))


async def call_customer(svc: Services, user: User, number: str, *, answers: frozenset[str]) -> Outcome:
    """Call a customer from their card, with no miss of theirs open (else ``call_back``): ``/call``'s checks and
    question (abroad), and then one call, audited, never repeated. One at a time: a card's call to the same customer
    within AGAIN_WITHIN seconds (a press twice, two people at once) asks first, answered like the others
    (``answers``: the questions this request answers). A New-Tel failure before the claim raises (nothing changed)."""
    kv, me = svc.storage.kv, user.telegram_id
    destination = await numbers.to_call(svc, number)
    if isinstance(destination, calling.CannotCall):
        return _refused(destination)
    key, question = _CALLED + destination, f"call-again:{destination}:{me}"
    kv.forget_older(_CALLED, before=int(time.time()) - AGAIN_WITHIN)
    seen = kv.get(key)  # the last call, asked about first (the question about a call abroad is last: ``once``)
    answered: frozenset[str] = frozenset()
    if seen is not None:
        if not calling.confirmed(kv, question, about=seen, once=False, answering=question in answers, pressed=False):
            return _ask_again(svc, seen, question)
        answered = frozenset({question})
    plan = await calling.prepare(svc, user, destination, answers=answers)
    if isinstance(plan, calling.Confirm):
        return Ask("abroad", {"destination": format_for_people(plan.plan.destination)}, answered | {plan.question})
    if isinstance(plan, calling.CannotCall):
        return Refused("callback_no_phone") if plan.key == "no_own_phone" else _refused(plan)
    now = time.time()
    claim = {"by": me, "name": user.name or "—", "at": now}
    if not kv.swap(key, seen, claim, now=int(now)):
        # Another call since the question (or since this request began): asked about that one, anew.
        latest = kv.get(key) or claim
        calling.confirmed(kv, question, about=latest, once=False, answering=False)
        return _ask_again(svc, latest, question)
    return await _shielded(_call(svc, user, plan, key, claim))


async def _call(svc: Services, user: User, plan: calling.Plan, key: str, claim: dict[str, Any]) -> Outcome:
    """The card's claimed call, placed once; a call that surely did not start gives its claim back."""
    outcome = await calling.place(svc, user, plan, origin="card")
    if isinstance(outcome, calling.CannotCall):
        try:
            svc.storage.kv.swap(key, claim, None, now=int(time.time()))
        except sqlite3.Error as error:  # nothing rang; the next press within AGAIN_WITHIN is only asked first
            log.warning("A card's refused call stays claimed for %s s: %s", AGAIN_WITHIN, error)
        return _refused(outcome)
    shown = {name: format_for_people(getattr(outcome.plan, name)) for name in ("source", "destination", "caller_id")}
    if isinstance(outcome, calling.MayHaveStarted):
        return Done("call_uncertain", {"source": shown["source"]})
    return Done("calling", shown)  # /call's words


async def _shielded(placing: Awaitable[Outcome]) -> Outcome:
    """``placing`` run to its end whoever waits for it: a call once claimed is placed and recorded even when the
    asker goes away (a page closed mid-request, a shutdown)."""
    running = asyncio.ensure_future(placing)
    try:
        return await asyncio.shield(running)
    except asyncio.CancelledError:  # the asker went away: the call runs on, and is recorded, all the same
        _unawaited.add(running)
        running.add_done_callback(_forget)
        raise


async def _place(
    svc: Services, user: User, plan: calling.Plan, claimed: Alert, show: Show, go_ahead: GoAhead | None
) -> Outcome:
    """The claimed alert's call, placed once (or not at all) and its outcome recorded, whoever still waits for it."""
    alerts = svc.storage.alerts
    try:
        if go_ahead is not None and not await go_ahead():
            alerts.callback_failed(claimed.id, int(time.time()), claim=claimed)
            return Withdrawn()
        outcome = await calling.place(svc, user, plan, origin=f"alert:{claimed.id}")
        if isinstance(outcome, calling.Started):
            alerts.set_callback_call(claimed.id, outcome.call_id, claim=claimed)
            return CALLING
        if isinstance(outcome, calling.MayHaveStarted):
            # It may ring anyway: the poll looks for the call and reopens the alert if it never shows up.
            log.warning("Callback for alert %s unconfirmed", claimed.id)
            return Done("callback_uncertain")
        try:
            alerts.callback_failed(claimed.id, int(time.time()), claim=claimed)
        except sqlite3.Error as error:  # e.g. the database that refused the audit: the poll reopens it later
            log.warning("Alert %s stays claimed until the poll gives up on it: %s", claimed.id, error)
        return _refused(outcome)
    finally:
        # Only once the phone rings, the alert shows it ("Ivan is calling back…", or its button back): that edit goes
        # at the group's Telegram pace, which must not hold up the call. The claim already keeps anyone from a second.
        show(claimed)


# The placements whose asker went away: kept until they end (the loop keeps only weak references to tasks), a failure
# logged rather than lost.
_unawaited: set[asyncio.Future[Outcome]] = set()


def _forget(placing: asyncio.Future[Outcome]) -> None:
    _unawaited.discard(placing)
    if not placing.cancelled() and (error := placing.exception()) is not None:
        log.error("A call back whose asker went away failed", exc_info=error)


def _ask_again(svc: Services, called: dict[str, Any], question: str) -> Ask:
    """The question "this customer was called moments ago (by whom, when): call again?"."""
    at = datetime.fromtimestamp(float(called["at"]), svc.settings.zone).strftime("%H:%M")
    return Ask("again", {"name": called["name"], "time": at}, frozenset({question}))


def _answers(answers: frozenset[str] | None, question: str) -> bool:
    return answers is None or question in answers


def _anyway(alert_id: int, user_id: int) -> str:
    """The question "someone else took it: call anyway?" of this user about this alert."""
    return f"call-anyway:{alert_id}:{user_id}"


def _ask_owner(alert: Alert, question: str) -> Ask:
    return Ask("owner", {"name": alert.owner_name or "—"}, frozenset({question}))


def _refused(outcome: calling.CannotCall) -> Refused:
    return Refused(outcome.key, outcome.values, outcome.error)


def _why_not(svc: Services, seen: Alert, me: int) -> Outcome:
    """Why the claim of ``seen`` (the alert as the request found it) failed, as it stands now."""
    current = svc.storage.alerts.get(seen.id)
    if current is not None and current.state == "calling":
        return Refused("callback_taken", {"name": current.callback_name or "—"})
    if current is not None and current.state == "open" and current.owner_id not in (None, seen.owner_id):
        # Taken by someone else while this request was on its way: asked first, as on any alert someone took.
        question = _anyway(current.id, me)
        calling.confirmed(svc.storage.kv, question, about=current.owner_id, once=False, answering=False)
        return _ask_owner(current, question)
    if current is not None and current.state == "open":
        return Refused("callback_busy")  # the customer is being called back from another chat's alert
    return Refused("callback_closed")
