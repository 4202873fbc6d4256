"""What every background job's round shares: a failure is logged and costs nothing else, and the next round tries
again (what is due stays due in storage)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

import newtel
from storage import DatabaseBusy

if TYPE_CHECKING:
    from bot.context import App, Context

JobCallback = Callable[["Context"], Coroutine[Any, Any, None]]

log = logging.getLogger(__name__)


async def logged(what: str, round_: Awaitable[object]) -> None:
    """Await one round of a job; ``what`` names it in the log ("Phone check")."""
    try:
        await round_
    except Exception as error:
        failed(what, error)


def failed(what: str, error: Exception) -> None:
    """Log the failure of a round (or of a step of one: the poll's, the live watch's), the same way for every job."""
    if isinstance(error, newtel.NewtelError):  # New-Tel down, slow or refusing: nothing was learnt, nothing changes
        log.warning("%s failed (%s: %s)", what, type(error).__name__, error)
    elif isinstance(error, DatabaseBusy):  # locked by another process: the storage warns once an episode
        log.debug("%s waits for the database (%s)", what, error)
    elif isinstance(error, sqlite3.OperationalError):  # disk full, say: nothing was written
        log.warning("%s failed: the database cannot be written (%s)", what, error)
    else:
        log.error("%s failed", what, exc_info=error)


def every(application: App, callback: JobCallback, interval: float, *, first: float, name: str) -> None:
    """Run ``callback`` every ``interval`` seconds: one round at a time, and rounds missed while one ran slow are not
    run back to back afterwards."""
    queue = application.job_queue
    assert queue is not None
    once: dict[str, Any] = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
    queue.run_repeating(callback, interval=interval, first=first, name=name, job_kwargs=once)
