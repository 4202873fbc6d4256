"""Each chat's messages in a lane of its own: one task per chat sends what the chat is owed at that chat's Telegram
pace (``bot.ratelimit``: ~20 messages a minute in a group, and a 429's wait held for that chat alone). A group that
Telegram holds keeps only its own lane waiting. The poll, the live watch and the buttons only kick lanes, so another
chat's alert, a Call back's call and the next look at New-Tel wait for none.

Within a lane the most urgent work goes first: the alerts, then the board, which starts only once no alert waits.
A kick of work already waiting replaces it: each work reads what is current when it runs (the alerts pending in
storage, the board's latest state), so a burst of changes makes one pass. Work that Telegram or the database failed
is given up until the next kick (the next look of the live watch or the poll); what it owes stays in storage."""

from __future__ import annotations

import asyncio
import enum
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable

from bot import jobs

Work = Callable[[], Awaitable[bool]]  # one kind of a chat's work: False when Telegram or the database failed
STOP_GRACE = 2.0  # seconds at shutdown for the request a lane has in flight to be answered


class Urgency(enum.IntEnum):
    """What goes first within a chat: the lower."""

    ALERTS = 0
    BOARD = 1


class Lanes:
    def __init__(self) -> None:
        self._wanted: defaultdict[int, dict[Urgency, Work]] = defaultdict(dict)  # chat id -> its work not begun
        self._running: dict[int, asyncio.Task[None]] = {}  # chat id -> its lane, while it has work
        self.stopping = False  # set at shutdown: a lane begins nothing more

    def kick(self, chat_id: int, urgency: Urgency, work: Work) -> None:
        """Have the chat's lane run ``work`` once the more urgent work is done; returns at once."""
        if self.stopping:
            return
        self._wanted[chat_id][urgency] = work
        if chat_id not in self._running:
            self._running[chat_id] = asyncio.create_task(self._run(chat_id), name=f"lane of chat {chat_id}")

    async def _run(self, chat_id: int) -> None:
        wanted = self._wanted[chat_id]
        try:
            while wanted and not self.stopping:
                work = wanted.pop(min(wanted))
                try:
                    done = await work()
                except Exception as error:
                    jobs.failed(f"Delivery to chat {chat_id}", error)
                    done = False
                if not done:
                    break  # the rest waits for the next kick
        finally:
            del self._running[chat_id]
            if not wanted:
                del self._wanted[chat_id]

    async def settled(self, chat_ids: Iterable[int] | None = None) -> None:
        """Once the lanes of ``chat_ids`` (None: all) have nothing left to do; tests and benchmarks wait on it."""
        chosen = None if chat_ids is None else set(chat_ids)
        while lanes := [task for chat, task in self._running.items() if chosen is None or chat in chosen]:
            await asyncio.wait(lanes)

    async def stop(self) -> None:
        """At shutdown: nothing more begins, and the request under way has STOP_GRACE seconds to be answered (a post
        cut short in flight may land unrecorded, and be posted again at the next start); then the lanes are
        cancelled."""
        self.stopping = True
        if not self._running:
            return
        _, late = await asyncio.wait(list(self._running.values()), timeout=STOP_GRACE)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
