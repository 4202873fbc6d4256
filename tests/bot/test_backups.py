"""The running bot's scheduled backups: taken into BACKUP_DIR on schedule, the BACKUP_KEEP newest kept and no other
file touched; a failure told to the admins privately, in their language, once per failing episode (a restart repeats
it to nobody) and logged every time; the next success says so."""

from __future__ import annotations

import functools
import logging
import time
from pathlib import Path

import pytest

from bot.backups import Backups
from storage import backup
from tests.bot.conftest import ADMIN, ADMIN2, World, WorldFactory, eventually
from tests.storage.test_storage_backup import integrity, rows


def backups_of(world: World) -> Backups:
    found = world.app.bot_data.backups
    assert found is not None
    return found


async def test_backups_run_on_schedule_and_the_newest_are_kept(make_world: WorldFactory, tmp_path: Path) -> None:
    folder = tmp_path / "backups"
    folder.mkdir()
    (folder / "notes.txt").write_text("the admin's own")
    by_hand = folder / "bot.db.20261201-000000.v11.bak"
    by_hand.write_text("a backup taken by hand")
    every_second = {"backup_dir": str(folder), "backup_every_hours": 1 / 3600, "backup_keep": 2}
    async with make_world(jobs=True, **every_second) as world:
        kv = world.services.storage.kv
        await eventually(lambda: kv.get(backup.LAST) is not None, timeout=10)
        first = kv.get(backup.LAST)["at"]
        await eventually(lambda: kv.get(backup.LAST)["at"] >= first + 2, timeout=15)  # three rounds at least
    # Stopped: a round under way was given up (nothing of it left) or finished.
    kept = backup.scheduled_backups(folder, tmp_path / "bot.db")
    assert len(kept) == 2 and all(integrity(path) == "ok" for path in kept)
    assert sorted(folder.iterdir()) == sorted([*kept, folder / "notes.txt", by_hand])
    assert by_hand.read_text() == "a backup taken by hand"
    async with make_world(**every_second) as world:
        assert world.services.storage.kv.get(backup.LAST)["path"] == str(kept[-1])


async def test_a_failing_backup_is_told_to_each_admin_once_until_one_succeeds(
    make_world: WorldFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bot.backups")
    disk = tmp_path / "disk"
    disk.write_text("a file where BACKUP_DIR's parent should be")  # the folder cannot be made
    folder = disk / "backups"
    settings = {"backup_dir": str(folder), "admin_ids": f"{ADMIN},{ADMIN2}"}
    async with make_world(**settings) as world:
        world.services.storage.users.set_language(ADMIN2, "en", now=int(time.time()))
        assert await backups_of(world).run(world.app.bot) is None
        (ru,) = await world.replies(ADMIN)
        (en,) = await world.replies(ADMIN2)
        error = f"[Errno 20] Not a directory: '{folder}'"
        assert ru["text"] == (
            f"⚠️ Резервная копия базы не создана в папке {folder}: {error}\nБот пробует снова каждые 24 ч и напишет, "
            "когда копия получится. Проверьте место на диске и права на папку (BACKUP_DIR)."
        )
        assert en["text"].startswith(f"⚠️ The database backup failed in the folder {folder}: {error}\n")
        sent = len(world.sent("sendMessage"))
        assert await backups_of(world).run(world.app.bot) is None  # failing still: the admins know
        assert len(world.sent("sendMessage")) == sent
    async with make_world(**settings) as world:  # a restart
        assert await backups_of(world).run(world.app.bot) is None
        assert len(world.sent("sendMessage")) == sent
        disk.unlink()  # the disk is fixed
        world.tg.mark()
        made = await backups_of(world).run(world.app.bot)
        assert made is not None and made.path.parent == folder
        (ru,) = await world.replies(ADMIN)
        (en,) = await world.replies(ADMIN2)
        assert ru["text"] == f"✅ Резервные копии базы снова создаются: {made.path}"
        assert en["text"] == f"✅ Database backups are made again: {made.path}"
        sent = len(world.sent("sendMessage"))
        assert await backups_of(world).run(world.app.bot) is not None
        assert len(world.sent("sendMessage")) == sent  # working, as before: nothing to say
    failures = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert failures == [f"Scheduled backup into {folder} failed: {error}"] * 3  # every time


async def test_a_stop_gives_up_the_backup_under_way(
    make_world: WorldFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bot.backups")
    monkeypatch.setattr(backup, "take", functools.partial(backup.take, step_pages=1))  # a page a step: it lasts
    folder = tmp_path / "backups"
    async with make_world(jobs=True, backup_dir=str(folder), backup_every_hours=1 / 3600) as world:
        with world.services.storage.db.conn as conn:  # a few megabytes to copy
            conn.execute("CREATE TABLE filler (data BLOB)")
            conn.executemany("INSERT INTO filler VALUES (randomblob(4000))", [()] * 1000)
        await eventually(lambda: bool(incomplete(folder)))  # the first round, under way
    # The world stopped (post_shutdown): the backup was given up at its next step, and nothing of it is left.
    assert list(folder.iterdir()) == []
    assert "The scheduled backup under way was given up: the bot is stopping" in caplog.messages
    assert rows(tmp_path / "bot.db", "SELECT count(*) FROM kv WHERE key = 'backup.last'") == [(0,)]
    assert world.sent("sendMessage") == []  # no failure to tell


def incomplete(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if ".incomplete-" in p.name] if folder.exists() else []
