"""Another connection holding the write lock past the busy timeout: the write is refused with ``DatabaseBusy``
(nothing written), and the storage logs the episode once, and when writes go through again."""

import logging
import sqlite3
from pathlib import Path

import pytest

from storage import DatabaseBusy, Storage


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
