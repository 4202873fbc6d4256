"""One bot per database: a lock on ``<database>.lock`` beside it, held for the life of the process.

flock(2) rather than a pid file: the kernel lets go when the process ends, however it ends (``kill -9`` included),
so a lock file left behind never blocks a start; it only says who held it last. ``restore`` takes the same lock, so
it never swaps the file under a running bot; ``backup`` does not need it (it reads beside the bot).
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from storage._db import owned_like_directory

_READ_LIMIT = 1024  # of the holder's line


class AlreadyRunning(RuntimeError):
    """Another process holds the database's lock. ``holder`` is its own line: "pid 1234 on host-x since …"."""

    def __init__(self, database: Path, holder: str) -> None:
        super().__init__(f"{database}: {holder}")
        self.database = database
        self.holder = holder


@dataclass
class InstanceLock:
    """Held until ``release()`` or the end of the process."""

    path: Path
    _fd: int

    def release(self) -> None:
        os.close(self._fd)  # the file stays: removing it would race with a process that just opened it


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


def hold(database: Path, now: float | None = None) -> InstanceLock:
    """Take the lock of ``database`` (which need not exist yet), or raise ``AlreadyRunning``; an OSError when the
    lock file cannot be created (no such directory, no right to write there)."""
    path = lock_path(database)
    try:
        fd, made = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644), True  # not inherited (PEP 446)
    except FileExistsError:
        fd, made = os.open(path, os.O_RDWR | os.O_CREAT), False
    try:
        if made:  # by a restore run as root, say: it stays the bot's to lock
            owned_like_directory(fd, path.parent)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, _READ_LIMIT, 0).decode(errors="replace").strip()
        os.close(fd)
        # Empty for the instant between the holder's flock and its write.
        raise AlreadyRunning(database, holder or "another process, starting up") from None
    except BaseException:
        os.close(fd)
        raise
    since = datetime.fromtimestamp(time.time() if now is None else now, UTC).strftime("%Y-%m-%d %H:%M UTC")
    line = f"pid {os.getpid()} on {socket.gethostname()} since {since}\n"
    os.ftruncate(fd, 0)
    os.pwrite(fd, line.encode(), 0)
    return InstanceLock(path, fd)
