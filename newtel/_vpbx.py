"""``vpbx/*``: calls of the last 24 hours in the virtual PBX and the state of its internal numbers."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import pydantic
from pydantic import AnyHttpUrl, ConfigDict, TypeAdapter
from pydantic.alias_generators import to_camel
from pydantic.dataclasses import dataclass

from newtel import _validation as check
from newtel._models import TEXT, TEXTS, TIME, TIME_OR_NONE, NewtelModel, parse_model
from newtel._transport import Answer, Transport

T = TypeVar("T")
M = TypeVar("M", bound=NewtelModel)
logger = logging.getLogger("newtel")

IN, OUT = "in", "out"
ANSWERED, NO_ANSWER = "answered", "no answer"


@dataclass(frozen=True, slots=True, config=ConfigDict(alias_generator=to_camel, validate_by_name=True, extra="ignore"))
class Call:
    """One call of the virtual PBX. A slotted dataclass rather than a model: the poll holds a whole 24-hour
    history, and at 50,000 calls this is ~360 bytes a call instead of ~1,400 (unknown fields are ignored)."""

    vpbx_id: str
    active: bool
    direction: str  # "in" or "out"; kept open so a new value does not break a whole poll
    clid: str  # number A, the caller
    dnid: str  # number B, the number dialled
    status: str  # "answered" or "no answer"
    start_time: datetime
    answer_time: datetime | None = None
    end_time: datetime | None = None

    # What a call is, said once: the bot asks these, never the raw strings.
    @property
    def is_inbound(self) -> bool:
        return self.direction == IN

    @property
    def is_outbound(self) -> bool:
        return self.direction == OUT

    @property
    def is_answered(self) -> bool:
        """Somebody answered it (New-Tel's status; the call may still be going on)."""
        return self.status == ANSWERED

    @property
    def is_missed(self) -> bool:
        """An inbound call that has ended with nobody answering it."""
        return self.direction == IN and not self.active and self.status == NO_ANSWER

    @property
    def talk_seconds(self) -> int | None:
        if self.answer_time is None or self.end_time is None:
            return None
        return int((self.end_time - self.answer_time).total_seconds())

    @property
    def ring_seconds(self) -> int | None:
        until = self.answer_time or self.end_time
        return None if until is None else int((until - self.start_time).total_seconds())


_CALL: TypeAdapter[Call] = TypeAdapter(Call)
_NUMBERS = ("clid", "dnid")
_REMEMBERED = 10_000  # malformed rows whose report is remembered; beyond that the oldest may be reported again
_EXAMPLES = 3  # malformed rows described in one log line


def _call(row: object) -> Call:
    """One call on its own, when the fast parse of a whole answer refused it."""
    try:
        return _CALL.validate_python(row)
    except pydantic.ValidationError:
        if not isinstance(row, dict):
            raise
        # The document says clid and dnid are strings. An integer such as 79161234567 can only mean those
        # digits, so it is taken as them rather than losing the call; a float or a bool is still refused.
        numbers = {k: str(v) for k in _NUMBERS if type(v := row.get(k)) is int}
        if not numbers:
            raise
    return _CALL.validate_python({**row, **numbers})


def _vpbx_id(row: object) -> str | None:
    vpbx_id = row.get("vpbxId") if isinstance(row, dict) else None
    return vpbx_id if isinstance(vpbx_id, str) and vpbx_id else None


def _row_key(row: object) -> int:
    """What remembers that ``row`` was reported: its vpbxId, or else its content."""
    vpbx_id = _vpbx_id(row)
    return hash(vpbx_id if vpbx_id is not None else json.dumps(row, sort_keys=True))


def _problem(row: object, error: pydantic.ValidationError) -> str:
    """What is wrong with ``row``, without its values (they are people's phone numbers)."""
    first = error.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"]) or "the row"
    return f"{(_vpbx_id(row) or 'a call without a vpbxId')[:40]} ({where}: {first['msg']})"


def _skipping(method: str, model: type[M], key: str) -> Callable[[dict[str, Any]], M]:
    """A fallback for ``model_decoder`` that drops malformed calls from the list ``key`` instead of failing the
    whole answer (one bad row would otherwise stop every poll until it leaves the 24-hour history). Each bad row
    is logged once, not at every poll."""
    reported: dict[int, None] = {}  # an insertion-ordered set, oldest first

    def build(data: dict[str, Any]) -> M:
        rows = data.get(key)
        if not isinstance(rows, list):
            return parse_model(model, data, method)  # the answer itself is off: the usual ResponseError
        calls, news = [], []
        for row in rows:
            try:
                calls.append(_call(row))
            except pydantic.ValidationError as error:
                if (row_key := _row_key(row)) not in reported:
                    reported[row_key] = None
                    news.append(_problem(row, error))
        if news:
            while len(reported) > _REMEMBERED:
                del reported[next(iter(reported))]
            more = f"; and {len(news) - _EXAMPLES} more" if len(news) > _EXAMPLES else ""
            logger.warning("%s: skipped malformed calls: %s%s", method, "; ".join(news[:_EXAMPLES]), more)
        return model.model_validate({**data, key: calls})

    return build


def _single(method: str, model: type[M], key: str) -> Callable[[dict[str, Any]], M]:
    """A fallback for ``model_decoder`` of one call: numbers coerced like a list's, anything else an error."""

    def build(data: dict[str, Any]) -> M:
        try:
            call = _call(data.get(key))
        except pydantic.ValidationError:
            return parse_model(model, data, method)  # raises the usual ResponseError
        return model.model_validate({**data, key: call})

    return build


class _Calls(NewtelModel):
    calls: list[Call]


class _ActiveCalls(NewtelModel):
    active_calls: list[Call]


class _CallDetails(NewtelModel):
    call_details: Call


# The poll's big answer is parsed straight from the bytes; only an answer that refuses goes row by row.
_CALLS = Answer.model("vpbx/get-calls", _Calls, _skipping("vpbx/get-calls", _Calls, "calls"))
_ACTIVE_CALLS = Answer.model(
    "vpbx/get-active-calls", _ActiveCalls, _skipping("vpbx/get-active-calls", _ActiveCalls, "activeCalls")
)
_CALL_DETAILS = Answer.model(
    "vpbx/get-call-details", _CallDetails, _single("vpbx/get-call-details", _CallDetails, "callDetails")
)
# The single-property answers.
_CALLS_LIST = Answer.field("vpbx/get-calls-list", "callsList", TEXTS)
_ACTIVE_CALLS_LIST = Answer.field("vpbx/get-active-calls-list", "activeCallsList", TEXTS)
_CALL_DIRECTION = Answer.field("vpbx/get-call-direction", "callDirection", TEXT)
_CALL_STATUS = Answer.field("vpbx/get-call-status", "callStatus", TEXT)
_CALL_START_TIME = Answer.field("vpbx/get-call-start-time", "callStartTime", TIME)
_CALL_ANSWER_TIME = Answer.field("vpbx/get-call-answer-time", "callAnswerTime", TIME_OR_NONE)
_CALL_END_TIME = Answer.field("vpbx/get-call-end-time", "callEndTime", TIME_OR_NONE)
_INBOUND_CALL_CLID = Answer.field("vpbx/get-inbound-call-clid", "callClid", TEXT)
_INBOUND_CALL_DNID = Answer.field("vpbx/get-inbound-call-dnid", "callDnid", TEXT)
_ANSWERED_NUMBERS = Answer.field("vpbx/get-inbound-call-answered-numbers", "callAnsweredNumbers", TEXTS)
_FIRST_ANSWERED_NUMBER = Answer.field("vpbx/get-inbound-call-first-answered-number", "callFirstAnsweredNumber", TEXT)
_OUTBOUND_CALL_INTERNAL_CLID = Answer.field("vpbx/get-outbound-call-internal-clid", "callInternalClid", TEXT)
_OUTBOUND_CALL_EXTERNAL_CLID = Answer.field("vpbx/get-outbound-call-external-clid", "callExternalClid", TEXT)
_OUTBOUND_CALL_DNID = Answer.field("vpbx/get-outbound-call-dnid", "callDnid", TEXT)
_CALL_RECORD_LINK = Answer.field("vpbx/get-call-record-link", "callRecordLink", TEXT)
_REGISTERED_NUMBERS_LIST = Answer.field("vpbx/get-registered-numbers-list", "registeredNumbersList", TEXTS)
_RINGING_NUMBERS_LIST = Answer.field("vpbx/get-ringing-numbers-list", "ringingNumbersList", TEXTS)
_ACTIVE_NUMBERS_LIST = Answer.field("vpbx/get-active-numbers-list", "activeNumbersList", TEXTS)


class VpbxMethods:
    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def _ask(self, answer: Answer[T], vpbx_id: str | None = None) -> T:
        params = None if vpbx_id is None else {"vpbxId": check.vpbx_id(vpbx_id)}
        return await self._transport.request(answer, params, read_only=True)

    async def get_calls(self) -> list[Call]:
        """Every call of the last 24 hours."""
        return (await self._transport.request(_CALLS, read_only=True)).calls

    async def get_calls_list(self) -> list[str]:
        return await self._ask(_CALLS_LIST)

    async def get_active_calls(self) -> list[Call]:
        return (await self._transport.request(_ACTIVE_CALLS, read_only=True)).active_calls

    async def get_active_calls_list(self) -> list[str]:
        return await self._ask(_ACTIVE_CALLS_LIST)

    async def get_call_details(self, vpbx_id: str) -> Call:
        params = {"vpbxId": check.vpbx_id(vpbx_id)}
        return (await self._transport.request(_CALL_DETAILS, params, read_only=True)).call_details

    async def get_call_direction(self, vpbx_id: str) -> str:
        return await self._ask(_CALL_DIRECTION, vpbx_id)

    async def get_call_status(self, vpbx_id: str) -> str:
        return await self._ask(_CALL_STATUS, vpbx_id)

    async def get_call_start_time(self, vpbx_id: str) -> datetime:
        return await self._ask(_CALL_START_TIME, vpbx_id)

    async def get_call_answer_time(self, vpbx_id: str) -> datetime | None:
        """None when the call was not answered."""
        return await self._ask(_CALL_ANSWER_TIME, vpbx_id)

    async def get_call_end_time(self, vpbx_id: str) -> datetime | None:
        """None while the call is active."""
        return await self._ask(_CALL_END_TIME, vpbx_id)

    async def get_inbound_call_clid(self, vpbx_id: str) -> str:
        return await self._ask(_INBOUND_CALL_CLID, vpbx_id)

    async def get_inbound_call_dnid(self, vpbx_id: str) -> str:
        return await self._ask(_INBOUND_CALL_DNID, vpbx_id)

    async def get_inbound_call_answered_numbers(self, vpbx_id: str) -> list[str]:
        """Internal numbers that answered, in the order they answered."""
        return await self._ask(_ANSWERED_NUMBERS, vpbx_id)

    async def get_inbound_call_first_answered_number(self, vpbx_id: str) -> str:
        return await self._ask(_FIRST_ANSWERED_NUMBER, vpbx_id)

    async def get_outbound_call_internal_clid(self, vpbx_id: str) -> str:
        return await self._ask(_OUTBOUND_CALL_INTERNAL_CLID, vpbx_id)

    async def get_outbound_call_external_clid(self, vpbx_id: str) -> str:
        return await self._ask(_OUTBOUND_CALL_EXTERNAL_CLID, vpbx_id)

    async def get_outbound_call_dnid(self, vpbx_id: str) -> str:
        return await self._ask(_OUTBOUND_CALL_DNID, vpbx_id)

    async def get_call_record_link(self, vpbx_id: str) -> AnyHttpUrl:
        """The link to the call's recording: an http(s) URL on the hosts links may lead to (``NewtelClient``'s
        ``link_hosts``), else ``LinkRefused`` (a ``RecordNotFound``)."""
        link = await self._ask(_CALL_RECORD_LINK, vpbx_id)
        return self._transport.links.link(link, _CALL_RECORD_LINK.method)

    async def get_registered_numbers_list(self) -> list[str]:
        """Internal numbers with a registered SIP account (online)."""
        return await self._ask(_REGISTERED_NUMBERS_LIST)

    async def get_ringing_numbers_list(self) -> list[str]:
        return await self._ask(_RINGING_NUMBERS_LIST)

    async def get_active_numbers_list(self) -> list[str]:
        """Internal numbers in a conversation right now."""
        return await self._ask(_ACTIVE_NUMBERS_LIST)
