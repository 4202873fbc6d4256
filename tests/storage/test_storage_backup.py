"""Backups taken while the bot writes, their checks, the pre-migration backup, and restores that refuse bad files and
never mix the restored file with the old WAL."""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from storage import CallRecord, MissedCall, Storage, latest_version
from storage import backup as backups
from storage.backup import BackupFailed, RestoreRefused

GROUP = -100500


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def integrity(path: Path) -> str:
    return str(rows(path, "PRAGMA integrity_check")[0][0])


def call(n: int, at: int) -> CallRecord:
    return CallRecord(f"{n:040x}", "in", f"7916{n:07d}", "74955325585", "no answer", False, at + n, None, at + n + 20)


def fill(storage: Storage, first: int, count: int, at: int) -> None:
    """``count`` archived calls, each a miss alerted in the group, in one transaction each as the poll writes them."""
    calls = [call(n, at) for n in range(first, first + count)]
    storage.calls.ingest(calls, now=at)
    missed = [MissedCall(c.vpbx_id, c.clid, c.dnid, c.started_at, c.ended_at or 0) for c in calls]
    storage.alerts.record_missed_many(GROUP, missed, now=at)


def new_database(path: Path, calls: int = 0) -> Path:
    with Storage.open(path) as storage:
        storage.chats.subscribe(GROUP, "Sales", [], False, now=1)
        fill(storage, 0, calls, 1_700_000_000)
    return path


def previous_version_database(path: Path, calls: int) -> Path:
    """A database as the previous version left it (its schema one migration behind), with ``calls`` archived; in SQL,
    since the repositories are this version's."""
    with Storage.open(path, upto=latest_version() - 1) as storage, storage.db.conn as conn:
        conn.executemany(
            "INSERT INTO calls (vpbx_id, direction, clid, dnid, status, active, started_at, updated_at)"
            " VALUES (?, 'in', ?, '74955325585', 'no answer', 0, ?, ?)",
            [(f"{n:040x}", f"7916{n:07d}", 1_700_000_000 + n, 1_700_000_000 + n) for n in range(calls)],
        )
    return path


def test_a_backup_taken_while_alerts_and_the_archive_are_written_holds_all_committed_before_it(tmp_path: Path) -> None:
    """A writer thread commits a call and its alert every step of the backup; the backup, slowed to one page a step,
    still ends (the bot's writes do not make it start over) and holds every row committed before it began."""
    db = new_database(tmp_path / "bot.db", calls=1500)
    committed, stop = [1500], threading.Event()

    def writer() -> None:
        with Storage.open(db) as storage:
            while not stop.is_set():
                fill(storage, committed[0], 1, 1_700_000_000)
                committed[0] += 1

    def one_write_a_step(remaining: int, total: int) -> None:
        seen, deadline = committed[0], time.monotonic() + 5
        while committed[0] == seen and time.monotonic() < deadline:
            time.sleep(0.001)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        before = committed[0]  # every row up to here is committed: the backup must hold them
        made = backups.take(db, tmp_path / "copy.bak", step_pages=1, progress=one_write_a_step)
        during = committed[0] - before
    finally:
        stop.set()
        thread.join()
    assert during > 100  # a write at every step of the backup
    assert integrity(made.path) == "ok"
    assert made.schema == latest_version() == rows(made.path, "SELECT max(number) FROM _migrations")[0][0]
    ((calls, highest),) = rows(made.path, "SELECT count(*), max(started_at) - 1700000000 FROM calls")
    ((alerts, missed),) = rows(made.path, "SELECT count(*), sum(missed_count) FROM alerts")
    assert calls >= before and highest == calls - 1  # one moment: every call up to one, none after
    assert alerts == calls and missed == calls  # ... and the alert of each of them, none more
    assert rows(made.path, "PRAGMA journal_mode") == [("delete",)]  # one file, openable as it is
    assert not Path(f"{made.path}-wal").exists()
    assert list(tmp_path.glob("*.incomplete-*")) == []
    recorded = rows(db, "SELECT value FROM kv WHERE key = 'backup.last'")[0][0]
    assert recorded == (
        f'{{"at":{made.at},"bytes":{made.path.stat().st_size},"path":"{made.path}","schema":{latest_version()}}}'
    )


def test_a_backup_that_fails_leaves_nothing_at_its_destination(tmp_path: Path) -> None:
    db = new_database(tmp_path / "bot.db", calls=10)
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(BackupFailed, match="Not a directory"):
        backups.take(db, tmp_path / "file" / "backups" / "copy.bak")
    with pytest.raises(BackupFailed, match="unable to open"):
        backups.take(tmp_path / "missing.db", tmp_path / "copy.bak")
    assert not (tmp_path / "missing.db").exists() and not (tmp_path / "copy.bak").exists()

    def cancel(remaining: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backups.take(db, tmp_path / "copy.bak", step_pages=1, progress=cancel)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(("-wal", "-shm"))) == ["bot.db", "file"]
    assert rows(db, "SELECT count(*) FROM kv WHERE key = 'backup.last'") == [(0,)]


def test_an_upgrade_backs_the_database_up_before_migrating_and_a_fresh_one_takes_none(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = previous_version_database(tmp_path / "bot.db", calls=3)
    assert list(tmp_path.glob("*.bak")) == []  # a fresh database: nothing to go back to
    caplog.set_level(logging.INFO, "storage")
    with Storage.open(db, backup_dir=tmp_path / "backups") as storage:
        assert storage.schema_version == latest_version()
    (made,) = (tmp_path / "backups").iterdir()
    assert made.name.startswith(f"bot.db.pre-m{latest_version():03d}-") and made.name.endswith(".bak")
    assert integrity(made) == "ok"
    assert rows(made, "SELECT max(number) FROM _migrations") == [(latest_version() - 1,)]
    assert rows(made, "SELECT count(*) FROM calls") == [(3,)]
    schemas = f"from schema {latest_version() - 1} to {latest_version()}"
    assert f"Migrating the database {schemas}; backed up first to {made}" in caplog.messages
    with Storage.open(db, backup_dir=tmp_path / "backups"):  # up to date: no backup
        pass
    assert len(list((tmp_path / "backups").iterdir())) == 1


def test_restore_puts_the_backup_in_place_and_keeps_the_old_file_with_its_own_wal(tmp_path: Path) -> None:
    """The current file's WAL still holds frames (a reader keeps them from being checkpointed away): they go aside
    with it, and the restored file is exactly the backup."""
    db = new_database(tmp_path / "bot.db", calls=5)
    made = backups.take(db, tmp_path / "copy.bak")
    later = sqlite3.connect(db, isolation_level=None)
    later.execute("PRAGMA wal_autocheckpoint = 0")
    later.execute("INSERT INTO kv (key, value, updated_at) VALUES ('after', '1', 1)")
    reader = sqlite3.connect(db, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM kv").fetchone()  # holds the WAL as it is
    try:
        assert Path(f"{db}-wal").stat().st_size > 0
        restored = backups.restore(made.path, db, now=1_800_000_000)
    finally:
        reader.close()
        later.close()
    assert restored.kept == tmp_path / "bot.db.before-restore-20270115-080000.bak"
    assert rows(db, "SELECT count(*) FROM kv WHERE key = 'after'") == [(0,)]
    assert integrity(db) == "ok" and rows(db, "PRAGMA journal_mode") == [("wal",)]  # as the bot keeps it
    assert rows(restored.kept, "SELECT count(*) FROM kv WHERE key = 'after'") == [(1,)]
    assert restored.summary == backups.Summary(
        schema=latest_version(), users=0, calls=5, alerts=5, newest_call=1_700_000_004, newest_alert=1_700_000_000
    )
    with Storage.open(db) as storage:  # the bot opens it as it is
        assert storage.calls.count() == 5


@pytest.mark.parametrize("damage", ["garbage", "torn page", "newer schema", "not the bot's", "itself"])
def test_restore_refuses_a_bad_file_and_changes_nothing(tmp_path: Path, damage: str) -> None:
    db = new_database(tmp_path / "bot.db", calls=200)
    bad = backups.take(db, tmp_path / "copy.bak").path
    if damage == "garbage":
        bad.write_bytes(b"not a database at all" * 100)
    elif damage == "torn page":  # a page of the calls' index zeroed, as a torn write leaves it
        ((page,),) = rows(bad, "SELECT rootpage FROM sqlite_master WHERE name = 'calls_started'")
        with bad.open("r+b") as file:
            file.seek((page - 1) * 4096)
            file.write(bytes(4096))
    elif damage == "newer schema":
        conn = sqlite3.connect(bad)
        with conn:
            conn.execute("INSERT INTO _migrations VALUES (?, 'm999_future', 1)", (latest_version() + 1,))
        conn.close()
    elif damage == "not the bot's":
        bad.unlink()
        sqlite3.connect(bad).execute("CREATE TABLE notes (text)").connection.close()
    else:
        bad = db
    before = db.read_bytes()
    expected = {
        "garbage": "is not a readable SQLite database (file is not a database)",
        "torn page": "is damaged: integrity_check says",
        "newer schema": f"is at schema {latest_version() + 1}, newer than this version of the bot knows",
        "not the bot's": "is not a database of this bot",
        "itself": "is the database itself",
    }[damage]
    with pytest.raises(RestoreRefused, match=re.escape(expected)):
        backups.restore(bad, db)
    assert db.read_bytes() == before
    assert [p for p in tmp_path.iterdir() if "before-restore" in p.name or "incomplete" in p.name] == []


def test_only_the_oldest_scheduled_backups_are_pruned(tmp_path: Path) -> None:
    db = new_database(tmp_path / "bot.db")
    folder = tmp_path / "backups"
    made = [backups.take(db, backups.named(db, folder, at, scheduled=True), now=at).path for at in (60, 180, 300)]
    others = [
        backups.take(db, backups.named(db, folder, 50), now=50).path,  # by hand
        backups.pre_migration_path(db, folder, 5, 60),
        folder / "other.db.auto-19700101-000001.v11.bak",  # another database's
        folder / "notes.txt",
    ]
    for path in others[1:]:
        path.write_text("")
    assert [p.name for p in made] == [f"bot.db.auto-19700101-000{s}00.v{latest_version()}.bak" for s in (1, 3, 5)]
    assert backups.prune(folder, db, keep=2) == made[:1]
    assert sorted(folder.iterdir()) == sorted([*made[1:], *others])
