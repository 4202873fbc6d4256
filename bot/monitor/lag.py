"""The event loop's lag, and what held it.

A task sleeps LOOP_TICK at a time: how late it wakes is the loop's lag (the metrics' histogram). A watchdog thread
looks when a wake-up is LAG_WARN overdue: it takes the loop thread's stack then (``sys._current_frames``, only when
late), which names the code holding the loop. Garbage collections of GC_NOTED or longer are timed too, in whatever
thread they run: one holds the interpreter, and so the loop, however "off the loop" its thread is (``bot.interpreter``).
Each LAG_WINDOW the longest late wake-up is kept (the metrics' gauge) and, past LAG_WARN, logged as one WARNING with
what held the loop. All of it costs a wake-up of the task and one of the thread per tick, and a stack when late."""

from __future__ import annotations

import asyncio
import gc
import logging
import site
import sys
import sysconfig
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

LOOP_TICK = 0.05  # seconds between the task's wake-ups: a stall of 200 ms shows as a wake-up 150-200 ms late
LAG_WARN = 0.1  # a wake-up this late is logged (the longest of its window), with what held the loop
LAG_WINDOW = 60.0  # seconds: one line at most, the longest
GC_NOTED = 0.01  # a garbage collection this long is remembered, to be named if the loop was late meanwhile
COLLECTIONS_KEPT = 16
FRAMES_SHOWN = 3  # the innermost frames of the loop's stack, and the innermost of the bot's own code beyond them

_PROJECT = str(Path(__file__).resolve().parents[2]) + "/"  # the checkout, or site-packages when installed
_OURS = tuple(f"{_PROJECT}{package}/" for package in ("bot", "storage", "newtel"))
_LIBRARIES = tuple({*site.getsitepackages(), sysconfig.get_paths()["stdlib"]})  # shown from there on, without it


@dataclass(frozen=True, slots=True)
class _Collection:
    started: float  # time.monotonic()
    seconds: float
    generation: int
    thread: str


class LoopLag:
    """``run()`` is the task (cancelled to stop); ``longest`` the last full window's longest late wake-up."""

    def __init__(self, observe: Callable[[float], object]) -> None:
        self._observe = observe  # each wake-up's lag, in seconds
        self.longest = 0.0
        self._due = time.monotonic() + LOOP_TICK  # when the task is to wake next
        self._seen: tuple[float, str] | None = None  # (the wake-up it was overdue for, what the loop thread ran)
        self._collections: tuple[_Collection, ...] = ()  # the latest, replaced whole: any thread adds, the loop reads
        self._collecting = 0.0
        self._stopping = threading.Event()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        watchdog = threading.Thread(
            target=self._watch, args=(threading.get_ident(), loop), name="loop-watchdog", daemon=True
        )
        window_ends, longest, worst, over = time.monotonic() + LAG_WINDOW, 0.0, "", 0
        # The longest late wake-up's (due, woke, what the watchdog saw), told at the next wake-up: a collection that
        # held the loop is recorded by its own thread, which may give way to the loop before it does.
        latest: tuple[float, float, str | None] | None = None
        self._stopping.clear()
        gc.callbacks.append(self._collected)
        watchdog.start()
        try:
            while True:
                due = self._due = time.monotonic() + LOOP_TICK
                await asyncio.sleep(LOOP_TICK)
                woke = time.monotonic()
                if latest is not None:
                    worst, latest = self._held(*latest), None
                if woke >= window_ends:
                    self.longest = longest
                    _report(longest, over, worst)
                    window_ends, longest, worst, over = woke + LAG_WINDOW, 0.0, "", 0
                lag = max(0.0, woke - due)
                self._observe(lag)
                if lag > LAG_WARN:
                    over += 1
                    if lag > longest:
                        seen = self._seen
                        latest = (due, woke, seen[1] if seen is not None and seen[0] == due else None)
                longest = max(longest, lag)
        finally:  # cancelled (the window under way goes untold: a stop is no time for it)
            self._stopping.set()
            gc.callbacks.remove(self._collected)
            watchdog.join(timeout=1.0)

    def _watch(self, loop_thread: int, loop: asyncio.AbstractEventLoop) -> None:
        """The watchdog thread: when the task's wake-up is LAG_WARN overdue, what the loop's thread runs."""
        looked_for = 0.0
        while True:
            due = self._due
            wait = due + LAG_WARN - time.monotonic()
            if wait <= 0:
                if due != looked_for:
                    looked_for, self._seen = due, (due, _running(loop_thread, loop))
                wait = LOOP_TICK
            if self._stopping.wait(wait):
                return

    def _collected(self, phase: str, info: dict[str, Any]) -> None:
        """gc.callbacks: called in the collecting thread, which holds the interpreter meanwhile."""
        if phase == "start":
            self._collecting = time.monotonic()
            return
        took = time.monotonic() - self._collecting
        if took >= GC_NOTED:
            noted = _Collection(self._collecting, took, info["generation"], threading.current_thread().name)
            self._collections = (*self._collections[-COLLECTIONS_KEPT + 1 :], noted)

    def _held(self, due: float, woke: float, seen: str | None) -> str:
        """What held the loop between ``due`` and ``woke``: the loop thread's code the watchdog ``seen`` then, and the
        garbage collections meanwhile."""
        found = [] if seen is None else [seen]
        for collection in self._collections:
            if collection.started < woke and collection.started + collection.seconds > due:
                found.append(
                    f"a garbage collection (generation {collection.generation}) of"
                    f" {collection.seconds * 1000:.0f} ms in thread {collection.thread}"
                )
        return "; ".join(found) or "nothing seen (the process itself may have had no CPU)"


def _report(longest: float, over: int, worst: str) -> None:
    if longest > LAG_WARN:
        log.warning(
            "The event loop woke up to %.0f ms late in the last %.0f s (%d times over %.0f ms); then: %s",
            longest * 1000,
            LAG_WINDOW,
            over,
            LAG_WARN * 1000,
            worst,
        )


def _running(thread: int, loop: asyncio.AbstractEventLoop) -> str:
    """The loop thread's task and innermost frames, from another thread."""
    frame = sys._current_frames().get(thread)
    task = asyncio.current_task(loop)
    if frame is None:
        return "no frame"
    if task is None and frame.f_code.co_name == "select" and frame.f_code.co_filename.endswith("selectors.py"):
        # Its wait was over: back from select() it needs the interpreter (or a CPU) to go on.
        return "the loop between callbacks, back from select(): another thread held the interpreter, or no CPU"
    where = _frames(frame)
    return f"task {task.get_name()!r} at {where}" if task is not None else f"a callback at {where}"


def _frames(frame: FrameType | None) -> str:
    """``file:line in function``, innermost first: FRAMES_SHOWN of them, and the bot's own innermost beyond them when
    none of those is (a library's frames would hide which of the bot's calls it is)."""
    frames: list[tuple[str, bool]] = []
    while frame is not None:
        code = frame.f_code
        where = f"{_short(code.co_filename)}:{frame.f_lineno} in {code.co_name}"
        frames.append((where, code.co_filename.startswith(_OURS)))
        frame = frame.f_back
    shown = [where for where, _ in frames[:FRAMES_SHOWN]]
    if not any(ours for _, ours in frames[:FRAMES_SHOWN]):
        shown += next((["…", where] for where, ours in frames[FRAMES_SHOWN:] if ours), [])
    return " ← ".join(shown)


def _short(filename: str) -> str:
    for root in sorted((*_LIBRARIES, _PROJECT), key=len, reverse=True):
        if filename.startswith(root):
            return filename[len(root) :].lstrip("/")
    return filename
