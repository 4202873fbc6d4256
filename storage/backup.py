"""Backups of the bot's SQLite database, taken while the bot runs, and their restore.

A backup is SQLite's online backup API, ``STEP_PAGES`` pages a step, inside one read transaction on the source. Under
WAL the bot goes on writing meanwhile, and the copy is the database as it stood when the backup began: without that
held snapshot the API would start over after every write of another connection, and a busy bot's backup would never
end. The copy is written to a temporary file beside its destination (``<name>.incomplete-<pid>``, flock'ed while it
is written) and renamed there only once ``PRAGMA integrity_check`` passes on it, so a destination never holds a
partial copy; the next backup into that directory removes what a killed one left. A backup is one self-contained
file (rollback journal, no -wal beside it), openable as it is.

File names begin with the database's, and times are UTC so that names sort in time:
- ``bot.db.20261207-100000.v11.bak``: ``python -m bot backup`` without a PATH, of a database at schema 11;
- ``bot.db.auto-20261207-100000.v11.bak``: the running bot's scheduled backups, the only files it ever removes;
- ``bot.db.pre-m012-20261207-100000.bak``: taken before migration 12 changed the schema (the way back);
- ``bot.db.before-restore-20261207-100000.bak``: the file a restore replaced.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlite_utils import Database

from storage._db import now_or_clock, owned_like_directory
from storage.instance import lock_path
from storage.kv import KV
from storage.migrations import latest_version

log = logging.getLogger("storage")

STEP_PAGES = 1024  # pages a step: 4 MB at SQLite's default page size; a cancel is seen between steps
BUSY_TIMEOUT = 5.0  # seconds to wait for the source's locks (its read snapshot, the backup.last write)
LAST = "backup.last"  # kv: the last successful backup, {"at", "path", "bytes", "schema"} (monitoring reads it)
_STAMP = "%Y%m%d-%H%M%S"
_INCOMPLETE = re.compile(r".+\.incomplete-\d+")

Progress = Callable[[int, int], None]  # (pages remaining, pages in all) after each step; raising cancels the backup
Destination = Path | Callable[[int], Path]  # a file, or how to name one by the schema version of what is copied


class BackupFailed(Exception):
    """Nothing was written at the destination; the message says why."""


class RestoreRefused(Exception):
    """Nothing was restored and nothing changed; the message says why."""


class _Damaged(Exception):
    """The copy fails ``integrity_check``; the message is its first complaint."""


@dataclass(frozen=True)
class Backup:
    path: Path  # absolute
    bytes: int
    schema: int
    at: int  # when it began: the moment the copy holds


@dataclass(frozen=True)
class Summary:
    """What a database holds, as a restore reports it."""

    schema: int
    users: int
    calls: int
    alerts: int
    newest_call: int | None  # when it started (Unix seconds)
    newest_alert: int | None  # when it was raised


@dataclass(frozen=True)
class Restored:
    summary: Summary
    kept: Path | None  # the file it replaced, set aside (None: there was none)


def stamp(at: int) -> str:
    return datetime.fromtimestamp(at, UTC).strftime(_STAMP)


def named(database: Path, directory: Path | None, at: int, *, scheduled: bool = False) -> Callable[[int], Path]:
    """The default destination of a backup of ``database`` taken at ``at``, in ``directory`` (None: beside it)."""
    kind = "auto-" if scheduled else ""
    return lambda schema: (directory or database.parent) / f"{database.name}.{kind}{stamp(at)}.v{schema}.bak"


def pre_migration_path(database: Path, directory: Path | None, migration: int, at: int) -> Path:
    return (directory or database.parent) / f"{database.name}.pre-m{migration:03d}-{stamp(at)}.bak"


def scheduled_backups(directory: Path, database: Path) -> list[Path]:
    """The scheduled backups of ``database`` in ``directory``, oldest first; no other file (none while the directory
    cannot be read: the backup that tries to write there says why)."""
    mine = re.compile(re.escape(database.name) + r"\.auto-\d{8}-\d{6}\.v\d+\.bak")
    with contextlib.suppress(OSError):
        return sorted((p for p in directory.iterdir() if mine.fullmatch(p.name)), key=lambda p: p.name)
    return []


def prune(directory: Path, database: Path, keep: int) -> list[Path]:
    """Remove all but the ``keep`` newest scheduled backups of ``database`` in ``directory``; returns the removed."""
    removed = scheduled_backups(directory, database)[:-keep]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def take(
    source: Path,
    dest: Destination,
    *,
    now: int | None = None,
    step_pages: int = STEP_PAGES,
    progress: Progress | None = None,
) -> Backup:
    """Back ``source`` up to ``dest`` (replaced if it exists), and record it in ``source``'s kv as ``backup.last``.
    Raises ``BackupFailed``, or what ``progress`` raised; either way nothing is left at ``dest``."""
    at = now_or_clock(now)
    try:
        conn = _connect(source, "rw")  # rw: a path that is not a database fails rather than becoming an empty one
    except sqlite3.Error as error:
        raise BackupFailed(f"cannot open the database {source} ({error})") from error
    try:
        try:
            conn.execute("BEGIN")  # the snapshot the whole copy is taken from, held from the first read on
            schema = _schema(conn)
            final = (dest(schema) if callable(dest) else dest).absolute()
            if final.resolve() in _own_files(source):
                raise BackupFailed(f"{final} is the database's own file: name another one for the backup")
            final.parent.mkdir(parents=True, exist_ok=True)
            with _copy(conn, final, step_pages, progress) as temp:
                os.replace(temp, final)
            conn.execute("COMMIT")
            made = Backup(final, final.stat().st_size, schema, at)
        except _Damaged as damaged:
            raise BackupFailed(f"the copy fails integrity_check ({damaged}); {source} may be damaged") from damaged
        except (sqlite3.Error, OSError) as error:
            raise BackupFailed(str(error)) from error
        _record(conn, made)
    finally:
        conn.close()
    return made


def restore(backup_file: Path, database: Path, *, now: int | None = None) -> Restored:
    """Put ``backup_file`` in the place of ``database``, the current file (its -wal and -shm with it) set aside. The
    caller holds the instance lock. ``RestoreRefused``, with nothing changed, for a file that is not a SQLite
    database, fails ``integrity_check``, holds no bot schema or a newer schema than this code's."""
    at = now_or_clock(now)
    if not backup_file.is_file():
        raise RestoreRefused(f"{backup_file} is not a file")
    if backup_file.resolve() == database.resolve():
        raise RestoreRefused(f"{backup_file} is the database itself")
    try:
        conn = _connect(backup_file, "ro")
    except sqlite3.Error as error:
        raise RestoreRefused(f"{backup_file} cannot be opened ({error})") from error
    try:
        conn.execute("BEGIN")
        schema = _schema(conn)
        if schema == 0:
            raise RestoreRefused(f"{backup_file} is not a database of this bot (it has no schema version)")
        if schema > latest_version():
            raise RestoreRefused(
                f"{backup_file} is at schema {schema}, newer than this version of the bot knows ({latest_version()}):"
                " restore it with the version that wrote it"
            )
        with _copy(conn, database.absolute(), STEP_PAGES, None) as temp:
            _wal(temp)
            _same_owner(temp, database)
            kept = _set_aside(database, at)
            os.replace(temp, database)
    except _Damaged as damaged:
        raise RestoreRefused(f"{backup_file} is damaged: integrity_check says {damaged}") from damaged
    except sqlite3.Error as error:
        raise RestoreRefused(f"{backup_file} is not a readable SQLite database ({error})") from error
    finally:
        conn.close()
    return Restored(summarise(database), kept)


def summarise(path: Path) -> Summary:
    """The schema version, the counts and the newest call and alert of the database at ``path``."""
    conn = _connect(path, "ro")
    try:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

        def count(table: str, newest: str) -> tuple[int, int | None]:
            if table not in tables:  # an early schema
                return 0, None
            rows, last = conn.execute(f"SELECT count(*), max({newest}) FROM {table}").fetchone()
            return int(rows), last

        users, _ = count("users", "created_at")
        calls, newest_call = count("calls", "started_at")
        alerts, newest_alert = count("alerts", "created_at")
        return Summary(_schema(conn), users, calls, alerts, newest_call, newest_alert)
    finally:
        conn.close()


def _own_files(database: Path) -> list[Path]:
    """The database's file and those SQLite and the bot keep beside it: a backup written over one of them would
    replace the live file under the bot (its writes would go on into the old one), or be deleted as a stale WAL."""
    found = database.resolve()
    return [found, *(found.with_name(found.name + suffix) for suffix in ("-wal", "-shm", "-journal")), lock_path(found)]


def _connect(path: Path, mode: str) -> sqlite3.Connection:
    uri = f"{path.resolve().as_uri()}?mode={mode}"
    return sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT, isolation_level=None)


def _schema(conn: sqlite3.Connection) -> int:
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_migrations'").fetchone()
    return int(conn.execute("SELECT coalesce(max(number), 0) FROM _migrations").fetchone()[0]) if found else 0


@contextlib.contextmanager
def _copy(conn: sqlite3.Connection, final: Path, step_pages: int, progress: Progress | None) -> Iterator[Path]:
    """A checked copy of ``conn``'s database (in its open transaction) in a temporary file beside ``final``, for the
    caller to rename; removed unless it was. Leftovers of killed backups in that directory are removed first."""
    _remove_leftovers(final.parent)
    temp = final.with_name(f"{final.name}.incomplete-{os.getpid()}")
    fd = os.open(temp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)  # the company's data: the owner's alone
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # "being written": let go by the kernel if the process dies
        owned_like_directory(fd, final.parent)  # made as root, it stays readable by the bot's user who owns the folder
        target = sqlite3.connect(temp, isolation_level=None)
        try:
            target.execute("PRAGMA journal_mode = OFF")  # no journal beside a file that is temporary anyway
            target.execute("PRAGMA synchronous = OFF")  # synced once, whole, before the rename
            conn.backup(target, pages=step_pages, progress=_steps(fd, progress))
            target.execute("PRAGMA journal_mode = DELETE")  # the copy took WAL mode from its source: one file again
        finally:
            target.close()
        problem = _integrity(temp)
        if problem is not None:
            raise _Damaged(problem)
        os.fsync(fd)
        yield temp
        _sync_directory(final.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()  # unless renamed
        os.close(fd)


def _steps(fd: int, progress: Progress | None) -> Callable[[int, int, int], object]:
    def step(_status: int, remaining: int, total: int) -> None:
        # Each step's pages go to the disk now: the one fsync at the end of a big copy would make the bot's own
        # commits (each an fsync of its WAL) wait behind hundreds of megabytes (130 ms of its loop, on 262 MB).
        os.fdatasync(fd)
        if progress is not None:
            progress(remaining, total)

    return step


def _integrity(path: Path) -> str | None:
    """None when ``PRAGMA integrity_check`` passes on the file at ``path``, else its first complaint."""
    conn = _connect(path, "ro")
    try:
        first = conn.execute("PRAGMA integrity_check").fetchone()[0]
    except sqlite3.DatabaseError as error:  # damage the check itself trips on
        return str(error)
    finally:
        conn.close()
    return None if first == "ok" else str(first)


def _remove_leftovers(directory: Path) -> None:
    """Remove the temporary files of backups that were killed: those nobody holds flock'ed."""
    try:
        candidates = [p for p in directory.iterdir() if _INCOMPLETE.fullmatch(p.name)]
    except FileNotFoundError:
        return
    for path in candidates:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # a backup writing it now
        else:
            path.unlink(missing_ok=True)
            log.info("Removed %s, left by a backup that was stopped", path)
        finally:
            os.close(fd)


def _set_aside(database: Path, at: int) -> Path | None:
    """Rename ``database`` out of the way, and its -wal and -shm with it: a restored file must not meet the old WAL
    (SQLite would replay its frames into it). The WAL is checkpointed into the file first where it can be."""
    files = [Path(f"{database}{suffix}") for suffix in ("", "-wal", "-shm")]
    if not any(f.exists() for f in files):
        return None
    if files[0].exists():
        with contextlib.suppress(sqlite3.Error):  # a damaged file is set aside as it is
            conn = _connect(database, "rw")
            try:
                conn.execute("PRAGMA busy_timeout = 0")  # what it can now: a reader left open must not hold it up
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                conn.close()  # the last connection removes -wal and -shm; another process's keeps them
    aside = database.with_name(f"{database.name}.before-restore-{stamp(at)}.bak")
    n = 1
    while any(Path(f"{aside}{suffix}").exists() for suffix in ("", "-wal", "-shm")):
        n += 1
        aside = database.with_name(f"{database.name}.before-restore-{stamp(at)}-{n}.bak")
    for found, suffix in zip(files, ("", "-wal", "-shm"), strict=True):
        if found.exists():
            os.replace(found, f"{aside}{suffix}")
    return aside


def _wal(path: Path) -> None:
    """In WAL mode, as the bot keeps its database, for whatever opens it first (Litestream's unit starts before it)."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
    finally:
        conn.close()  # the last connection: no -wal or -shm stays beside it


def _same_owner(path: Path, like: Path) -> None:
    """``path`` gets ``like``'s mode, and its owner where allowed (a restore run as root, for a bot that is not); with
    no ``like`` (a lost database), the owner of the directory it goes in."""
    try:
        found = like.stat()
    except FileNotFoundError:
        owned_like_directory(path, like.parent)
        return
    os.chmod(path, found.st_mode & 0o777)
    with contextlib.suppress(PermissionError):
        os.chown(path, found.st_uid, found.st_gid)


def _sync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _record(conn: sqlite3.Connection, made: Backup) -> None:
    """``backup.last`` in the source's kv. The backup stands whether or not this is written."""
    value = {"at": made.at, "path": str(made.path), "bytes": made.bytes, "schema": made.schema}
    try:
        if made.schema > 0:  # the kv table came with the first migration
            KV(Database(conn)).set(LAST, value, now=now_or_clock(None))
    except sqlite3.Error as error:
        log.warning("The backup %s was made but not recorded in the database (%s)", made.path, error)
