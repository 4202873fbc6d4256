"""``call/*``: starting calls. These cost money and ring real phones, so they are never retried
once the request may have reached the server."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from newtel import _validation as check
from newtel._models import TEXT, NewtelModel
from newtel._transport import Answer, Transport

_SYNC_MARGIN = 15.0  # seconds beyond the ring timeout a synchronous password call may take to answer


class PasswordCall(NewtelModel):
    call_id: str
    pin: str | None = None
    status: str | None = None  # "answered", "busy", "no answer", "no such number", "not available"; None if async


class _PasswordCall(NewtelModel):
    call_details: PasswordCall


_SIMPLE_CALL = Answer.field("call/start-simple-call", "callId", TEXT)
_PASSWORD_CALL = Answer.model("call/start-password-call", _PasswordCall)
_VPBX_ID = Answer.field("call/get-vpbx-id", "vpbxId", TEXT)


class CallMethods:
    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def start_simple_call(
        self, *, src_number: str | Iterable[str], dst_number: str, caller_id: str, timeout: int | None = None
    ) -> str:
        """Ring ``src_number`` first, then connect ``dst_number``, showing ``caller_id``; returns the callId."""
        params: dict[str, Any] = {
            "callerId": check.caller_id(caller_id),
            "dstNumber": check.dst_number(dst_number),
            "srcNumber": check.src_numbers(src_number),
        }
        if (seconds := check.timeout(timeout)) is not None:
            params["timeout"] = seconds
        return await self._transport.request(_SIMPLE_CALL, params, read_only=False)

    async def start_password_call(
        self,
        *,
        dst_number: str,
        pin: str | None = None,
        asynchronous: bool = True,
        timeout: int | None = None,
    ) -> PasswordCall:
        """A CallPassword call whose caller number ends in ``pin``; synchronous calls wait for the outcome."""
        params: dict[str, Any] = {
            "async": check.async_flag(asynchronous),
            "dstNumber": check.dst_number(dst_number),
        }
        if (code := check.pin(pin)) is not None:
            params["pin"] = code
        if (seconds := check.timeout(timeout)) is not None:
            params["timeout"] = seconds
        wait = None if asynchronous else (seconds or 20) + _SYNC_MARGIN
        return (await self._transport.request(_PASSWORD_CALL, params, read_only=False, timeout=wait)).call_details

    async def get_vpbx_id(self, call_id: str) -> str:
        """The virtual PBX id of a call started through the API."""
        return await self._transport.request(_VPBX_ID, {"callId": check.call_id(call_id)}, read_only=True)
