"""The bot's one HTTP server (aiohttp): Telegram's webhook in webhook mode, and New-Tel's doorbell.

New-Tel can push call events to a URL ("Webhook-оповещения" in its personal account), but its document does not
say what they hold. So a request to ``POST /newtel/<NEWTEL_EVENTS_SECRET>`` is only a doorbell: it makes the live
watch look now (at most once a second however many arrive), and its body is never read, let alone trusted. Any
other path, a wrong secret included, is 404 and changes nothing.

In webhook mode the same application takes Telegram's updates (checked against the webhook's secret token) into
PTB's update queue, as PTB's custom-webhook example does; when polling Telegram it listens on NEWTEL_EVENTS_PORT.

Whoever reaches the port must not be able to stop the bot (316 idle connections once took every file descriptor:
no command answered, no missed call alerted). So a connection must send its request's headers within
REQUEST_SECONDS of connecting (aiohttp's keep-alive timer, which also runs before the first request) and a body
within as much again; request lines and headers are small; the server holds at most MAX_CONNECTIONS connections,
fewer if the process's descriptor limit would leave the bot's own connections (Telegram, New-Tel) less than
RESERVED_DESCRIPTORS; the rest wait in the kernel's backlog, costing the bot nothing. A malformed request is one
INFO line, never a traceback.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import resource
import socket
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from telegram import Update

log = logging.getLogger(__name__)

DOORBELL = "/newtel/{secret}"
TELEGRAM_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_UPDATE_BYTES = 1_048_576  # Telegram's updates are a few KB; nobody else gets to post more
REQUEST_SECONDS = 5.0  # for a request's headers (from the connection or the previous answer), then for its body
# Telegram opens at most 100 connections to a webhook (setWebhook's max_connections, 40 unless set), New-Tel a few.
MAX_CONNECTIONS = 100
# Descriptors kept for everything else: PTB's pool to Telegram (up to 256), New-Tel's (100), SQLite, logs.
RESERVED_DESCRIPTORS = 512
MIN_CONNECTIONS = 8  # even on a tiny descriptor limit the doorbell and the webhook are served, a few at a time
BACKLOG = 128  # connections past the cap wait here, in the kernel, until one of the held ones closes
# A request line is a method, a path (the doorbell's holds a 256-character secret at most) and a version;
# Telegram sends a handful of headers, a reverse proxy adds a few.
MAX_LINE_BYTES, MAX_HEADER_BYTES, MAX_HEADERS = 2048, 4096, 32


def make_app(
    doorbell: tuple[str, Callable[[], None]] | None = None,
    telegram: tuple[str, str, Any] | None = None,
) -> web.Application:
    """``doorbell``: (secret, ring); ``telegram``: (path, secret token, the PTB application)."""
    app = web.Application(client_max_size=MAX_UPDATE_BYTES)
    if doorbell is not None:
        secret, ring = doorbell

        async def rang(request: web.Request) -> web.Response:
            if not hmac.compare_digest(request.match_info["secret"].encode(), secret.encode()):
                raise web.HTTPNotFound()
            ring()
            return web.Response(status=204)

        app.router.add_post(DOORBELL, rang)
    if telegram is not None:
        path, token, application = telegram

        async def update(request: web.Request) -> web.Response:
            given = request.headers.get(TELEGRAM_SECRET_HEADER, "")
            if not hmac.compare_digest(given.encode(), token.encode()):
                raise web.HTTPForbidden()
            try:
                async with asyncio.timeout(REQUEST_SECONDS):
                    payload = await request.json()
            except TimeoutError:
                raise web.HTTPRequestTimeout() from None
            except Exception:  # malformed JSON, or more than MAX_UPDATE_BYTES: Telegram never sends such
                raise web.HTTPBadRequest() from None
            try:
                found = Update.de_json(payload, application.bot)
            except Exception:  # not an update
                raise web.HTTPBadRequest() from None
            if found is not None:
                await application.update_queue.put(found)
            return web.Response()

        app.router.add_post("/" + path.lstrip("/"), update)
    return app


async def serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Listen on host:port; ``await runner.cleanup()`` stops it."""
    runner = web.AppRunner(
        app,
        access_log=None,  # the doorbell's URL holds its secret: no access log
        logger=_RequestLog(logging.getLogger("aiohttp.server"), {}),
        keepalive_timeout=REQUEST_SECONDS,  # in aiohttp >= 3.14.5 it also bounds the wait for the first request
        lingering_time=REQUEST_SECONDS,  # a body the doorbell leaves unread is drained this long at most
        max_line_size=MAX_LINE_BYTES,
        max_field_size=MAX_HEADER_BYTES,
        max_headers=MAX_HEADERS,
    )
    await runner.setup()
    site = _CappedSite(runner, host, port, _connection_cap())
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


def _connection_cap() -> int:
    """MAX_CONNECTIONS, or fewer when the soft limit on open files leaves less room beside RESERVED_DESCRIPTORS."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft - RESERVED_DESCRIPTORS >= MAX_CONNECTIONS:
        return MAX_CONNECTIONS
    cap = max(MIN_CONNECTIONS, soft - RESERVED_DESCRIPTORS)
    log.warning("The limit on open files (%d) leaves the bot's HTTP server %d connections at a time", soft, cap)
    return cap


def raise_open_files_limit() -> None:
    """At start-up: the soft limit on open files up to the hard one (often 1024 of 4096 or more), so that the bot's
    own connections have room whatever else holds descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as error:  # some platforms cap it lower than they say (macOS: OPEN_MAX)
            log.info("The limit on open files stays at %d (%s)", soft, error)


class _CappedSite(web.BaseSite):
    """aiohttp's TCPSite, but accepting only while fewer than ``cap`` connections are open. asyncio's own accept loop
    takes all the kernel offers and, out of descriptors, logs each failed accept with a traceback."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, cap: int) -> None:
        super().__init__(runner, backlog=BACKLOG)
        self._host, self._port, self._cap = host, port, cap
        self._listening: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        self._listening = socket.create_server((self._host, self._port), family=family, backlog=BACKLOG)
        self._listening.setblocking(False)
        server = self._runner.server
        assert server is not None
        self._accepting = asyncio.create_task(self._accept(self._listening, server), name=f"accept {self.name}")

    async def stop(self) -> None:
        if self._accepting is not None:
            self._accepting.cancel()
            await asyncio.gather(self._accepting, return_exceptions=True)
        if self._listening is not None:
            self._listening.close()
        await super().stop()  # the connections themselves are closed by the runner's cleanup

    async def _accept(self, listening: socket.socket, server: web.Server) -> None:
        loop = asyncio.get_running_loop()
        free = asyncio.Semaphore(self._cap)
        while True:
            await free.acquire()
            try:
                connection, _ = await loop.sock_accept(listening)
            except OSError as error:  # EMFILE and the like: the process is out of descriptors, for now
                free.release()
                log.warning("Not accepting connections for a second: %s", error)
                await asyncio.sleep(1)
                continue
            except BaseException:
                free.release()
                raise
            slot = _Slot(server(), free.release)
            try:
                await loop.connect_accepted_socket(lambda: slot, connection)  # noqa: B023 (awaited here)
            except OSError as error:  # the peer went before it was set up
                log.debug("A connection closed before it was served: %s", error)
                connection.close()
                slot.free()


class _Slot(asyncio.Protocol):
    """aiohttp's protocol for one connection, passed everything; the connection's place is freed when it closes."""

    def __init__(self, served: asyncio.Protocol, free: Callable[[], None]) -> None:
        self._served, self._free = served, free
        self._freed = False

    def free(self) -> None:
        if not self._freed:
            self._freed = True
            self._free()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._served.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._served.data_received(data)

    def eof_received(self) -> bool | None:
        return self._served.eof_received()

    def pause_writing(self) -> None:
        self._served.pause_writing()

    def resume_writing(self) -> None:
        self._served.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        try:
            self._served.connection_lost(exc)
        finally:
            self.free()


class _RequestLog(logging.LoggerAdapter[logging.Logger]):
    """aiohttp.server's log as the bot's server passes it: a malformed request (anyone can send one) is one INFO line
    naming the error, without the traceback aiohttp gives it at ERROR; a handler's own failure keeps both."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        error = kwargs.get("exc_info")
        if isinstance(error, HttpProcessingError):
            level, msg, args = min(level, logging.INFO), f"{msg}: %s", (*args, type(error).__name__)
            kwargs["exc_info"] = None
        super().log(level, msg, *args, **kwargs)
