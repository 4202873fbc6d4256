"""Injected failures: the fake answers the next matching requests with an error instead of handling them."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# Descriptions the real Bot API uses for these statuses, so the bot's error mapping sees the real shape.
_DESCRIPTIONS = {
    400: "Bad Request: injected fault",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
    429: "Too Many Requests: retry after {retry_after}",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
# What a rule names to answer a file's download (GET /file/bot<token>/<path>) instead: its status, and a redirect's
# Location to the file itself.
DOWNLOAD = "file download"


@dataclass
class FaultRule:
    status: int
    remaining: int
    methods: frozenset[str] | None  # None: every method except getUpdates (and downloads)
    retry_after: float
    description: str
    migrate_to_chat_id: int | None = None  # the answer for a group that became a supergroup
    chat_id: int | None = None  # only requests to this chat (None: any)
    taken: bool = False  # the request is carried out, then the connection drops before the answer (``lose_answer``)
    held: bool = False  # ...and the answer is held back until the fake closes (``hold_answer``)

    def matches(self, method: str, chat_id: Any = None) -> bool:
        if self.remaining <= 0 or (self.chat_id is not None and str(chat_id) != str(self.chat_id)):
            return False
        if self.methods is None:
            return method not in ("getUpdates", DOWNLOAD)
        return method in self.methods

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.status, "description": self.description}
        if self.status == 429:
            body["parameters"] = {"retry_after": self.retry_after}
        if self.migrate_to_chat_id is not None:
            body["parameters"] = {"migrate_to_chat_id": self.migrate_to_chat_id}
        return body


class Faults:
    """``fail()`` queues rules; each matching request consumes one use of the oldest live rule.

    ``methods=None`` means every method *except* ``getUpdates``: the bot's next long poll usually reaches
    the server before its reply does, and would otherwise silently eat a fault meant for the reply.
    Name ``"getUpdates"`` explicitly to break polling, and ``DOWNLOAD`` to break a file's download.
    """

    def __init__(self) -> None:
        self.latency: float = 0.0  # seconds added before every request is handled
        self._rules: list[FaultRule] = []

    def fail(
        self,
        status: int = 500,
        times: int = 1,
        methods: Iterable[str] | str | None = None,
        retry_after: float = 1,
        description: str | None = None,
        migrate_to_chat_id: int | None = None,
        chat_id: int | None = None,
    ) -> FaultRule:
        """The next ``times`` requests of ``methods`` (to ``chat_id`` when given) answered ``status``."""
        if isinstance(methods, str):
            methods = {methods}
        text = description or _DESCRIPTIONS.get(status, f"Error {status}")
        rule = FaultRule(
            status=status,
            remaining=times,
            methods=frozenset(methods) if methods is not None else None,
            retry_after=retry_after,
            description=text.format(retry_after=retry_after),
            migrate_to_chat_id=migrate_to_chat_id,
            chat_id=chat_id,
        )
        self._rules.append(rule)
        return rule

    def lose_answer(self, times: int = 1, methods: Iterable[str] | str | None = None) -> FaultRule:
        """The next matching requests are carried out (the message is posted), then the connection closes before
        the answer: the client cannot tell whether Telegram took them."""
        rule = self.fail(status=200, times=times, methods=methods)
        rule.taken = True
        return rule

    def hold_answer(self, times: int = 1, methods: Iterable[str] | str | None = None) -> FaultRule:
        """The next matching requests are carried out and their answers never come (the connection stays open
        until the fake closes): Telegram's answer in flight when the bot's process is killed."""
        rule = self.lose_answer(times, methods)
        rule.held = True
        return rule

    def clear(self) -> None:
        self._rules.clear()
        self.latency = 0.0

    @property
    def pending(self) -> list[FaultRule]:
        return [rule for rule in self._rules if rule.remaining > 0]

    def take(self, method: str, chat_id: Any = None) -> FaultRule | None:
        """Consume one use of the first rule matching ``method`` (and ``chat_id``); used by the server per request."""
        for rule in self._rules:
            if rule.matches(method, chat_id):
                rule.remaining -= 1
                return rule
        return None


class GroupFloodLimit:
    """Telegram's limit on a group: past ``per_minute`` messages sent or edited in any 60 s, a request is refused
    with 429 and the wait until the oldest of them is a minute old. Refused requests do not count."""

    WINDOW = 60.0

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._taken: dict[int | str, deque[float]] = defaultdict(deque)  # chat id -> when its messages went

    def refuse(self, method: str, chat_id: Any, now: float) -> float | None:
        """The seconds to wait when this request is over the limit (it is then not counted), else None."""
        if not method.startswith(("send", "edit")) or not _is_group(chat_id):
            return None
        taken = self._taken[chat_id]
        while taken and taken[0] <= now - self.WINDOW:
            taken.popleft()
        if len(taken) >= self.per_minute:
            return taken[0] + self.WINDOW - now
        taken.append(now)
        return None


def _is_group(chat_id: Any) -> bool:
    """A group's or channel's id (negative) or username (``@name``), as the Bot API takes them."""
    if isinstance(chat_id, str) and chat_id.startswith("@"):
        return True
    try:
        return int(chat_id) < 0
    except (TypeError, ValueError):
        return False
