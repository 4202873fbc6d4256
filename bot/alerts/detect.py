"""Deciding, from the calls the archive took in (its pending changes), what the alerts must record: pure
functions, no I/O."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from storage import CallRecord, Chat, MissedCall


@dataclass(frozen=True)
class Answered:
    """An inbound call somebody answered: it closes the customer's older open alerts."""

    clid: str
    answered_at: int


def missed_calls(calls: Iterable[CallRecord], since: int, known: Collection[str] = ()) -> list[MissedCall]:
    """Inbound calls that ended unanswered at or after ``since`` (Unix seconds), oldest first, except the
    ``known`` ones (those of the first start's history that ended in that very second)."""
    found = [
        MissedCall(call.vpbx_id, call.clid, call.dnid, started_at=call.started_at, ended_at=call.ended_at)
        for call in calls
        if call.is_missed and call.ended_at is not None and call.ended_at >= since and call.vpbx_id not in known
    ]
    found.sort(key=lambda missed: (missed.started_at, missed.vpbx_id))
    return found


def answered_inbound(calls: Iterable[CallRecord], since: int) -> list[Answered]:
    return [
        Answered(call.clid, call.answered_at)
        for call in calls
        if call.direction == "in" and call.status == "answered" and call.answered_at is not None
        and call.answered_at > since
    ]  # fmt: skip


def per_chat(missed: Sequence[MissedCall], chats: Iterable[Chat], since: dict[int, int]) -> dict[int, list[MissedCall]]:
    """The missed calls each subscribed chat should hear of: its number filter matches the number the
    customer dialled, the call ended after the chat subscribed (``since``) and it rang at least the chat's
    ``min_ring`` seconds (a shorter ring is a customer who hung up at once: noise, not a lead)."""
    result: dict[int, list[MissedCall]] = defaultdict(list)
    for chat in chats:
        start = since.get(chat.chat_id, 0)
        result[chat.chat_id] = [
            m for m in missed if m.ended_at >= start and chat.wants(m.dnid or "") and ring_seconds(m) >= chat.min_ring
        ]
    return dict(result)


def ring_seconds(missed: MissedCall) -> int:
    """How long a missed call rang: from its start to its end (nobody answered it)."""
    return max(0, missed.ended_at - missed.started_at)


def baseline(calls: Iterable[CallRecord], now: int) -> tuple[int, list[str]]:
    """The first start's baseline: the latest end time in the history (New-Tel's own clock) and the calls
    that ended in that second, which are history too."""
    ended = [(call.ended_at, call.vpbx_id) for call in calls if call.ended_at is not None]
    if not ended:
        return now, []
    newest = max(end for end, _ in ended)
    return newest, [vpbx_id for end, vpbx_id in ended if end == newest]
