"""Each chat's messages in a lane of its own: one task per chat sends what the chat is owed at that chat's Telegram
pace (``bot.ratelimit``: ~20 messages a minute in a group, and a 429's wait held for that chat alone). A group that
Telegram holds keeps only its own lane waiting. The poll, the live watch and the buttons only kick lanes, so another
chat's alert, a Call back's call and the next look at New-Tel wait for none.

Within a lane the most urgent work goes first: a user's ringing cards, the alerts, then the board, which starts only
once no alert waits.
Work begins once the chat's next turn of its pace is due (``free_in``): the lane waits for that turn itself, so
work still waiting gives it up to more urgent work kicked meanwhile; once the wait is over, its request queues in the
pace's order behind the turns other senders to the group took meanwhile. An alert never waits behind a board edit: it
takes the edit's turn, and the edit goes after it. A kick of work already waiting replaces it: each work reads what
is current when it runs (the alerts pending in storage, the board's latest state), so a burst of changes makes one
pass. Work that Telegram or the database failed is given up until the next kick (the next look of the live watch or
the poll); what it owes stays in storage."""

from __future__ import annotations

import asyncio
import enum
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable

from bot import jobs

Work = Callable[[], Awaitable[bool]]  # one kind of a chat's work: False when Telegram or the database failed
FreeIn = Callable[[int], float]  # seconds until a request to the chat goes to Telegram without waiting (0: now)
STOP_GRACE = 2.0  # seconds at shutdown for the request a lane has in flight to be answered


class Urgency(enum.IntEnum):
    """What goes first within a chat: the lower."""

    RINGING = 0  # a ringing card (bot.ringing): worth something only while the phone rings
    ALERTS = 1
    BOARD = 2


class Lanes:
    def __init__(self, free_in: FreeIn | None = None) -> None:
        """``free_in``: the Telegram pace every request to a chat keeps (``PatientRateLimiter.free_in``); None: none."""
        self._free_in = free_in
        self._wanted: defaultdict[int, dict[Urgency, Work]] = defaultdict(dict)  # chat id -> its work not begun
        self._running: dict[int, asyncio.Task[None]] = {}  # chat id -> its lane, while it has work
        self._kicked: dict[int, asyncio.Event] = {}  # chat id -> set by a kick: wakes its lane waiting for a turn
        self.stopping = False  # set at shutdown: a lane begins nothing more

    def kick(self, chat_id: int, urgency: Urgency, work: Work) -> None:
        """Have the chat's lane run ``work`` once the more urgent work is done; returns at once."""
        if self.stopping:
            return
        self._wanted[chat_id][urgency] = work
        if chat_id in self._running:
            self._kicked[chat_id].set()
        else:
            self._kicked[chat_id] = asyncio.Event()
            self._running[chat_id] = asyncio.create_task(self._run(chat_id), name=f"lane of chat {chat_id}")

    async def _turn(self, chat_id: int, urgency: Urgency) -> bool:
        """Wait for the chat's next turn, for work of ``urgency``; False when more urgent work was kicked meanwhile
        (it takes the turn) or the lanes stop. Once the wait is over the work begins even if the turn was taken
        meanwhile: other requests to the group take turns as they come, and its request queues behind those
        (``ChatPace``'s order) rather than wait for a free turn that a busy group may never have."""
        wanted, kicked = self._wanted[chat_id], self._kicked[chat_id]
        while self._free_in is not None and (wait := self._free_in(chat_id)) > 0:
            kicked.clear()
            try:
                await asyncio.wait_for(kicked.wait(), timeout=wait)
            except TimeoutError:
                return not self.stopping and min(wanted) >= urgency
            if self.stopping or min(wanted) < urgency:
                return False
        return True

    async def _run(self, chat_id: int) -> None:
        wanted = self._wanted[chat_id]
        try:
            while wanted and not self.stopping:
                if not await self._turn(chat_id, urgency := min(wanted)):
                    continue  # more urgent work first; this one stays wanted (or is replaced by a newer kick)
                work = wanted.pop(urgency)
                try:
                    done = await work()
                except Exception as error:
                    jobs.failed(f"Delivery to chat {chat_id}", error)
                    done = False
                if not done:
                    break  # the rest waits for the next kick
        finally:
            del self._running[chat_id], self._kicked[chat_id]
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
        for kicked in self._kicked.values():  # a lane waiting for its turn stops waiting
            kicked.set()
        if not self._running:
            return
        _, late = await asyncio.wait(list(self._running.values()), timeout=STOP_GRACE)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
