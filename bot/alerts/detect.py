"""Deciding, from one ``vpbx/get-calls`` answer, what the poll must record: pure functions, no I/O."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from newtel import Call
from storage import Chat, MissedCall


@dataclass(frozen=True)
class Answered:
    """An inbound call somebody answered: it closes the customer's older open alerts."""

    clid: str
    answered_at: int


def missed_calls(calls: Iterable[Call], since: int, known: Collection[str] = ()) -> list[MissedCall]:
    """Inbound calls that ended unanswered at or after ``since`` (Unix seconds), oldest first, except the
    ``known`` ones (those of the first start's history that ended in that very second)."""
    # A loop rather than a comprehension: each datetime becomes a timestamp once (10,000 calls: it adds up).
    found: list[MissedCall] = []
    for call in calls:
        if not call.is_missed or call.end_time is None or call.vpbx_id in known:
            continue
        ended = call.end_time.timestamp()
        if ended >= since:
            started, ended_at = int(call.start_time.timestamp()), int(ended)
            found.append(MissedCall(call.vpbx_id, call.clid, call.dnid, started_at=started, ended_at=ended_at))
    found.sort(key=lambda missed: (missed.started_at, missed.vpbx_id))
    return found


def answered_inbound(calls: Iterable[Call], since: int) -> list[Answered]:
    found: list[Answered] = []
    for call in calls:
        if call.is_inbound and call.is_answered and call.answer_time is not None:
            answered = call.answer_time.timestamp()
            if answered > since:
                found.append(Answered(call.clid, int(answered)))
    return found


def per_chat(missed: Sequence[MissedCall], chats: Iterable[Chat], since: dict[int, int]) -> dict[int, list[MissedCall]]:
    """The missed calls each subscribed chat should hear of: its number filter matches the number the
    customer dialled, and the call ended after the chat subscribed (``since``)."""
    result: dict[int, list[MissedCall]] = defaultdict(list)
    for chat in chats:
        start = since.get(chat.chat_id, 0)
        result[chat.chat_id] = [m for m in missed if m.ended_at >= start and chat.wants(m.dnid or "")]
    return dict(result)


def baseline(calls: Iterable[Call], now: int) -> tuple[int, list[str]]:
    """The first start's baseline: the latest end time in the history (New-Tel's own clock) and the calls
    that ended in that second, which are history too."""
    ended = [(int(call.end_time.timestamp()), call.vpbx_id) for call in calls if call.end_time is not None]
    if not ended:
        return now, []
    newest = max(end for end, _ in ended)
    return newest, [vpbx_id for end, vpbx_id in ended if end == newest]
