"""The 31 documented methods: their parameters and payloads, with field names as in the document's tables."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._calls import Call
from ._company import Company, Member
from ._params import (
    ASYNC,
    CALL_ID,
    CALLER_ID,
    DST_NUMBER,
    NAME,
    PIN,
    SRC_NUMBER,
    TIMEOUT,
    VPBX_ID,
    Params,
    Spec,
    optional,
    required,
)

if TYPE_CHECKING:
    from ._sandbox import Sandbox

Payload = dict[str, Any]


class MethodError(Exception):
    """A method-level error: HTTP 200 with ``data.result == "error"`` and this message."""


@dataclass(slots=True)
class Context:
    sandbox: Sandbox
    now: float
    base_url: str  # where this request reached us, for record links

    @property
    def company(self) -> Company:
        return self.sandbox.company


Handler = Callable[[Context, Params], Awaitable[Payload]]


@dataclass(slots=True)
class Method:
    spec: Spec
    handler: Handler


METHODS: dict[str, Method] = {}


def method(name: str, spec: Spec | None = None) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        METHODS[name] = Method(spec or Spec(), handler)
        return handler

    return register


# --- company/* -----------------------------------------------------------------------------------------
# The tables disagree on case: get-members capitalizes Id, Name, Email; get-member-details only Id.
# Kept exactly as documented, so clients learn to accept both.
MEMBERS_KEYS = ("Id", "Name", "Email")
MEMBER_DETAILS_KEYS = ("Id", "name", "email")


def _member(member: Member, keys: tuple[str, str, str]) -> Payload:
    id_key, name_key, email_key = keys
    return {
        id_key: member.id,
        name_key: member.name,
        email_key: member.email,
        "internalNumber": member.internal_number,
        "personalNumber": member.personal_number,
        "timeZone": member.time_zone,
    }


@method("company/get-state")
async def get_state(ctx: Context, params: Params) -> Payload:
    s = ctx.company.state
    return {
        "state": {
            "balance": s.balance,
            "credit": s.credit,
            "currency": s.currency,
            "dayTrafficCost": s.day_traffic_cost,
            "monthTrafficCost": s.month_traffic_cost,
            "status": s.status,
        }
    }


@method("company/get-profile-details")
async def get_company_profile(ctx: Context, params: Params) -> Payload:
    p = ctx.company.profile
    return {
        "profileDetails": {
            "id": p.id,
            "companyName": p.company_name,
            "registeredBy": p.registered_by,
            "registeredOn": p.registered_on,
            "agreementNumber": p.agreement_number,
            "agreementDate": p.agreement_date,
        }
    }


@method("company/get-members")
async def get_members(ctx: Context, params: Params) -> Payload:
    return {"members": [_member(m, MEMBERS_KEYS) for m in ctx.company.members]}


@method("company/get-members-list")
async def get_members_list(ctx: Context, params: Params) -> Payload:
    return {"membersList": [m.name for m in ctx.company.members]}


@method("company/get-member-details", Spec(name=required(NAME)))
async def get_member_details(ctx: Context, params: Params) -> Payload:
    member = ctx.company.member_by_name(params["name"])
    if member is None:
        raise MethodError("Member not found")
    return {"memberDetails": _member(member, MEMBER_DETAILS_KEYS)}


@method("company/get-numbers")
async def get_numbers(ctx: Context, params: Params) -> Payload:
    c = ctx.company
    return {
        "numbers": {
            "external": list(c.external_numbers),
            "internal": c.internal_numbers,
            "virtual": list(c.virtual_numbers),
        }
    }


# --- user/* ---------------------------------------------------------------------------------------------
@method("user/get-profile-details")
async def get_user_profile(ctx: Context, params: Params) -> Payload:
    owner = ctx.company.members[0]  # the sandbox's keys belong to the first member
    return {
        "profileDetails": {
            "name": owner.name,
            "email": owner.email,
            "internalNumber": owner.internal_number,
            "personalNumber": owner.personal_number,
            "timeZone": owner.time_zone,
        }
    }


# --- call/* ---------------------------------------------------------------------------------------------
@method(
    "call/start-simple-call",
    Spec(
        callerId=required(CALLER_ID),
        dstNumber=required(DST_NUMBER),
        srcNumber=required(SRC_NUMBER),
        timeout=optional(TIMEOUT, 20),
    ),
)
async def start_simple_call(ctx: Context, params: Params) -> Payload:
    sb, company = ctx.sandbox, ctx.company
    if params["dstNumber"] in params["srcNumber"]:
        raise MethodError("Destination and source numbers must not match")
    if params["callerId"] not in company.external_numbers:
        raise MethodError("Specified caller ID not allowed")
    call = company.start_simple_call(
        ctx.now,
        caller_id=params["callerId"],
        dst_number=params["dstNumber"],
        src_numbers=params["srcNumber"],
        answered=sb.outcome(params["dstNumber"]) == "answered",
        ring_seconds=sb.ring_seconds,
        talk_seconds=sb.talk_seconds,
        timeout=params["timeout"],
    )
    return {"callId": call.call_id}


@method(
    "call/start-password-call",
    Spec(
        dstNumber=required(DST_NUMBER),
        pin=optional(PIN),
        timeout=optional(TIMEOUT, 20),
        # The table does not mark async optional (it does pin and timeout), so the sandbox requires it.
        **{"async": required(ASYNC)},
    ),
)
async def start_password_call(ctx: Context, params: Params) -> Payload:
    sb, company = ctx.sandbox, ctx.company
    pin = params["pin"] or f"{company.rng.randrange(100_000):05d}"
    outcome = sb.outcome(params["dstNumber"])
    call_id = company.new_call_id()
    sb.password_calls.append({"callId": call_id, "dstNumber": params["dstNumber"], "pin": pin})
    status = None  # the document: asynchronous requests get an undefined status
    if params["async"] == 0:
        await asyncio.sleep(sb.ring_seconds)  # a synchronous request waits for the call's outcome
        status = outcome
    # CallPassword calls come from the provider's number pool, not the company's PBX: no vpbx record.
    return {"callDetails": {"callId": call_id, "pin": pin, "status": status}}


@method("call/get-vpbx-id", Spec(callId=required(CALL_ID)))
async def get_vpbx_id(ctx: Context, params: Params) -> Payload:
    call = ctx.company.find_by_call_id(params["callId"], ctx.now)
    if call is None:
        raise MethodError("Call not found or unavailable")
    return {"vpbxId": call.vpbx_id}


def _row(ctx: Context, call: Call) -> Payload:
    """The call as the document's table shows it, with any fields a test has malformed."""
    row = call.to_json(ctx.now)
    malformed = ctx.sandbox.faults.malformed.get(call.vpbx_id)
    return {**row, **malformed} if malformed else row


# --- vpbx/*: lists ----------------------------------------------------------------------------------------
@method("vpbx/get-calls")
async def get_calls(ctx: Context, params: Params) -> Payload:
    return {"calls": [_row(ctx, c) for c in ctx.company.calls_within_day(ctx.now)]}


@method("vpbx/get-calls-list")
async def get_calls_list(ctx: Context, params: Params) -> Payload:
    return {"callsList": [c.vpbx_id for c in ctx.company.calls_within_day(ctx.now)]}


@method("vpbx/get-active-calls")
async def get_active_calls(ctx: Context, params: Params) -> Payload:
    return {"activeCalls": [_row(ctx, c) for c in ctx.company.active_calls(ctx.now)]}


@method("vpbx/get-active-calls-list")
async def get_active_calls_list(ctx: Context, params: Params) -> Payload:
    return {"activeCallsList": [c.vpbx_id for c in ctx.company.active_calls(ctx.now)]}


@method("vpbx/get-registered-numbers-list")
async def get_registered_numbers(ctx: Context, params: Params) -> Payload:
    return {"registeredNumbersList": list(ctx.company.registered_numbers)}


@method("vpbx/get-ringing-numbers-list")
async def get_ringing_numbers(ctx: Context, params: Params) -> Payload:
    return {"ringingNumbersList": ctx.company.ringing_numbers(ctx.now)}


@method("vpbx/get-active-numbers-list")
async def get_active_numbers(ctx: Context, params: Params) -> Payload:
    return {"activeNumbersList": ctx.company.active_numbers(ctx.now)}


# --- vpbx/*: one call by vpbxId ---------------------------------------------------------------------------
CallField = Callable[[Context, Call], Any]


def call_method(name: str, key: str, direction: str | None = None) -> Callable[[CallField], CallField]:
    """A method that looks a call up by vpbxId and answers one property of it."""

    def register(field: CallField) -> CallField:
        async def handler(ctx: Context, params: Params) -> Payload:
            call = ctx.company.find(params["vpbxId"], ctx.now)
            if call is None:
                raise MethodError("Call not found")
            if direction == "in" and call.direction != "in":
                raise MethodError("Method for inbound call only")
            if direction == "out" and call.direction != "out":
                raise MethodError("Method for outbound call only")
            return {key: field(ctx, call)}

        METHODS[name] = Method(Spec(vpbxId=required(VPBX_ID)), handler)
        return field

    return register


@call_method("vpbx/get-call-details", "callDetails")
def _details(ctx: Context, call: Call) -> Any:
    return _row(ctx, call)


@call_method("vpbx/get-call-direction", "callDirection")
def _direction(ctx: Context, call: Call) -> Any:
    return call.direction


@call_method("vpbx/get-call-status", "callStatus")
def _status(ctx: Context, call: Call) -> Any:
    return call.status(ctx.now)


@call_method("vpbx/get-call-start-time", "callStartTime")
def _start_time(ctx: Context, call: Call) -> Any:
    return int(call.start)


@call_method("vpbx/get-call-answer-time", "callAnswerTime")
def _answer_time(ctx: Context, call: Call) -> Any:
    return call.answer_time(ctx.now)


@call_method("vpbx/get-call-end-time", "callEndTime")
def _end_time(ctx: Context, call: Call) -> Any:
    return call.end_time(ctx.now)


@call_method("vpbx/get-inbound-call-clid", "callClid", "in")
def _inbound_clid(ctx: Context, call: Call) -> Any:
    return call.clid


@call_method("vpbx/get-inbound-call-dnid", "callDnid", "in")
def _inbound_dnid(ctx: Context, call: Call) -> Any:
    return call.dnid


@call_method("vpbx/get-inbound-call-answered-numbers", "callAnsweredNumbers", "in")
def _answered_numbers(ctx: Context, call: Call) -> Any:
    return list(call.answered_numbers_now(ctx.now))


@call_method("vpbx/get-inbound-call-first-answered-number", "callFirstAnsweredNumber", "in")
def _first_answered(ctx: Context, call: Call) -> Any:
    # The document is silent about an unanswered call; the sandbox answers null rather than an error.
    numbers = call.answered_numbers_now(ctx.now)
    return numbers[0] if numbers else None


@call_method("vpbx/get-outbound-call-internal-clid", "callInternalClid", "out")
def _internal_clid(ctx: Context, call: Call) -> Any:
    return call.internal_clid


@call_method("vpbx/get-outbound-call-external-clid", "callExternalClid", "out")
def _external_clid(ctx: Context, call: Call) -> Any:
    return call.clid


@call_method("vpbx/get-outbound-call-dnid", "callDnid", "out")
def _outbound_dnid(ctx: Context, call: Call) -> Any:
    return call.dnid


@call_method("vpbx/get-call-record-link", "callRecordLink")
def _record_link(ctx: Context, call: Call) -> Any:
    if not call.answered(ctx.now):
        # Not in the document, which lists only "Call not found": nothing was said, so nothing was recorded.
        raise MethodError("Record not found")
    return ctx.sandbox.faults.record_link or f"{ctx.base_url}/records/{call.vpbx_id}.wav"
