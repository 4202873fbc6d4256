"""The interpreter set so that work in worker threads does not stall the event loop.

Whichever thread holds the interpreter (the GIL), the loop waits for it:

- A full garbage collection walks every object the process tracks, holding the interpreter throughout, at about
  1.3 µs an object here: a 20,000-row import applied in a worker thread held the loop 94-207 ms that way
  (``bench/archive.py`` part 5). Most of those objects live as long as the process: what start-up built (~100,000)
  and what a library imported later brings (matplotlib ~64,000 with the first chart, openpyxl ~17,000). ``gc.freeze``
  moves them where no collection looks: start-up's when it ends, a library's after its first import. The objects
  that happen to be alive then are frozen with them: those freed by their reference count are freed all the same; a
  cycle among them is kept until the bot stops, once.
- A thread that lets go of the interpreter for a moment (each SQLite call does) may have to wait a whole switch
  interval for it while another thread computes. With Python's 5 ms, a query of the loop's took up to 75 ms while an
  import's file was read (``importing.parse``), and part 5's stalls reached 68-140 ms reading and 106-131 ms
  confirming in 3 runs of 8; with 1 ms, 11-23 and 4-7 ms in all 8.

What ``settle`` sets, ``restore`` undoes when the bot stops: one process may run bots one after another (the tests,
the benchmarks)."""

from __future__ import annotations

import gc
import sys
import threading

SWITCH_INTERVAL = 0.001  # seconds a thread computes before it must let a waiting one have the interpreter

_loaded: set[str] = set()  # the libraries whose first import was frozen
_lock = threading.Lock()  # a library may be imported in two worker threads at once
_PYTHONS_SWITCH_INTERVAL = sys.getswitchinterval()  # put back by restore


def settle() -> None:
    """At the end of start-up: what is alive now is out of the collector's sight, and threads take turns sooner."""
    gc.freeze()
    sys.setswitchinterval(SWITCH_INTERVAL)


def loaded(library: str) -> None:
    """Called after importing ``library`` (in any thread): what its first import built is frozen too."""
    with _lock:
        if library in _loaded:
            return
        _loaded.add(library)
    gc.freeze()


def restore() -> None:
    """At the bot's stop: what was frozen can be collected again, and the switch interval is Python's."""
    gc.unfreeze()
    sys.setswitchinterval(_PYTHONS_SWITCH_INTERVAL)
