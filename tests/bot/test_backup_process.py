"""``python -m bot`` as real processes around its database: one bot per database, a backup beside a running bot and
one killed mid-way, restores refused while the bot runs or for a bad file, and the backup an upgrade takes first."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import bot
from localchat import FakeBotAPI
from newtel.sandbox import Sandbox
from storage import Storage, latest_version
from tests.bot.conftest import ADMIN
from tests.bot.test_process import clean_env
from tests.bot.test_process_startup import alive, kill, serves, start_bot, stop
from tests.storage.test_storage_backup import GROUP, fill, integrity, previous_version_database, rows

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX signals and flock")

SINCE = r"since \d{4}-\d\d-\d\d \d\d:\d\d UTC"


async def command(tmp_path: Path, *args: str, **settings: str) -> tuple[int, str, str]:
    """``python -m bot <args>`` in ``tmp_path`` with DATABASE_PATH alone set (its bot.db unless ``settings`` say
    otherwise): no Telegram or New-Tel keys. Its status, out and err."""
    env = clean_env(tmp_path, **{"DATABASE_PATH": str(tmp_path / "bot.db"), **settings})
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=tmp_path, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def files(folder: Path, having: str) -> list[Path]:
    return sorted(p for p in folder.iterdir() if having in p.name)


def database(path: Path, calls: int) -> Path:
    with Storage.open(path) as storage:
        storage.chats.subscribe(GROUP, "Sales", [], False, now=1_700_000_000)
        fill(storage, 0, calls, 1_700_000_000)
    return path


def test_version_and_help_name_the_schema_and_the_commands(tmp_path: Path) -> None:
    def run(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "bot", *args], env=clean_env(tmp_path), cwd=tmp_path,
                              capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
        return done.stdout

    assert run("--version") == f"bot {bot.__version__}, database schema {latest_version()}\n"
    listed = run("--help")
    assert re.search(r"\n    backup +copy the database, consistent even while the bot runs\n", listed)
    assert re.search(r"\n    restore +put a backup in the place of the database", listed)
    assert list(tmp_path.iterdir()) == []


async def test_a_second_bot_on_the_same_database_refuses_to_start_and_the_first_goes_on(
    sandbox: Sandbox, tg: FakeBotAPI, tmp_path: Path
) -> None:
    first = await start_bot(sandbox, tg.url, tmp_path)
    try:
        await serves(first, tg)
        second = await start_bot(sandbox, tg.url, tmp_path)
        output = (await asyncio.wait_for(second.communicate(), 60))[0].decode()
        assert second.returncode == 2
        named = f"pid {first.pid} on {re.escape(socket.gethostname())} {SINCE}"
        assert re.fullmatch(f"The bot is already running on {re.escape(str(tmp_path / 'bot.db'))}: {named}\n", output)
        assert [c.method for c in tg.calls].count("getMe") == 1  # the second never asked Telegram
        tg.mark()
        await serves(first, tg)  # the first still answers
        first.kill()  # kill -9: the kernel lets go of the lock, and the file left behind blocks nobody
        await first.wait()
        tg.mark()
        third = await start_bot(sandbox, tg.url, tmp_path)
        try:
            await serves(third, tg)
            output = await stop(third)
        finally:
            await kill(third)
        assert third.returncode == 0, output
    finally:
        await kill(first)
    assert re.fullmatch(f"pid {third.pid} on .+ {SINCE}\n", (tmp_path / "bot.db.lock").read_text())


async def test_a_backup_runs_beside_the_bot_and_a_restore_is_refused_while_it_runs(
    sandbox: Sandbox, tg: FakeBotAPI, tmp_path: Path
) -> None:
    process = await start_bot(sandbox, tg.url, tmp_path)
    try:
        await serves(process, tg)
        (tmp_path / "copies").mkdir()  # a directory: the default name in it
        status, out, err = await command(tmp_path, "backup", "copies")
        assert (status, err) == (0, "")
        (made,) = (tmp_path / "copies").iterdir()
        assert re.fullmatch(r"bot\.db\.\d{8}-\d{6}\.v(\d+)\.bak", made.name)
        assert re.fullmatch(
            rf"Backed up {re.escape(str(tmp_path / 'bot.db'))} \(schema {latest_version()}\) to "
            rf"{re.escape(str(made))}: \d+\.\d MB in \d+\.\d s\n",
            out,
        )
        assert integrity(made) == "ok" and rows(made, "SELECT telegram_id FROM users") == [(ADMIN,)]
        status, out, err = await command(tmp_path, "restore", str(made))
        assert (status, out) == (2, "")
        assert re.fullmatch(
            rf"Not restored: the bot is already running on {re.escape(str(tmp_path / 'bot.db'))}: pid {process.pid} "
            rf"on .+ {SINCE}\n",
            err,
        )
        tg.mark()
        await serves(process, tg)
        output = await stop(process)
    finally:
        await kill(process)
    assert "Traceback" not in output
    assert files(tmp_path, "before-restore") == []


async def test_a_good_restore_says_what_it_restored_and_keeps_the_replaced_file(tmp_path: Path) -> None:
    db = database(tmp_path / "bot.db", calls=3)
    status, out, _ = await command(tmp_path, "backup", "good.bak")
    assert status == 0, out
    with Storage.open(db) as storage:
        fill(storage, 3, 2, 1_700_000_000)  # written after the backup
    status, out, err = await command(tmp_path, "restore", "good.bak")
    assert (status, err) == (0, "")
    (kept,) = files(tmp_path, "bot.db.before-restore-")
    assert out == (
        f"Restored {db} from good.bak: schema {latest_version()}; 0 users, 3 calls, the newest 2023-11-14 22:13 UTC, "
        "3 alerts, the newest 2023-11-14 22:13 UTC.\n"
        f"The file it replaced is kept as {kept}.\n"
    )
    assert rows(db, "SELECT count(*) FROM calls") == [(3,)] and rows(kept, "SELECT count(*) FROM calls") == [(5,)]


async def test_commands_name_a_relative_database_whole_wherever_they_run(tmp_path: Path) -> None:
    # As the systemd unit has it: DATABASE_PATH=bot.db, read in the bot's directory. Run from another directory (an
    # operator's shell), the command says which file it looked for, rather than "bot.db".
    state, elsewhere = tmp_path / "state", tmp_path / "home"
    state.mkdir()
    elsewhere.mkdir()
    database(state / "bot.db", calls=3)
    assert await command(elsewhere, "backup", DATABASE_PATH="bot.db") == (
        2,
        "",
        f"No database at {elsewhere / 'bot.db'} (DATABASE_PATH)\n",
    )
    status, out, err = await command(state, "backup", "copy.bak", DATABASE_PATH="bot.db")
    assert (status, err) == (0, "") and out.startswith(f"Backed up {state / 'bot.db'} (schema ")
    status, out, err = await command(state, "restore", "copy.bak", DATABASE_PATH="bot.db")
    assert (status, err) == (0, "") and out.startswith(f"Restored {state / 'bot.db'} from copy.bak: schema ")


async def test_a_backup_into_a_directory_yet_to_be_made_is_named_in_it(tmp_path: Path) -> None:
    database(tmp_path / "bot.db", calls=1)
    status, out, err = await command(tmp_path, "backup", "copies/")  # a trailing "/": a directory, not a file
    assert (status, err) == (0, "")
    (made,) = (tmp_path / "copies").iterdir()
    assert re.fullmatch(rf"bot\.db\.\d{{8}}-\d{{6}}\.v{latest_version()}\.bak", made.name)
    assert f" to {made}: " in out and integrity(made) == "ok"


@pytest.mark.parametrize("name", ["bot.db", "./bot.db-wal", "bot.db.lock"])
async def test_a_backup_over_the_databases_own_files_is_refused(tmp_path: Path, name: str) -> None:
    # "backup bot.db" read as "back up bot.db": it would have put the copy in the live file's place, under the bot.
    db = database(tmp_path / "bot.db", calls=3)
    before = (db.stat().st_ino, db.read_bytes())
    status, out, err = await command(tmp_path, "backup", name)
    assert (status, out) == (1, "")
    named = tmp_path / name.removeprefix("./")
    assert err == f"Backup failed: {named} is the database's own file: name another one for the backup\n"
    assert (db.stat().st_ino, db.read_bytes()) == before


@pytest.mark.parametrize("args", [(), ("backup",)], ids=["the bot", "backup"])
async def test_a_dotenv_that_is_not_utf8_is_said_in_one_line(tmp_path: Path, args: tuple[str, ...]) -> None:
    (tmp_path / ".env").write_bytes("# токен от BotFather\nDATABASE_PATH=bot.db\n".encode("cp1251"))
    status, out, err = await command(tmp_path, *args)
    assert (status, out) == (2, "")
    assert err == f"Cannot read {tmp_path / '.env'}: it is not UTF-8 text (byte 0xf2 at position 2); save it as UTF-8\n"


BOT_USER = 65534  # "nobody": the bot's own user, as the systemd unit's newtel-bot


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="an operator's restore run as root")
@pytest.mark.parametrize("found", ["a database without its lock file", "nothing (the disk was lost)"])
async def test_a_restore_run_as_root_leaves_the_bot_files_it_can_open(tmp_path: Path, found: str) -> None:
    good = database(tmp_path / "good.bak", calls=3)
    state = tmp_path / "state"  # systemd's StateDirectory=, the bot's user's own
    state.mkdir(mode=0o700)
    os.chown(state, BOT_USER, BOT_USER)
    if found.startswith("a database"):
        os.chown(database(state / "bot.db", calls=1), BOT_USER, BOT_USER)
    status, _, err = await command(state, "restore", str(good))
    assert (status, err) == (0, "")
    for name in ("bot.db", "bot.db.lock"):
        made = (state / name).stat()
        assert (made.st_uid, made.st_gid) == (BOT_USER, BOT_USER), name
        # The bot, as its user, opens them to write (the lock: to take it and say who holds it).
        opening = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", f"exec 3<>{name}", cwd=state, user=BOT_USER, group=BOT_USER,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, said = await asyncio.wait_for(opening.communicate(), 30)
        assert opening.returncode == 0, (name, said)
    assert rows(state / "bot.db", "SELECT count(*) FROM calls") == [(3,)]
    # A backup taken as root beside it is the bot's user's too, for a restore run as that user (sudo -u).
    assert (await command(state, "backup", "copy.bak"))[0] == 0
    assert (state / "copy.bak").stat().st_uid == BOT_USER


@pytest.mark.parametrize("bad", ["damaged", "newer"])
async def test_a_restore_refuses_a_damaged_file_and_a_newer_schema(tmp_path: Path, bad: str) -> None:
    db = database(tmp_path / "bot.db", calls=200)
    status, _, _ = await command(tmp_path, "backup", "bad.bak")
    assert status == 0
    if bad == "damaged":
        with (tmp_path / "bad.bak").open("r+b") as file:
            file.write(b"garbage" * 10)  # over the header
    else:
        with sqlite3.connect(tmp_path / "bad.bak") as conn:
            conn.execute("INSERT INTO _migrations VALUES (?, 'm999_future', 1)", (latest_version() + 1,))
        conn.close()
    before = db.read_bytes()
    status, out, err = await command(tmp_path, "restore", "bad.bak")
    assert (status, out) == (1, "")
    reason = {
        "damaged": "is not a readable SQLite database (file is not a database)",
        "newer": f"is at schema {latest_version() + 1}, newer than this version of the bot knows ({latest_version()}): "
        "restore it with the version that wrote it",
    }[bad]
    assert err == f"Not restored: bad.bak {reason}. Nothing was changed.\n"
    assert db.read_bytes() == before and files(tmp_path, "before-restore") == []


async def test_a_backup_killed_mid_way_leaves_no_partial_file_and_the_next_one_clears_it_away(tmp_path: Path) -> None:
    db = database(tmp_path / "bot.db", calls=2000)
    dest = tmp_path / "copy.bak"
    slowed = (
        "import sys, time; from pathlib import Path; from storage import backup; "
        "backup.take(Path(sys.argv[1]), Path(sys.argv[2]), step_pages=1, progress=lambda r, t: time.sleep(0.01))"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", slowed, str(db), str(dest), env=clean_env(tmp_path), cwd=tmp_path
    )
    temp = tmp_path / f"copy.bak.incomplete-{process.pid}"
    try:
        for _ in range(1000):  # the copy under way: its temporary file grows
            if temp.exists() and temp.stat().st_size > 0:
                break
            await asyncio.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        await process.wait()
    finally:
        await kill(process)
    assert process.returncode == -signal.SIGKILL
    assert not dest.exists()
    assert temp.exists()  # left behind, and named so
    status, _, err = await command(tmp_path, "backup", "copy.bak")
    assert status == 0, err
    assert err == f"Removed {temp}, left by a backup that was stopped\n"
    assert not temp.exists() and integrity(dest) == "ok"
    assert rows(dest, "SELECT count(*) FROM calls") == [(2000,)]


async def test_an_upgrade_backs_the_database_up_first_and_the_start_up_log_says_where(
    sandbox: Sandbox, tg: FakeBotAPI, tmp_path: Path
) -> None:
    previous_version_database(tmp_path / "bot.db", calls=3)
    process = await start_bot(sandbox, tg.url, tmp_path, BACKUP_DIR=str(tmp_path / "backups"))
    try:
        await alive(process, tg.wait_for("getUpdates", timeout=30))
        output = await stop(process)
    finally:
        await kill(process)
    (made,) = (tmp_path / "backups").iterdir()
    assert re.fullmatch(rf"bot\.db\.pre-m{latest_version():03d}-\d{{8}}-\d{{6}}\.bak", made.name)
    schemas = f"from schema {latest_version() - 1} to {latest_version()}"
    assert f"Migrating the database {schemas}; backed up first to {made}\n" in output
    assert rows(made, "SELECT max(number) FROM _migrations") == [(latest_version() - 1,)]
    assert rows(made, "SELECT count(*) FROM calls") == [(3,)]
    assert rows(tmp_path / "bot.db", "SELECT max(number) FROM _migrations") == [(latest_version(),)]


async def test_an_upgrade_whose_backup_fails_leaves_the_database_as_it_was(
    sandbox: Sandbox, tg: FakeBotAPI, tmp_path: Path
) -> None:
    previous_version_database(tmp_path / "bot.db", calls=3)
    (tmp_path / "disk").write_text("a file where BACKUP_DIR's parent should be")
    process = await start_bot(sandbox, tg.url, tmp_path, BACKUP_DIR=str(tmp_path / "disk" / "backups"))
    try:
        output = (await asyncio.wait_for(process.communicate(), 60))[0].decode()
    finally:
        await kill(process)
    assert process.returncode == 1, output
    assert f"The database was left unmigrated: its backup failed ([Errno 20] Not a directory: '{tmp_path}" in output
    assert "Traceback" not in output
    assert rows(tmp_path / "bot.db", "SELECT max(number) FROM _migrations") == [(latest_version() - 1,)]
