"""The garbage collector kept from stalling the event loop.

A full collection (generation 2) walks every object the process tracks, holding the interpreter, and so the event
loop, whichever thread runs it: a 20,000-row import applied in a worker thread held the loop 94-207 ms that way
(``bench/archive.py`` part 5), at about 1.3 µs an object. Most of those objects live as long as the process: what
start-up built (~100,000) and what a library imported later brings (matplotlib ~64,000 with the first chart, openpyxl
~17,000). ``gc.freeze`` moves them where no collection looks: start-up's at the end of post_init, a library's after its
first import. The objects that happen to be alive then are frozen with them: those freed by their reference count are
freed all the same; a cycle among them is kept until the bot stops, once. The bot's stop undoes it, since one process
may run bots one after another (the tests, the benchmarks)."""

from __future__ import annotations

import gc
import threading

_loaded: set[str] = set()  # the libraries whose first import was frozen
_lock = threading.Lock()  # a library may be imported in two worker threads at once


def freeze() -> None:
    """What is alive now (the end of start-up) is out of the collector's sight."""
    gc.freeze()


def loaded(library: str) -> None:
    """Called after importing ``library`` (in any thread): what its first import built is frozen too."""
    with _lock:
        if library in _loaded:
            return
        _loaded.add(library)
    gc.freeze()


def thaw() -> None:
    """At the bot's stop: what was frozen can be collected again."""
    gc.unfreeze()
