"""The storage facade: one SQLite database, migrated at start-up, with a repository per concern."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from types import TracebackType

from sqlite_utils import Database

from storage import backup
from storage._db import now_or_clock
from storage.access_requests import AccessRequests
from storage.alerts import Alerts
from storage.audit import Audit
from storage.calls import Calls
from storage.cards import Cards
from storage.chats import Chats
from storage.contacts import Contacts
from storage.kv import KV
from storage.ledger import Ledger
from storage.migrations import latest_version, migrate, schema_version
from storage.outbox import Outbox
from storage.phones import Phones
from storage.recordings import Recordings
from storage.reminders import Reminders
from storage.users import Users

# sqlite3 runs on the bot's event loop: while a write waits for another process's lock, nobody is answered. So
# a write waits 200 ms, then fails (the poll retries, a command says so); only migrations, before the bot
# serves anyone, wait longer for another instance's.
BUSY_TIMEOUT_MS = 200
MIGRATION_BUSY_TIMEOUT_MS = 5_000

log = logging.getLogger("storage")


class Storage:
    """Create once at start-up and use from one thread (the bot's event loop).

    Every call is a short local transaction. sqlite3's ``check_same_thread`` (on by default) turns use from
    another thread into an error instead of a silent race.
    """

    def __init__(self, db: Database, *, upto: int | None = None) -> None:
        self.db = db
        # Per connection, and a no-op inside a transaction: set before anything else runs.
        db.execute("PRAGMA foreign_keys = ON")
        db.execute(f"PRAGMA busy_timeout = {MIGRATION_BUSY_TIMEOUT_MS}")
        migrate(db, upto=upto)
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self.users = Users(db)
        self.access_requests = AccessRequests(db)
        self.chats = Chats(db)
        self.alerts = Alerts(db)
        self.audit = Audit(db)
        self.calls = Calls(db)
        self.cards = Cards(db)
        self.contacts = Contacts(db)
        self.recordings = Recordings(db)
        self.phones = Phones(db)
        self.kv = KV(db)
        self.reminders = Reminders(db)  # about alerts: callback reminders, deadlines, escalations
        self.ledger = Ledger(db)  # the boards and summaries posted, each written down before it is sent
        self.outbox = Outbox(db)  # counts of what waits to go out, for the metrics

    @classmethod
    def open(cls, path: str | Path, *, upto: int | None = None, backup_dir: Path | None = None) -> Storage:
        """Open (creating if needed) the database file in WAL mode: the bot reads while the poll writes.

        Before the migrations change an existing database's schema, it is backed up (into ``backup_dir``, else
        beside it): the way back to the version that wrote it. ``BackupFailed`` leaves it unmigrated."""
        conn = sqlite3.connect(str(path), timeout=MIGRATION_BUSY_TIMEOUT_MS / 1000)
        db = Database(conn)
        db.enable_wal()
        found, target = schema_version(db), latest_version() if upto is None else upto
        if 0 < found < target:
            before = backup.pre_migration_path(Path(path), backup_dir, found + 1, now_or_clock(None))
            try:
                made = backup.take(Path(path), before)
            except BaseException:
                db.close()
                raise
            log.info("Migrating the database from schema %d to %d; backed up first to %s", found, target, made.path)
        return cls(db, upto=upto)

    @property
    def schema_version(self) -> int:
        return schema_version(self.db)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Storage:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
