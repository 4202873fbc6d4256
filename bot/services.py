"""What the handlers and jobs depend on, created once in ``post_init`` and closed in ``post_shutdown``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import aiohttp

from bot.calllog.ingest import Ingest
from bot.config import Settings
from bot.monitor import Monitor
from bot.texts import Texts
from newtel import CompanyNumbers, Member, NewtelClient, NewtelError
from storage import DatabaseBusy, Storage
from storage.kv import KV

log = logging.getLogger(__name__)

_DIRECTORY_TTL = 60.0  # seconds; members and numbers change rarely, commands ask often
# A command waits this long at most for the member list its access is checked against, then goes by the last list
# while the fetch finishes in the background: a slow New-Tel must not add to the NEWTEL_COMMAND_DEADLINE a command has.
ACCESS_WAIT = 0.25
# Strangers' access requests read the member list (to match a shared phone): a list up to this old will do, and
# a cold one is fetched for them at most once per this many seconds overall, however many strangers ask.
STRANGERS_MEMBERS_AGE = 600.0
_MEMBER_IDS = "directory.member_ids"  # kv: the ids of the last member list New-Tel gave, for access after a restart


def _ids(members: list[Member]) -> frozenset[str]:
    return frozenset(str(m.id) for m in members)


@dataclass
class Directory:
    """The company's members and numbers, cached briefly so each command costs one New-Tel call less."""

    client: NewtelClient
    kv: KV  # keeps the ids of the last member list across restarts
    ttl: float = _DIRECTORY_TTL  # seconds a list is used before New-Tel is asked again
    _members: tuple[float, list[Member]] | None = field(default=None, repr=False)
    _numbers: tuple[float, CompanyNumbers] | None = field(default=None, repr=False)
    _strangers_fetch: float = field(default=-STRANGERS_MEMBERS_AGE, repr=False)
    _refresh: asyncio.Task[None] | None = field(default=None, repr=False)  # access's fetch of the members, if one runs
    _refresh_failed: float = field(default=-math.inf, repr=False)  # when it last failed
    _kept_ids: frozenset[str] | None = field(default=None, repr=False)  # as ``kv`` has them, once read or written
    # One fetch of each at a time: users asking at once after the cache expired share one New-Tel request.
    _members_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    _numbers_lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    async def members(self) -> list[Member]:
        """The members as New-Tel lists them, at most ``ttl`` old; New-Tel's error when it cannot say."""
        async with self._members_lock:
            if self._members is None or time.monotonic() - self._members[0] > self.ttl:
                self._members = (time.monotonic(), await self.client.company.get_members())
                self._keep_ids(self._members[1])
            return self._members[1]

    async def known_member_ids(self) -> frozenset[str] | None:
        """The ids of the members to decide access by: of a list at most ``ttl`` old when New-Tel answers within
        ``ACCESS_WAIT``, else of the last list it gave, before a restart too (None before any ever). One fetch for
        everyone asking, and after a failed one none for ``ttl``: an outage locks nobody out, nor makes each command
        wait, and a restart lets in nobody the last list left out."""
        now = time.monotonic()
        if self._members is not None and now - self._members[0] <= self.ttl:
            return _ids(self._members[1])
        if self._refresh is None and now - self._refresh_failed > self.ttl:
            self._refresh = asyncio.create_task(self._refresh_members(), name="refresh-members")
        if self._refresh is not None:
            await asyncio.wait([self._refresh], timeout=ACCESS_WAIT)  # waiting for it does not cancel it
        return _ids(self._members[1]) if self._members is not None else self._kept()

    def _kept(self) -> frozenset[str] | None:
        if self._kept_ids is None and (stored := self.kv.get(_MEMBER_IDS)) is not None:
            self._kept_ids = frozenset(stored)
        return self._kept_ids

    def _keep_ids(self, members: list[Member]) -> None:
        ids = _ids(members)
        if ids == self._kept():
            return
        try:
            self.kv.set(_MEMBER_IDS, sorted(ids), now=int(time.time()))
        except sqlite3.Error as error:  # the list serves all the same; a later one is kept
            if not isinstance(error, DatabaseBusy):  # (a lock the storage has warned of)
                log.warning("The member list was not kept for after a restart: %s", error)
            return
        self._kept_ids = ids

    async def _refresh_members(self) -> None:
        try:
            await self.members()
        except NewtelError as error:
            self._refresh_failed = time.monotonic()
            log.warning("Members unavailable: access goes by the last list (%s: %s)", type(error).__name__, error)
        except Exception:  # nobody awaits this task: what went wrong is said here, and tried again after ``ttl``
            self._refresh_failed = time.monotonic()
            log.exception("Members not refreshed")
        finally:
            self._refresh = None

    async def close(self) -> None:
        if self._refresh is not None:
            self._refresh.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresh

    async def members_for_strangers(self) -> list[Member] | None:
        """The members for a stranger's access request, within its budget (``STRANGERS_MEMBERS_AGE``); None when
        there is no list to be had (over budget with a cold cache, or New-Tel failing): the request goes on
        without a member match."""
        now = time.monotonic()
        if self._members is not None and now - self._members[0] <= STRANGERS_MEMBERS_AGE:
            return self._members[1]
        if now - self._strangers_fetch < STRANGERS_MEMBERS_AGE:
            return None
        self._strangers_fetch = now
        try:
            return await self.members()
        except NewtelError as error:
            log.warning("Members unavailable for an access request (%s: %s)", type(error).__name__, error)
            return None

    async def numbers(self) -> CompanyNumbers:
        async with self._numbers_lock:
            if self._numbers is None or time.monotonic() - self._numbers[0] > self.ttl:
                self._numbers = (time.monotonic(), await self.client.company.get_numbers())
            return self._numbers[1]


@dataclass
class Services:
    settings: Settings
    storage: Storage
    newtel: NewtelClient  # for a person waiting: first in the request limit, all retries within NEWTEL_COMMAND_DEADLINE
    background: NewtelClient  # for the jobs: the same session and clock, more patience
    http: aiohttp.ClientSession  # one session: New-Tel requests and recording downloads
    directory: Directory
    ingest: Ingest  # every call observed, by the poll or a command, enters the archive here
    # Reports and digests add up the archive in threads of their own: a month's takes seconds, and must hold neither
    # the loop nor the default executor other features' short work (a file's parse) runs in. An export runs in a
    # process of its own (its GIL and collections never hold the loop); this one thread waits for it, so that exports
    # take turns and never hold up a report or a digest.
    report_workers: ThreadPoolExecutor
    export_worker: ThreadPoolExecutor
    monitor: Monitor  # the metrics the features feed (bot.monitor)

    @classmethod
    async def create(cls, settings: Settings, monitor: Monitor | None = None) -> Services:
        """``monitor``: the Application's (its rate limiter feeds it too); a new one when none is given."""
        monitor = monitor or Monitor()
        storage = Storage.open(settings.database_path, backup_dir=settings.backup_dir)  # a migration backs it up
        now = int(time.time())
        for demoted in storage.users.sync_admins(settings.admin_ids, now=now):
            log.warning("User %s is no longer in ADMIN_IDS: admin rights removed", demoted)
            storage.audit.log("user.demote", actor_id=None, target=demoted, now=now)
        http = aiohttp.ClientSession()
        background = NewtelClient(
            settings.newtel_access_key,
            settings.newtel_signing_key,
            settings.newtel_api_url,
            session=http,
            timeout=settings.newtel_timeout,
            max_rps=settings.newtel_max_rps,  # one limit for the jobs, the live watch and every command together
            link_hosts=settings.newtel_recording_hosts,
            observer=monitor.newtel_answered,  # its views, ``people`` below, share it
        )
        # A person waits on these: they take the limit's turns before the jobs' requests waiting.
        people = background.with_options(deadline=settings.newtel_command_deadline, urgent=True)
        ingest = Ingest(storage, settings.call_retention_days)
        return cls(
            settings,
            storage,
            people,
            background,
            http,
            Directory(people, storage.kv),
            ingest,
            report_workers=ThreadPoolExecutor(max_workers=2, thread_name_prefix="report"),
            export_worker=ThreadPoolExecutor(max_workers=1, thread_name_prefix="export"),
            monitor=monitor,
        )

    def chat_texts(self, chat_id: int) -> Texts:
        """The language a group chat's alerts are in: the one an admin set there, else the bot's."""
        chat = self.storage.chats.get(chat_id)
        return Texts((chat.language if chat else None) or self.settings.bot_language)

    async def close(self) -> None:
        # A report still running finishes on its own connection; those still waiting are dropped.
        for workers in (self.report_workers, self.export_worker):
            workers.shutdown(wait=False, cancel_futures=True)
        await self.directory.close()
        await self.background.close()
        await self.http.close()
        self.storage.close()
