"""Another connection holding the write lock past the busy timeout: the write is refused with ``DatabaseBusy``
(nothing written), and the storage logs the episode once, and when writes go through again."""

import logging
import sqlite3
from pathlib import Path

import pytest

from storage import DatabaseBusy, ImportResult, Storage, contacts


def test_a_locked_database_refuses_writes_and_says_so_once_an_episode(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Storage.open(db_path) as storage, caplog.at_level(logging.INFO, logger="storage"):
        other = sqlite3.connect(db_path, isolation_level=None)
        for episode in range(2):
            other.execute("BEGIN IMMEDIATE")
            for attempt in range(3):
                with pytest.raises(DatabaseBusy, match="database is locked"):
                    storage.kv.set("key", {"episode": episode, "attempt": attempt}, now=1)
            assert storage.kv.get("key") == (None if episode == 0 else "written")  # nothing was written
            other.execute("ROLLBACK")
            storage.kv.set("key", "written", now=2)
        other.close()
    said = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "storage"]
    refused = (logging.WARNING, "The database is locked by another connection: writes are refused until it lets go")
    assert [level for level, _ in said] == [logging.WARNING, logging.INFO] * 2
    assert said[0] == said[2] == refused
    assert said[1][1].startswith("The database takes writes again (3 refused in ")


def test_an_import_applied_on_a_connection_of_its_own_is_refused_alike_in_the_same_episode(
    db_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(contacts, "WRITER_BUSY_TIMEOUT_MS", 50)  # a worker's write waits 5 s in earnest
    with Storage.open(db_path) as storage, caplog.at_level(logging.INFO, logger="storage"):
        staged = storage.contacts.imports.create(1, 1, [("79161234567", "Ivan")], now=1)
        other = sqlite3.connect(db_path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(DatabaseBusy):
            storage.kv.set("key", "refused", now=2)
        with pytest.raises(DatabaseBusy, match="database is locked"):
            contacts.apply_import(db_path, staged.id, now=2)
        other.execute("ROLLBACK")
        other.close()
        assert storage.contacts.imports.get(staged.id).state == "previewed"  # type: ignore[union-attr]
        assert contacts.apply_import(db_path, staged.id, now=3) == ImportResult(added=1, updated=0)
    said = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "storage"]
    assert [level for level, _ in said] == [logging.WARNING, logging.INFO]  # one episode, whoever was refused
    assert said[1][1].startswith("The database takes writes again (2 refused in ")
