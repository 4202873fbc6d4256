"""What every background job's round shares: a failure is logged and costs nothing else, and the next round tries
again (what is due stays due in storage)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

import newtel

if TYPE_CHECKING:
    from bot.context import App, Context

JobCallback = Callable[["Context"], Coroutine[Any, Any, None]]

log = logging.getLogger(__name__)


async def logged(what: str, round_: Awaitable[object]) -> None:
    """Await one round of a job; ``what`` names it in the log ("Phone check")."""
    try:
        await round_
    except newtel.NewtelError as error:  # New-Tel down, slow or refusing: nothing was learnt, nothing changes
        log.warning("%s failed (%s: %s)", what, type(error).__name__, error)
    except sqlite3.OperationalError as error:  # locked by another process, disk full: nothing was written
        log.warning("%s failed: the database cannot be written (%s)", what, error)
    except Exception:
        log.exception("%s failed", what)


def every(application: App, callback: JobCallback, interval: float, *, first: float, name: str) -> None:
    """Run ``callback`` every ``interval`` seconds: one round at a time, and rounds missed while one ran slow are not
    run back to back afterwards."""
    queue = application.job_queue
    assert queue is not None
    once: dict[str, Any] = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
    queue.run_repeating(callback, interval=interval, first=first, name=name, job_kwargs=once)
