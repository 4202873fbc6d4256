"""Scheduled backups of the running bot: every ``BACKUP_EVERY_HOURS`` into ``BACKUP_DIR`` (unset: none), the
``BACKUP_KEEP`` newest kept and older scheduled ones removed (never another file). Each is taken by
``storage.backup`` in a thread of its own, on its own connection and in steps, so the event loop never waits for it.

A failure is logged every time and told to the admins once per failing episode: the episode is kept in the kv table,
so a restart repeats it to nobody. The first backup that succeeds after it ends the episode and says so."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from telegram import Bot
from telegram.error import Forbidden, TelegramError

from bot import jobs
from bot.services import Services
from bot.texts import Html, Texts
from storage import backup

if TYPE_CHECKING:
    from bot.context import App, Context

log = logging.getLogger(__name__)

JOB_NAME = "backup"
FIRST_BACKUP = 60.0  # seconds after a start at the soonest (unless the interval is shorter): after its own work
FAILING = "backup.failing"  # kv: the failure the admins were told of ({"since", "error"}), until a backup succeeds


class _Stopped(Exception):
    """The bot is stopping: the backup under way is given up (its temporary file removed)."""


class Backups:
    def __init__(self, svc: Services, directory: Path) -> None:
        self._svc = svc
        self._directory = directory
        self._stopping = threading.Event()  # seen by the worker thread between two steps
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="backup")
        self._round: asyncio.Task[None] | None = None

    async def job(self, context: Context) -> None:
        """The JobQueue callback. It starts a round and returns: the job queue's stop waits for the jobs it runs, and a
        long backup must not hold up a stop (``stop()`` gives it up)."""
        if self._round is not None and not self._round.done():
            log.warning("The previous scheduled backup is still running: this one is skipped")
            return
        self._round = asyncio.create_task(jobs.logged("Scheduled backup", self.run(context.bot)), name=JOB_NAME)

    async def run(self, bot: Bot, now: int | None = None) -> backup.Backup | None:
        """One backup (``now``: the clock, for tests), the old ones pruned, the admins told of a change of state."""
        at = int(time.time()) if now is None else now
        try:
            made = await asyncio.get_running_loop().run_in_executor(self._worker, self._take, at)
        except _Stopped:
            log.info("The scheduled backup under way was given up: the bot is stopping")
            return None
        except backup.BackupFailed as error:
            log.error("Scheduled backup into %s failed: %s", self._directory, error)
            await self._failed(bot, str(error), at)
            return None
        log.info("Scheduled backup: %s (%.1f MB, schema %d)", made.path, made.bytes / 1e6, made.schema)
        await self._succeeded(bot, made)
        return made

    async def stop(self) -> None:
        """Give up the backup under way (at its next step) and wait for it."""
        self._stopping.set()
        if self._round is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._round
        self._worker.shutdown(wait=False)

    def _take(self, at: int) -> backup.Backup:
        settings = self._svc.settings
        return take(settings.database_path, self._directory, settings.backup_keep, at, self._check_stop)

    def _check_stop(self, remaining: int, total: int) -> None:
        if self._stopping.is_set():
            raise _Stopped

    async def _failed(self, bot: Bot, error: str, at: int) -> None:
        kv = self._svc.storage.kv
        if kv.get(FAILING) is not None:
            return  # the admins know already
        hours = f"{self._svc.settings.backup_every_hours:g}"

        def render(texts: Texts) -> Html:
            return texts("backup_failed", directory=self._directory, error=error, hours=hours)

        if await self._tell(bot, render):
            kv.set(FAILING, {"since": at, "error": error}, now=at)

    async def _succeeded(self, bot: Bot, made: backup.Backup) -> None:
        kv = self._svc.storage.kv
        if kv.get(FAILING) is None:
            return
        await self._tell(bot, lambda texts: texts("backup_works_again", path=made.path))
        kv.delete(FAILING)

    async def _tell(self, bot: Bot, render: Callable[[Texts], Html]) -> bool:
        """Each active admin, privately in their language; True when it counts as told: anyone got it, or everyone
        refused the bot for good. Otherwise (Telegram down) the next failure tells it."""
        svc = self._svc
        delivered = refused = failed = 0
        for admin in svc.storage.users.list(active_only=True):
            if not admin.is_admin:
                continue
            try:
                await bot.send_message(admin.telegram_id, render(Texts(admin.language or svc.settings.bot_language)))
            except Forbidden as error:
                log.info("Backup news to %s refused for good (%s)", admin.telegram_id, error)
                refused += 1
            except TelegramError as error:
                log.warning("Backup news to %s not delivered (%s)", admin.telegram_id, error)
                failed += 1
            else:
                delivered += 1
        return delivered > 0 or (refused > 0 and failed == 0)


def take(database: Path, directory: Path, keep: int, at: int, progress: backup.Progress) -> backup.Backup:
    """One scheduled backup and the pruning after it, as the worker thread takes them (``bench/backup.py`` too)."""
    made = backup.take(database, backup.named(database, directory, at, scheduled=True), now=at, progress=progress)
    try:
        for removed in backup.prune(directory, database, keep):
            log.info("Removed the scheduled backup %s (BACKUP_KEEP=%d)", removed, keep)
    except OSError as error:  # the new backup stands; the next round tries again
        log.warning("Old scheduled backups were not removed (%s)", error)
    return made


def start(application: App) -> Backups | None:
    """Schedule the backups; None when ``BACKUP_DIR`` is unset. The first comes an interval after the newest scheduled
    backup in BACKUP_DIR (a restart does not put it off), at the soonest ``FIRST_BACKUP`` after the start."""
    svc = application.bot_data.need_services()
    settings = svc.settings
    if settings.backup_dir is None:
        return None
    backups = Backups(svc, settings.backup_dir)
    every = settings.backup_every_hours * 3600
    first = min(FIRST_BACKUP, every)
    for newest in backup.scheduled_backups(settings.backup_dir, settings.database_path)[-1:]:
        with contextlib.suppress(OSError):  # pruned meanwhile
            first = max(first, newest.stat().st_mtime + every - time.time())
    jobs.every(application, backups.job, every, first=first, name=JOB_NAME)
    return backups
