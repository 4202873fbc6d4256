"""A call in the virtual PBX and how it looks at a given moment.

A call is stored as its planned timeline (start, the moment the company side picks up, the moment the far
side answers, the end). Its state at any instant is computed from those timestamps on demand, so a call
"progresses" without a task or timer of its own and 50,000 of them cost nothing while idle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Direction = Literal["in", "out"]
Phase = Literal["ringing", "answered", "transferred", "ended"]
DAY = 86_400


@dataclass(slots=True, eq=False)
class Call:
    vpbx_id: str
    direction: Direction
    clid: str  # number A
    dnid: str  # number B
    start: float
    answer: float | None  # when the call is (or will be) answered; None: never
    end: float | None  # when it ends (may lie in the future); None: goes on until someone sets it
    answered_numbers: tuple[str, ...] = ()  # inbound: internal numbers that answered, in order
    internal_clid: str | None = None  # outbound: the internal number that placed it
    ringing_numbers: tuple[str, ...] = ()  # internal numbers that ring before the company side picks up
    connect: float | None = None  # when the company side picks up: ringing stops, talking starts
    call_id: str | None = None  # the 16-digit id given by call/start-simple-call
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. the timeout a caller asked for
    # Inbound, two answered numbers: when the second takes the call over (None: both from the answer on).
    transfer: float | None = None

    def started(self, now: float) -> bool:
        return self.start <= now

    def active(self, now: float) -> bool:
        return self.end is None or now < self.end

    def answered(self, now: float) -> bool:
        return self.answer is not None and self.answer <= now

    def status(self, now: float) -> str:
        return "answered" if self.answered(now) else "no answer"

    def answer_time(self, now: float) -> int | None:
        return int(self.answer) if self.answer is not None and self.answer <= now else None

    def end_time(self, now: float) -> int | None:
        return int(self.end) if self.end is not None and self.end <= now else None

    def answered_numbers_now(self, now: float) -> tuple[str, ...]:
        if not self.answered(now):
            return ()
        if self.transfer is not None and now < self.transfer:
            return self.answered_numbers[:1]
        return self.answered_numbers

    def phase(self, now: float) -> Phase | None:
        """Where the call is at ``now`` (None: not started yet); a change of phase is what the sandbox pushes."""
        if not self.started(now):
            return None
        if not self.active(now):
            return "ended"
        if not self.answered(now):
            return "ringing"
        return "transferred" if len(self.answered_numbers_now(now)) > 1 else "answered"

    def ringing_now(self, now: float) -> tuple[str, ...]:
        if not self.started(now) or not self.active(now) or (self.connect is not None and self.connect <= now):
            return ()
        return self.ringing_numbers

    def talking_now(self, now: float) -> tuple[str, ...]:
        """Internal numbers busy with this call: the answering one inbound, the caller outbound."""
        if self.connect is None or now < self.connect or not self.active(now):
            return ()
        if self.direction == "in":
            return self.answered_numbers_now(now)[-1:]  # after a transfer only the last one still talks
        return (self.internal_clid,) if self.internal_clid else ()

    def to_json(self, now: float) -> dict[str, Any]:
        """The object of the document's vpbx/get-calls table, as seen at ``now``."""
        return {
            "vpbxId": self.vpbx_id,
            "active": self.active(now),
            "direction": self.direction,
            "clid": self.clid,
            "dnid": self.dnid,
            "status": self.status(now),
            "startTime": int(self.start),
            "answerTime": self.answer_time(now),
            "endTime": self.end_time(now),
        }
