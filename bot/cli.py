"""``python -m bot``'s command line. Without a command it runs the bot (``bot.__main__``); ``backup`` and ``restore``
look after its database, reading only DATABASE_PATH and BACKUP_* from the environment or ``.env``. Both print what
they did, or one line saying why not: exit 2 when the settings are bad, the database is missing or a running bot
holds it; 1 when the backup failed or the file to restore was refused (nothing is changed then)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import bot
from bot.config import DatabaseSettings, SettingsError, load
from storage import backup, instance, latest_version


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m bot",
        description="The New-Tel bot for Telegram. Without a command it runs, with its settings from the environment "
        "or .env (see .env.example).",
    )
    version = f"bot {bot.__version__}, database schema {latest_version()}"
    top.add_argument("--version", action="version", version=version)
    commands = top.add_subparsers(title="commands", dest="command", metavar="{backup,restore}")
    taking = commands.add_parser(
        "backup",
        help="copy the database, consistent even while the bot runs",
        description="Copy DATABASE_PATH, consistent even while the bot runs, checked before it is named.",
    )
    taking.add_argument(
        "path", nargs="?", help="a file, or a directory (one ending in / is made if missing; default: BACKUP_DIR, "
        "else beside the database)",
    )  # fmt: skip
    taking.set_defaults(run=run_backup)
    restoring = commands.add_parser(
        "restore",
        help="put a backup in the place of the database (with the bot stopped)",
        description="Put a backup in the place of DATABASE_PATH, keeping the current file aside. Refused while the "
        "bot runs on it, and for a damaged file or one from a newer version of the bot.",
    )
    restoring.add_argument("path", type=Path, help="the backup file")
    restoring.set_defaults(run=run_restore)
    return top


def hold(database: Path, refused: str = "") -> instance.InstanceLock | None:
    """The database's instance lock, or None once one line (after ``refused``, "Not restored: ") said why not."""
    try:
        return instance.hold(database)
    except instance.AlreadyRunning as running:
        print(f"{refused}{'the' if refused else 'The'} bot is already running on {database}: {running.holder}",
              file=sys.stderr)  # fmt: skip
    except OSError as error:
        print(f"{refused}cannot lock {instance.lock_path(database)} ({error.strerror})", file=sys.stderr)
    return None


def run_backup(args: argparse.Namespace) -> int:
    settings = _settings()
    if settings is None:
        return 2
    database = settings.database_path
    if not database.is_file():
        print(f"No database at {database} (DATABASE_PATH)", file=sys.stderr)
        return 2
    at = int(time.time())
    target: backup.Destination = backup.named(database, settings.backup_dir, at)
    if args.path is not None:
        given = Path(args.path)  # which drops a final "/": "copies/" is a directory to make, not a file to write
        target = backup.named(database, given, at) if args.path.endswith(os.sep) or given.is_dir() else given
    started = time.monotonic()
    try:
        made = backup.take(database, target, now=at)
    except backup.BackupFailed as error:
        print(f"Backup failed: {error}", file=sys.stderr)
        return 1
    print(
        f"Backed up {database} (schema {made.schema}) to {made.path}: {made.bytes / 1e6:.1f} MB in "
        f"{time.monotonic() - started:.1f} s"
    )
    return 0


def run_restore(args: argparse.Namespace) -> int:
    settings = _settings()
    if settings is None:
        return 2
    database = settings.database_path
    lock = hold(database, "Not restored: ")
    if lock is None:
        return 2
    try:
        restored = backup.restore(args.path, database)
    except backup.RestoreRefused as refused:
        print(f"Not restored: {refused}. Nothing was changed.", file=sys.stderr)
        return 1
    except OSError as error:  # no room or no right beside the database, say
        print(f"Restore failed: {error}. Check {database} and the files beside it.", file=sys.stderr)
        return 1
    finally:
        lock.release()
    print(f"Restored {database} from {args.path}: {described(restored.summary)}.")
    if restored.kept is not None:
        print(f"The file it replaced is kept as {restored.kept}.")
    if restored.summary.schema < latest_version():
        print(
            f"Its schema {restored.summary.schema} is older than this version's {latest_version()}: the bot's next "
            "start migrates it, backing it up first."
        )
    return 0


def described(summary: backup.Summary) -> str:
    def newest(at: int | None) -> str:
        return "" if at is None else f", the newest {datetime.fromtimestamp(at, UTC):%Y-%m-%d %H:%M} UTC"

    return (
        f"schema {summary.schema}; {summary.users:,} users, {summary.calls:,} calls{newest(summary.newest_call)}, "
        f"{summary.alerts:,} alerts{newest(summary.newest_alert)}"
    )


def _settings() -> DatabaseSettings | None:
    """The database's settings, or None once their errors are printed; the storage's log lines go to stderr."""
    try:
        settings = load(DatabaseSettings)
    except SettingsError as error:
        print(error, file=sys.stderr)
        return None
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    return settings
