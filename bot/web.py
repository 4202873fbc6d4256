"""The bot's HTTP servers (aiohttp): Telegram's webhook in webhook mode and New-Tel's doorbell, which may face the
internet; apart from them, on a listener of its own (MONITOR_LISTEN, loopback by default), ``GET /healthz`` (200 or
503, with a short JSON) and ``GET /metrics`` (Prometheus' text format) from ``bot.monitor``. Both are served alike.

New-Tel can push call events to a URL ("Webhook-оповещения" in its personal account), but its document does not
say what they hold. So a request to ``POST /newtel/<NEWTEL_EVENTS_SECRET>`` is only a doorbell: it makes the live
watch look now (at most once a second however many arrive), and its body is never read, let alone trusted. Any
other path, a wrong secret included, is 404 and changes nothing.

In webhook mode the same application takes Telegram's updates (checked against the webhook's secret token) into
PTB's update queue, as PTB's custom-webhook example does; when polling Telegram it listens on NEWTEL_EVENTS_PORT.

Whoever reaches the port must not be able to stop the bot (316 idle connections once took every file descriptor:
no command answered, no missed call alerted), nor delay Telegram or New-Tel. So a connection must send its request's
headers within HEADERS_SECONDS of connecting (aiohttp's keep-alive timer, which also runs before the first request)
and its body within BODY_SECONDS; request lines and headers are small. The server holds at most MAX_CONNECTIONS
connections (fewer if the process's descriptor limit would leave the bot's own connections, to Telegram and New-Tel,
less than RESERVED_DESCRIPTORS). Past it, a newcomer takes the place of an idle connection (one not in a request's
handler: connected and silent, half a request sent, or kept alive between requests), the oldest of the address that
holds the most: so it is served at once however many idle ones are opened, and an address that floods displaces
its own first. Only when every one is busy does it wait in the kernel's backlog. (No fixed share per address: behind
a reverse proxy every connection comes from the proxy's.) A malformed request is one INFO line, never a traceback.
"""

from __future__ import annotations

import asyncio
import errno
import hmac
import ipaddress
import logging
import resource
import socket
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client.aiohttp import make_aiohttp_handler
from telegram import Update

if TYPE_CHECKING:
    from bot.monitor import Monitor

log = logging.getLogger(__name__)

DOORBELL = "/newtel/{secret}"
MINIAPP_PREFIX = "/app"
TELEGRAM_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_UPDATE_BYTES = 1_048_576  # Telegram's updates are a few KB; nobody else gets to post more
HEADERS_SECONDS = 2.0  # for a request's headers, from connecting or from the previous answer (a proxy sends at once)
BODY_SECONDS = 5.0  # then for its body
# Telegram opens at most 100 connections to a webhook (setWebhook's max_connections, 40 unless set), New-Tel a few;
# behind a reverse proxy they all come from the proxy's address, and each is busy for milliseconds.
MAX_CONNECTIONS = 100
# Descriptors kept for everything else: PTB's pool to Telegram (up to 256), New-Tel's (100), SQLite, logs.
RESERVED_DESCRIPTORS = 512
MIN_CONNECTIONS = 8  # even on a tiny descriptor limit the doorbell and the webhook are served, a few at a time
# Connections not taken yet wait here, in the kernel (up to net.core.somaxconn), at no cost to the bot: under a flood
# of them a newcomer's handshake is queued rather than dropped (a dropped SYN is sent again only a second later).
BACKLOG = 1024
# A request line is a method, a path (the doorbell's holds a 256-character secret at most) and a version;
# Telegram sends a handful of headers, a reverse proxy adds a few.
MAX_LINE_BYTES, MAX_HEADER_BYTES, MAX_HEADERS = 2048, 4096, 32


_SERVES = web.AppKey("serves", list[str])  # what the app answers, for the start-up line
_LISTEN = web.AppKey("listen", str)  # the setting that says where it listens
_ON_LOOPBACK = web.AppKey("on_loopback", str)  # what listening on loopback only means for it, for the start-up line
_FORWARD = "a reverse proxy on this host must forward to it"


def make_app(
    doorbell: tuple[str, Callable[[], None]] | None = None,
    telegram: tuple[str, str, Any] | None = None,
    monitor: Monitor | None = None,
    miniapp: web.Application | None = None,
) -> web.Application:
    """``doorbell``: (secret, ring); ``telegram``: (path, secret token, the PTB application); ``monitor``: GET /healthz
    and /metrics, to be served alone, on a listener of their own (MONITOR_LISTEN, MONITOR_PORT); ``miniapp``: the
    Mini App's sub-application (``bot.miniapp.server``), mounted at /app."""
    app = web.Application(client_max_size=MAX_UPDATE_BYTES)
    app[_SERVES], app[_LISTEN], app[_ON_LOOPBACK] = [], "NEWTEL_EVENTS_LISTEN", _FORWARD
    if doorbell is not None:
        secret, ring = doorbell

        async def rang(request: web.Request) -> web.Response:
            if not hmac.compare_digest(request.match_info["secret"].encode(), secret.encode()):
                raise web.HTTPNotFound()
            ring()
            return web.Response(status=204)

        app.router.add_post(DOORBELL, rang)
        app[_SERVES].append("New-Tel's doorbell")
    if telegram is not None:
        path, token, application = telegram

        async def update(request: web.Request) -> web.Response:
            given = request.headers.get(TELEGRAM_SECRET_HEADER, "")
            if not hmac.compare_digest(given.encode(), token.encode()):
                raise web.HTTPForbidden()
            try:
                async with asyncio.timeout(BODY_SECONDS):
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
        app[_SERVES].insert(0, "Telegram's webhook")
        app[_LISTEN] = "WEBHOOK_LISTEN"
    if miniapp is not None:
        app.add_subapp(MINIAPP_PREFIX, miniapp)
        app[_SERVES].append(f"the Mini App ({MINIAPP_PREFIX}/)")
    if monitor is not None:
        checked = monitor  # (for mypy, inside the closure)

        async def healthz(request: web.Request) -> web.Response:
            health = await checked.health()
            return web.json_response(health.as_json(), status=200 if health.healthy else 503)

        app.router.add_get("/healthz", healthz)
        app.router.add_get("/metrics", make_aiohttp_handler(monitor.registry))
        app[_SERVES].append("Health and metrics (/healthz, /metrics)")
        app[_LISTEN], app[_ON_LOOPBACK] = "MONITOR_LISTEN", "only this host can reach it"
    return app


async def serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Listen on every address ``host`` resolves to, at ``port``, and say so in the log; ``await runner.cleanup()``
    stops it."""
    connections = _Connections(_connection_cap())
    app.middlewares.append(connections.track)
    runner = web.AppRunner(
        app,
        access_log=None,  # the doorbell's URL holds its secret: no access log
        logger=_RequestLog(logging.getLogger("aiohttp.server"), {}),
        keepalive_timeout=HEADERS_SECONDS,  # in aiohttp >= 3.14.5 it also bounds the wait for the first request
        lingering_time=BODY_SECONDS,  # a body the doorbell leaves unread is drained this long at most
        max_line_size=MAX_LINE_BYTES,
        max_field_size=MAX_HEADER_BYTES,
        max_headers=MAX_HEADERS,
    )
    await runner.setup()
    site = _CappedSite(runner, host, port, connections)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    _say_where(app, site.addresses)
    return runner


def _say_where(app: web.Application, addresses: list[tuple[str, int]]) -> None:
    serves: list[str] = app[_SERVES]
    said = " and ".join(serves) if len(serves) < 3 else ", ".join(serves[:-1]) + " and " + serves[-1]
    shown = ", ".join(f"[{address}]:{port}" if ":" in address else f"{address}:{port}" for address, port in addresses)
    if all(ipaddress.ip_address(address).is_loopback for address, _ in addresses):
        # On a platform, or with the proxy in another container, nothing could reach it, and nothing else would say so.
        log.info(
            "%s: listening on %s, on loopback only: %s (%s=0.0.0.0 listens on every address)",
            said,
            shown,
            app[_ON_LOOPBACK],
            app[_LISTEN],
        )
    else:
        log.info("%s: listening on %s", said, shown)


def _connection_cap() -> int:
    """MAX_CONNECTIONS, or fewer when the soft limit on open files leaves less room beside RESERVED_DESCRIPTORS."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft - RESERVED_DESCRIPTORS >= MAX_CONNECTIONS:
        return MAX_CONNECTIONS
    cap = max(MIN_CONNECTIONS, soft - RESERVED_DESCRIPTORS)
    log.warning("The limit on open files (%d) leaves the bot's HTTP server %d connections at a time", soft, cap)
    return cap


class _CappedSite(web.BaseSite):
    """aiohttp's TCPSite (a socket on each address the host resolves to), but taking connections only as
    ``_Connections`` makes room for them. asyncio's own accept loop takes all the kernel offers and, out of
    descriptors, logs each failed accept with a traceback."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, connections: _Connections) -> None:
        super().__init__(runner, backlog=BACKLOG)
        self._host, self._port, self._connections = host, port, connections
        self._listening: list[socket.socket] = []
        self._accepting: list[asyncio.Task[None]] = []

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """Where it listens: (address, port) of each socket."""
        return [listening.getsockname()[:2] for listening in self._listening]

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        found = await loop.getaddrinfo(self._host or None, self._port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        addresses = list(dict.fromkeys((family, address) for family, _, _, _, address in found))
        try:
            for family, address in addresses:
                self._listening.extend(_listen(family, address, alone=len(addresses) == 1))
        except BaseException:
            for listening in self._listening:
                listening.close()
            raise
        if not self._listening:
            raise OSError(f"no address of {self._host!r} can be listened on")
        server = self._runner.server
        assert server is not None
        self._accepting = [
            asyncio.create_task(self._accept(listening, server), name=f"accept {self.name}")
            for listening in self._listening
        ]

    async def stop(self) -> None:
        for task in self._accepting:
            task.cancel()
        await asyncio.gather(*self._accepting, return_exceptions=True)
        for listening in self._listening:
            listening.close()
        await super().stop()  # the connections themselves are closed by the runner's cleanup

    async def _accept(self, listening: socket.socket, server: web.Server) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._connections.room()
            try:
                connection, peer = await loop.sock_accept(listening)
            except OSError as error:  # EMFILE and the like: the process is out of descriptors, for now
                log.warning("Not accepting connections for a second: %s", error)
                await asyncio.sleep(1)
                continue
            try:
                slot = await self._connections.admit(peer[0], server())
            except BaseException:
                connection.close()
                raise
            try:
                await loop.connect_accepted_socket(lambda: slot, connection)  # noqa: B023 (awaited here)
            except OSError as error:  # the peer went before it was set up
                log.debug("A connection closed before it was served: %s", error)
                connection.close()
                slot.close()


def _listen(family: int, address: tuple[Any, ...], *, alone: bool) -> list[socket.socket]:
    """A listening socket on ``address``; none if this host has no such address (IPv6 off, say), as asyncio does.
    "::" alone takes IPv4 too, as "listen on every address" means (aiohttp's TCPSite took IPv6 only)."""
    every = alone and family == socket.AF_INET6 and ipaddress.ip_address(address[0]).is_unspecified
    try:
        listening = socket.create_server(
            address, family=family, backlog=BACKLOG, dualstack_ipv6=every and socket.has_dualstack_ipv6()
        )
    except OSError as error:
        if error.errno != errno.EADDRNOTAVAIL:
            raise
        log.info("Not listening on %s: %s", address[0], error)
        return []
    listening.setblocking(False)
    return [listening]


class _Connections:
    """The connections the server holds, oldest first: the address each comes from, and whether it is in a
    request's handler (busy) or idle."""

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._held: dict[object, _Slot] = {}  # by aiohttp's protocol for it, oldest first
        self._from: Counter[str] = Counter()
        self._changed = asyncio.Event()

    async def room(self) -> None:
        """Until there is room for one more: fewer than the cap are held, or one of them is idle."""
        while len(self._held) >= self._cap and not any(slot.idle for slot in self._held.values()):
            await self._change()

    async def admit(self, peer: str, served: asyncio.Protocol) -> _Slot:
        """A place for a connection from ``peer``: past the cap, an idle one is closed (waiting for one to be idle)."""
        while len(self._held) >= self._cap and not self._close_an_idle_one():
            await self._change()
        slot = _Slot(served, peer, self._release)
        self._held[served] = slot
        self._from[peer] += 1
        return slot

    async def _change(self) -> None:
        """Until a connection closes or a handler ends."""
        self._changed.clear()
        await self._changed.wait()

    def _close_an_idle_one(self) -> bool:
        """The oldest idle connection of the address that holds the most (of those with an idle one)."""
        idle = [slot for slot in self._held.values() if slot.idle]  # oldest first; max() takes the first of equals
        if idle:
            max(idle, key=lambda slot: self._from[slot.peer]).close()
        return bool(idle)

    def _release(self, slot: _Slot) -> None:
        if self._held.pop(slot.served, None) is not None:
            self._from[slot.peer] -= 1
            if not self._from[slot.peer]:
                del self._from[slot.peer]
            self._changed.set()

    @web.middleware
    async def track(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """A connection is busy while a request of it is in a handler."""
        slot = self._held.get(request.protocol)
        if slot is None:
            return await handler(request)
        slot.busy += 1
        try:
            return await handler(request)
        finally:
            slot.busy -= 1
            self._changed.set()


class _Slot(asyncio.Protocol):
    """aiohttp's protocol for one connection, passed everything; its place is given up when it closes."""

    def __init__(self, served: asyncio.Protocol, peer: str, release: Callable[[_Slot], None]) -> None:
        self.served, self.peer, self._release = served, peer, release
        self.busy = 0  # requests of it in a handler
        self._transport: asyncio.Transport | None = None

    @property
    def idle(self) -> bool:
        return self.busy == 0 and self._transport is not None

    def close(self) -> None:
        """At once, with whatever it has not sent or been sent: it makes room for one that has something to say."""
        if self._transport is not None:
            self._transport.abort()
        self._release(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self.served.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.served.data_received(data)

    def eof_received(self) -> bool | None:
        return self.served.eof_received()

    def pause_writing(self) -> None:
        self.served.pause_writing()

    def resume_writing(self) -> None:
        self.served.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        try:
            self.served.connection_lost(exc)
        finally:
            self._release(self)


class _RequestLog(logging.LoggerAdapter[logging.Logger]):
    """aiohttp.server's log as the bot's server passes it: a malformed request (anyone can send one) is one INFO line
    naming the error, without the traceback aiohttp gives it at ERROR; a handler's own failure keeps both."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        error = kwargs.get("exc_info")
        if isinstance(error, HttpProcessingError):
            level, msg, args = min(level, logging.INFO), f"{msg}: %s", (*args, type(error).__name__)
            kwargs["exc_info"] = None
        super().log(level, msg, *args, **kwargs)
