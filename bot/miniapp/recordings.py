"""A call's recording in the page's ``<audio>``: ``GET /app/api/recording/<call id>?t=``, streamed through the bot.

Who may hear it and where it comes from are ``/record``'s rules (``bot.calls.commands.record``): any manager, a call
the archive holds that was answered; Telegram's copy when a chat subscribed with "records" kept one, else New-Tel's
link within the 24 hours New-Tel keeps it, fetched by the client's ``download`` (only to ``NEWTEL_RECORDING_HOSTS``,
each redirect checked before it connects, TLS verified, at most 50 MB, the loop never held) and audited as
``record.fetch``.

A browser's player asks for ranges: the start, then wherever it seeks. Those are answered from a copy on disk, not
by forwarding each Range to New-Tel: New-Tel's document promises no range requests at its file host, and every link
costs a request of the API (within the shared request limit, seconds away when the jobs are busy). So each recording
is fetched once into a private folder (``RecordingCache``) and aiohttp's ``FileResponse`` answers every request from
it (``Accept-Ranges: bytes``, 206 with ``Content-Range``, 416, ``If-Range``, sent with ``sendfile``). The folder holds
at most ``CACHE_BYTES``, each recording ``KEEP`` seconds after its last request (a link's life), and is removed when
the bot stops. A copy is served only while the archive holds its call: after ``/forget`` a link finds nothing.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import shutil
import tempfile
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from telegram import File
from telegram.error import TelegramError

import newtel
from bot.calllog.recordings import MAX_UPLOAD, NEWTEL_KEEPS
from bot.formatting import moment
from bot.miniapp import auth
from bot.miniapp.api import ASKER, ApiError, Asker
from storage import CallRecord

log = logging.getLogger(__name__)

Recording = bytes | bytearray  # as New-Tel's download and Telegram's give it

routes = web.RouteTableDef()  # paths relative to /app (bot.miniapp.server mounts it)

CACHE_BYTES = 200 * 1024 * 1024  # on disk at once, all recordings together
KEEP = auth.LINK_SECONDS  # seconds a copy is kept after its last request
TELEGRAM_DOWNLOAD_LIMIT = 20 * 1024 * 1024  # getFile's: a bigger copy is asked of New-Tel instead
DOWNLOAD_TIMEOUT = 120  # seconds for a whole recording from New-Tel
# Recordings fetched at once: each costs requests of New-Tel's shared budget and up to 50 MB; the rest wait their turn.
MAX_DOWNLOADS = 3
# What the bytes are, by their first ones (New-Tel's recordings are WAV; a link may serve MP3): the player needs it.
_KINDS = ((b"RIFF", "audio/wav"), (b"ID3", "audio/mpeg"), (b"\xff\xfb", "audio/mpeg"), (b"OggS", "audio/ogg"))


def path_of(vpbx_id: str) -> str:
    """The recording's path under /app (what a link is signed for)."""
    return f"/api/recording/{vpbx_id}"


def may_have_recording(call: CallRecord, kept: bool, now: int) -> bool:
    """Whether a recording of ``call`` can be played: it was answered and is over, and Telegram keeps a copy
    (``kept``) or New-Tel still has it."""
    if call.active or call.answered_at is None:
        return False
    return kept or now - call.started_at <= NEWTEL_KEEPS


def links(asker: Asker, calls: list[CallRecord]) -> dict[str, str]:
    """A link for each of ``calls`` whose recording can be played, for ``asker`` alone."""
    svc, now = asker.services, int(time.time())
    kept = svc.storage.recordings.kept(c.vpbx_id for c in calls)
    return {
        call.vpbx_id: asker.link(path_of(call.vpbx_id))
        for call in calls
        if may_have_recording(call, call.vpbx_id in kept, now)
    }


@dataclass
class _Copy:
    path: Path
    size: int
    content_type: str
    used: float  # time.monotonic() of its last request
    heard_by: set[int] = field(default_factory=set)  # users whose listening is audited already
    readers: int = 0  # responses made of it that have not sent it yet
    dropped: bool = False  # out of the cache: its file goes when no response is left to send it

    def drop(self) -> None:
        self.dropped = True
        if self.readers == 0:
            self.path.unlink(missing_ok=True)

    def release(self) -> None:
        self.readers -= 1
        if self.dropped:
            self.drop()


class _CopyResponse(web.FileResponse):
    """A copy's file, held from the handler's answer until sent: a copy dropped meanwhile (the bound, its time,
    /forget) would otherwise lose its file before the response opens it."""

    def __init__(self, copy: _Copy, headers: dict[str, str]) -> None:
        super().__init__(copy.path, headers=headers)
        copy.readers += 1
        self._release = weakref.finalize(self, copy.release)  # once: when sent, or when never sent (a request gone)

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        try:
            return await super().prepare(request)
        finally:
            self._release()


class RecordingCache:
    """Recordings fetched for the page, each in a file of a private folder, least recently asked for dropped first,
    none kept past ``keep`` seconds unasked. A recording asked for by several requests at once is fetched once."""

    def __init__(self, max_bytes: int = CACHE_BYTES, keep: float = KEEP) -> None:
        self._max_bytes, self._keep = max_bytes, keep
        self._folder: Path | None = None  # made at the first recording (mode 0700)
        self._copies: OrderedDict[str, _Copy] = OrderedDict()
        self._fetching: dict[str, asyncio.Task[_Copy | None]] = {}
        self._downloads = asyncio.Semaphore(MAX_DOWNLOADS)
        self._sweep: asyncio.TimerHandle | None = None
        self._serial = itertools.count()  # a file's name: a fetch anew never writes over a dropped copy still sent

    @property
    def size(self) -> int:
        return sum(copy.size for copy in self._copies.values())

    async def get(self, vpbx_id: str, fetch: Callable[[], Awaitable[Recording | None]]) -> _Copy | None:
        """The copy of ``vpbx_id``'s recording, fetched with ``fetch`` (its bytes, None: none to play) if there is
        none yet; ``fetch``'s errors are raised to every request waiting for it."""
        copy = self._copies.get(vpbx_id)
        if copy is None:
            task = self._fetching.get(vpbx_id)
            if task is None:  # a task of its own: a request that goes away does not stop the others' fetch
                task = self._fetching[vpbx_id] = asyncio.create_task(self._fetch(vpbx_id, fetch))
                task.add_done_callback(lambda done: self._fetched(vpbx_id, done))
            copy = await asyncio.shield(task)
            if copy is None:
                return None
        copy.used = time.monotonic()
        self._copies.move_to_end(vpbx_id)
        self._arm()
        return copy

    async def _fetch(self, vpbx_id: str, fetch: Callable[[], Awaitable[Recording | None]]) -> _Copy | None:
        async with self._downloads:
            data = await fetch()
        if data is None:
            return None
        kind = next((kind for magic, kind in _KINDS if data.startswith(magic)), "application/octet-stream")
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="miniapp-recordings-"))
        path = self._folder / f"{vpbx_id}.{next(self._serial)}"
        await asyncio.to_thread(path.write_bytes, data)  # 50 MB would hold the loop for tens of ms
        path.chmod(0o600)
        copy = self._copies[vpbx_id] = _Copy(path, len(data), kind, time.monotonic())
        self._evict(keep=vpbx_id)
        return copy

    def _fetched(self, vpbx_id: str, done: asyncio.Task[_Copy | None]) -> None:
        del self._fetching[vpbx_id]
        if not done.cancelled():
            done.exception()  # retrieved: raised to whoever waits, and nobody may wait any more

    def response(self, copy: _Copy, headers: dict[str, str] | None = None) -> web.FileResponse:
        """``copy`` sent (with Range, conditional requests, ``sendfile``), its file kept until then."""
        return _CopyResponse(copy, headers or {})

    def forget(self, vpbx_id: str) -> None:
        """Drop ``vpbx_id``'s copy, if any (its call left the archive)."""
        if (copy := self._copies.pop(vpbx_id, None)) is not None:
            copy.drop()

    def _evict(self, keep: str | None = None) -> None:
        """Drop the copies unasked for ``keep`` seconds, then the least recently asked for while over the bound."""
        now, total = time.monotonic(), self.size
        for vpbx_id, copy in list(self._copies.items()):
            if vpbx_id != keep and (now - copy.used > self._keep or total > self._max_bytes):
                total -= copy.size
                self.forget(vpbx_id)

    def _arm(self) -> None:
        """Look again when the oldest copy's time is up, so that none outlives it while nobody asks."""
        if self._sweep is not None:
            self._sweep.cancel()
        self._sweep = None
        if self._copies:
            oldest = next(iter(self._copies.values()))
            wait = max(0.0, oldest.used + self._keep - time.monotonic()) + 1
            self._sweep = asyncio.get_running_loop().call_later(wait, self._swept)

    def _swept(self) -> None:
        self._sweep = None
        self._evict()
        self._arm()

    def close(self) -> None:
        """Remove every copy and the folder (the bot stops)."""
        if self._sweep is not None:
            self._sweep.cancel()
        for task in self._fetching.values():
            task.cancel()
        self._copies.clear()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


CACHE = web.AppKey("recording_cache", RecordingCache)


def attach(app: web.Application) -> None:
    """Give the Mini App's ``app`` its cache, removed with it."""
    cache = app[CACHE] = RecordingCache()

    async def removed(_: web.Application) -> None:
        cache.close()

    app.on_cleanup.append(removed)


@routes.get("/api/recording/{vpbx_id}")
async def recording(request: web.Request) -> web.StreamResponse:
    asker = request[ASKER]
    svc, vpbx_id = asker.services, request.match_info["vpbx_id"]
    call = svc.storage.calls.get(vpbx_id) if newtel.is_vpbx_id(vpbx_id) else None
    file_id = svc.storage.recordings.file_id(vpbx_id) if call is not None else None
    cache = request.app[CACHE]
    if call is None or not may_have_recording(call, file_id is not None, int(time.time())):
        cache.forget(vpbx_id)  # forgotten (/forget) or past its time: its copy goes now, not in 10 minutes
        raise ApiError(404, "not_found", _no_recording(asker, call))
    copy = await cache.get(vpbx_id, lambda: _fetch(asker, call, file_id))
    if copy is None:
        raise ApiError(404, "not_found", asker.say("app_recording_too_big", id=vpbx_id))
    if asker.user.telegram_id not in copy.heard_by:  # audited once a listener, as /record is once a request
        svc.storage.audit.log(
            "record.fetch", actor_id=asker.user.telegram_id, target=vpbx_id, details={"origin": "app"},
            now=int(time.time()),
        )  # fmt: skip
        copy.heard_by.add(asker.user.telegram_id)
    # The API's no-store: a customer's voice is not left in the phone's cache (after /forget, say).
    return cache.response(copy, {"Content-Type": copy.content_type})


def _no_recording(asker: Asker, call: CallRecord | None) -> str:
    """Why there is nothing to play, in /record's words."""
    if call is not None and call.answered_at is not None and not call.active:
        now, zone = datetime.now(UTC), asker.services.settings.zone
        when = moment(datetime.fromtimestamp(call.started_at, UTC), zone, asker.texts.lang, now)
        return asker.say("record_gone", when=when)
    return asker.say("newtel_no_record")


async def _fetch(asker: Asker, call: CallRecord, file_id: str | None) -> Recording | None:
    """The recording's bytes as ``/record`` finds it: Telegram's copy first, else New-Tel's link (while New-Tel keeps
    it); None when it is too big to play here."""
    svc = asker.services
    if file_id is not None:
        try:
            found: File = await asker.application.bot.get_file(file_id)
            if (found.file_size or 0) <= TELEGRAM_DOWNLOAD_LIMIT:
                return await found.download_as_bytearray()  # not copied into bytes: 20 MB would hold the loop
        except TelegramError as error:  # lost, too big: New-Tel may still have it
            log.info("Telegram's copy of the recording of %s not fetched (%s)", call.vpbx_id, error)
    if time.time() - call.started_at > NEWTEL_KEEPS:
        raise ApiError(404, "not_found", _no_recording(asker, call))
    try:
        link = await svc.newtel.vpbx.get_call_record_link(call.vpbx_id)
        return await svc.newtel.download(link, max_bytes=MAX_UPLOAD, timeout=DOWNLOAD_TIMEOUT)
    except newtel.LinkRefused as error:  # never its link: it may be all that protects the file
        log.warning("New-Tel's link to the recording of %s is refused (%s)", call.vpbx_id, error.message)
        raise ApiError(404, "not_found", asker.say("newtel_no_record")) from None
    except newtel.RecordNotFound:
        raise ApiError(404, "not_found", asker.say("newtel_no_record")) from None
