"""Deciding, from one ``vpbx/get-calls`` answer, what the poll must record: pure functions, no I/O."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from newtel import Call
from storage import Chat, MissedCall


@dataclass(frozen=True)
class Answered:
    """An inbound call somebody answered: it closes the customer's older open alerts."""

    clid: str
    answered_at: int


def missed_calls(calls: Iterable[Call], since: int) -> list[MissedCall]:
    """Inbound calls that ended unanswered after ``since`` (Unix seconds), oldest first."""
    found = [
        MissedCall(
            vpbx_id=call.vpbx_id,
            clid=call.clid,
            dnid=call.dnid,
            started_at=int(call.start_time.timestamp()),
            ended_at=int(call.end_time.timestamp()),
        )
        for call in calls
        if call.is_missed and call.end_time is not None and call.end_time.timestamp() > since
    ]
    found.sort(key=lambda missed: (missed.started_at, missed.vpbx_id))
    return found


def answered_inbound(calls: Iterable[Call], since: int) -> list[Answered]:
    return [
        Answered(call.clid, int(call.answer_time.timestamp()))
        for call in calls
        if call.direction == "in" and call.answer_time is not None and call.answer_time.timestamp() > since
    ]


def per_chat(missed: Sequence[MissedCall], chats: Iterable[Chat], since: dict[int, int]) -> dict[int, list[MissedCall]]:
    """The missed calls each subscribed chat should hear of: its number filter matches the number the
    customer dialled, and the call ended after the chat subscribed (``since``)."""
    result: dict[int, list[MissedCall]] = defaultdict(list)
    for chat in chats:
        start = since.get(chat.chat_id, 0)
        result[chat.chat_id] = [m for m in missed if m.ended_at > start and chat.wants(m.dnid or "")]
    return dict(result)


def newest_end(calls: Iterable[Call]) -> int | None:
    """The latest end time in the history: the first start's baseline, in New-Tel's own clock."""
    ends = [int(call.end_time.timestamp()) for call in calls if call.end_time is not None]
    return max(ends) if ends else None
