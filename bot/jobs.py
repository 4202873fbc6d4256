"""What every background job's round shares: a failure is logged and costs nothing else, and the next round tries
again (what is due stays due in storage)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable

import newtel

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
