from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlite_utils import Database

from storage import Storage


@pytest.fixture(params=["file", "memory"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    """Every repository test runs on a real WAL file and on an in-memory database."""
    s = Storage.open(tmp_path / "bot.db") if request.param == "file" else Storage(Database(memory=True))
    yield s
    s.close()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "bot.db"
