"""The bot's HTTP server (``bot.web``) facing whoever reaches its port, over real loopback sockets: connections that
never send a whole request are closed, the connections it holds are capped, in all and for each address, and a
newcomer takes the place of the oldest idle one (idle ones that reconnect at once delay nobody), oversized and
malformed requests are refused in one quiet line, it listens on every address its host name has, on loopback unless
told otherwise, and says where, and the bot as a process keeps answering and alerting under 1,500 idle connections on
a descriptor limit of 1,024."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp.web
import pytest

from bot import web
from localchat import FakeBotAPI
from newtel.sandbox import Sandbox
from storage import Storage
from tests.bot.conftest import ADMIN, GROUP, TOKEN, WorldFactory

SECRET = "doorbell-secret-0123456789"
HOOK, HOOK_TOKEN = "/telegram-hook", "webhook-secret-0123456789"
PROJECT = Path(__file__).resolve().parents[2]  # the bot's process runs this checkout, not an installed copy
linux_only = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads /proc")


@contextlib.asynccontextmanager
async def served(
    port: int, rings: list[float], host: str = "127.0.0.1", handling: list[object] | None = None
) -> AsyncIterator[Any]:
    """The doorbell and a webhook (into a plain queue) on ``port``, as the bot serves them; ``handling``: the
    requests in a handler just now."""
    application = SimpleNamespace(bot=None, update_queue=asyncio.Queue())
    app = web.make_app(
        doorbell=(SECRET, lambda: rings.append(time.monotonic())), telegram=(HOOK, HOOK_TOKEN, application)
    )
    if handling is not None:

        @aiohttp.web.middleware
        async def watched(request: aiohttp.web.Request, handler: Any) -> aiohttp.web.StreamResponse:
            handling.append(request)
            try:
                return await handler(request)  # type: ignore[no-any-return]
            finally:
                handling.remove(request)

        app.middlewares.append(watched)
    runner = await web.serve(app, host, port)
    try:
        yield runner
    finally:
        await runner.cleanup()


async def connect(
    port: int, sent: bytes = b"", *, source: str = "127.0.0.1", host: str = "127.0.0.1"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection from ``source`` (any 127.x.x.x is this host too: another address to the server)."""
    local = (source, 0) if host == "127.0.0.1" else None
    reader, writer = await asyncio.open_connection(host, port, local_addr=local)
    if sent:
        writer.write(sent)
        await writer.drain()
    return reader, writer


async def answer(reader: asyncio.StreamReader, timeout: float = 3.0) -> bytes:
    """Everything the server sends until it closes the connection."""
    try:
        return await asyncio.wait_for(reader.read(), timeout)
    except ConnectionResetError:
        return b""


def ring_request(extra_headers: bytes = b"", path: bytes = b"/newtel/" + SECRET.encode()) -> bytes:
    return b"POST " + path + b" HTTP/1.1\r\nHost: bot\r\nContent-Length: 0\r\n" + extra_headers + b"\r\n"


async def test_a_connection_that_sends_no_whole_request_in_time_is_closed(
    monkeypatch: pytest.MonkeyPatch, unused_tcp_port: int
) -> None:
    monkeypatch.setattr(web, "HEADERS_SECONDS", 0.5)
    monkeypatch.setattr(web, "BODY_SECONDS", 0.5)
    rings: list[float] = []
    async with served(unused_tcp_port, rings):
        started = time.monotonic()
        idle = await connect(unused_tcp_port)
        half_line = await connect(unused_tcp_port, b"POST /newtel/" + SECRET.encode()[:5])
        no_blank_line = await connect(unused_tcp_port, ring_request()[:-2])
        trickle = await connect(unused_tcp_port)

        async def drip() -> None:  # a byte every 0.1 s: never idle, never done
            with contextlib.suppress(ConnectionError):
                for byte in ring_request():
                    trickle[1].write(bytes([byte]))
                    await trickle[1].drain()
                    await asyncio.sleep(0.1)

        dripping = asyncio.create_task(drip())
        for reader, _ in (idle, half_line, no_blank_line, trickle):
            assert await answer(reader) == b""  # closed, nothing answered
        assert time.monotonic() - started < 2.0
        dripping.cancel()
        # A slow body: its headers in time, then 10 of 100 bytes. Without Telegram's secret it is refused unread.
        slow_body = ring_request(path=HOOK.encode()).replace(b": 0", b": 100") + b"{" * 10
        signed = ring_request(b"X-Telegram-Bot-Api-Secret-Token: " + HOOK_TOKEN.encode() + b"\r\n", path=HOOK.encode())
        for request, status in ((slow_body, b"403"), (signed.replace(b": 0", b": 100") + b"{" * 10, b"408")):
            waited = time.monotonic()
            reader, _ = await connect(unused_tcp_port, request)
            assert (await answer(reader)).startswith(b"HTTP/1.1 " + status)
            assert time.monotonic() - waited < 2.0
    assert rings == []


async def closed(reader: asyncio.StreamReader) -> bool:
    """Whether the server closed this connection (it sent nothing on it)."""
    try:
        return await asyncio.wait_for(reader.read(), 0.01) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


async def held_connections(runner: Any, count: int) -> None:
    async with asyncio.timeout(3):
        while len(runner.server.connections) != count:
            await asyncio.sleep(0.01)


async def test_past_its_cap_a_newcomer_takes_the_place_of_the_oldest_idle_connection(
    monkeypatch: pytest.MonkeyPatch, unused_tcp_port: int
) -> None:
    monkeypatch.setattr(web, "MAX_CONNECTIONS", 10)
    rings: list[float] = []
    async with served(unused_tcp_port, rings) as runner:
        idle = [await connect(unused_tcp_port, source=f"127.0.0.{2 + n % 5}") for n in range(10)]
        await held_connections(runner, 10)
        started = time.monotonic()
        reader, _ = await connect(unused_tcp_port, ring_request())
        status = await asyncio.wait_for(reader.readline(), 2)
        assert status.startswith(b"HTTP/1.1 204") and time.monotonic() - started < 0.5 and len(rings) == 1
        assert [await closed(reader) for reader, _ in idle] == [True] + [False] * 9  # the oldest gave way
        assert len(runner.server.connections) <= 10


async def test_when_every_connection_is_busy_a_newcomer_waits_for_one(
    monkeypatch: pytest.MonkeyPatch, unused_tcp_port: int
) -> None:
    """Busy: in a request's handler, here Telegram's updates with their bodies still on the way."""
    monkeypatch.setattr(web, "MAX_CONNECTIONS", 10)
    rings: list[float] = []
    signed = ring_request(b"X-Telegram-Bot-Api-Secret-Token: " + HOOK_TOKEN.encode() + b"\r\n", path=HOOK.encode())
    handling: list[object] = []
    async with served(unused_tcp_port, rings, handling=handling):
        busy = [await connect(unused_tcp_port, signed.replace(b": 0", b": 100") + b"{") for _ in range(10)]
        async with asyncio.timeout(3):
            while len(handling) < 10:
                await asyncio.sleep(0.01)
        reader, _ = await connect(unused_tcp_port, ring_request())  # in the kernel's backlog, not ours
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(reader.readline(), 0.5)
        assert rings == [] and not any([await closed(r) for r, _ in busy])
        busy[0][1].close()  # one goes: the waiting one is taken at once
        status = await asyncio.wait_for(reader.readline(), 2)
        assert status.startswith(b"HTTP/1.1 204") and len(rings) == 1


async def test_past_its_cap_the_address_that_holds_the_most_makes_room(
    monkeypatch: pytest.MonkeyPatch, unused_tcp_port: int
) -> None:
    """One address opening idle connections without end displaces only its own; a newcomer from elsewhere too."""
    monkeypatch.setattr(web, "MAX_CONNECTIONS", 30)
    rings: list[float] = []
    async with served(unused_tcp_port, rings) as runner:
        others = [await connect(unused_tcp_port, source="127.0.0.2") for _ in range(5)]
        await held_connections(runner, 5)
        flooding = [await connect(unused_tcp_port, source="127.0.0.3") for _ in range(40)]
        await held_connections(runner, 30)
        reader, _ = await connect(unused_tcp_port, ring_request(), source="127.0.0.4")
        assert (await asyncio.wait_for(reader.readline(), 2)).startswith(b"HTTP/1.1 204")
        assert [await closed(reader) for reader, _ in flooding] == [True] * 16 + [False] * 24
        assert not any([await closed(reader) for reader, _ in others])


async def test_idle_connections_opened_again_at_once_do_not_delay_a_ring(
    monkeypatch: pytest.MonkeyPatch, unused_tcp_port: int
) -> None:
    """What the cap alone allowed: 300 idle clients, each connecting again as soon as it is closed, held every place,
    so a ring waited for one to time out (4.1 to 5.05 s)."""
    monkeypatch.setattr(web, "MAX_CONNECTIONS", 20)
    rings: list[float] = []
    stop = asyncio.Event()

    async def attacker(source: str) -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                reader, writer = await connect(unused_tcp_port, source=source)
                with contextlib.suppress(OSError):
                    await reader.read()  # until the server closes it
                writer.close()

    async with served(unused_tcp_port, rings) as runner:
        attackers = [asyncio.create_task(attacker(f"127.0.1.{n % 15}")) for n in range(300)]
        try:
            async with asyncio.timeout(5):
                while len(runner.server.connections) < 20:
                    await asyncio.sleep(0.01)
            waits = []
            for _ in range(10):
                started = time.monotonic()
                reader, writer = await connect(unused_tcp_port, ring_request(b"Connection: close\r\n"))
                status = await asyncio.wait_for(reader.readline(), 10)
                waits.append(time.monotonic() - started)
                writer.close()
                assert status.startswith(b"HTTP/1.1 204")
            assert max(waits) < 1.0, waits
            assert len(rings) == 10
        finally:
            stop.set()
            for task in attackers:
                task.cancel()
            await asyncio.gather(*attackers, return_exceptions=True)


async def test_oversized_requests_are_refused_and_ring_nothing(unused_tcp_port: int) -> None:
    rings: list[float] = []
    async with served(unused_tcp_port, rings):
        long_line = ring_request(path=b"/newtel/" + SECRET.encode() + b"?" + b"a" * 3000)
        long_header = ring_request(b"X-Padding: " + b"a" * 5000 + b"\r\n")
        many_headers = ring_request(b"".join(b"X-H%d: 1\r\n" % i for i in range(60)))
        for request in (long_line, long_header, many_headers):
            reader, _ = await connect(unused_tcp_port, request)
            assert (await answer(reader)).split(b"\r\n")[0].endswith(b" 400 Bad Request")
        reader, _ = await connect(unused_tcp_port, ring_request())  # the same without the excess rings
        assert (await asyncio.wait_for(reader.readline(), 3)).startswith(b"HTTP/1.1 204")
    assert len(rings) == 1


async def test_malformed_requests_are_one_quiet_line_each(
    caplog: pytest.LogCaptureFixture, unused_tcp_port: int
) -> None:
    caplog.set_level(logging.DEBUG)
    malformed = [
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40,  # a TLS hello on a plain HTTP port
        b"GET /\x00 HTTP/1.1\r\nHost: bot\r\n\r\n",
        b"POST /newtel/x HTTP/1.1\r\nHost: bot\r\nContent-Length: lots\r\n\r\n",
        b"POST /newtel/x HTTP/1.1\r\nHost: bot\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET / HTTP/1.1\r\nBad Header Line\r\n\r\n",
    ]
    async with served(unused_tcp_port, []):
        for request in malformed * 20:
            reader, _ = await connect(unused_tcp_port, request)
            await answer(reader)
    records = [r for r in caplog.records if r.name.startswith("aiohttp")]
    assert all(r.levelno <= logging.INFO and not r.exc_info and not r.exc_text for r in records), [
        (r.levelname, r.getMessage()) for r in records if r.levelno > logging.INFO or r.exc_info
    ][:3]
    assert len(records) <= len(malformed) * 20
    assert all("\n" not in r.getMessage() for r in records)


def listening_addresses(port: int) -> set[str]:
    """The local addresses sockets LISTEN on at ``port`` (/proc/net/tcp and tcp6, hex as the kernel writes them)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(FileNotFoundError), open(table) as rows:
            for row in list(rows)[1:]:
                local, state = row.split()[1], row.split()[3]
                address, _, hex_port = local.partition(":")
                if state == "0A" and int(hex_port, 16) == port:
                    found.add(address)
    return found


@linux_only
async def test_the_doorbell_listens_on_loopback_unless_told_otherwise(
    make_world: WorldFactory, caplog: pytest.LogCaptureFixture, unused_tcp_port: int
) -> None:
    caplog.set_level(logging.INFO, logger="bot.web")
    settings = {"live_interval": 30, "newtel_events_secret": SECRET, "newtel_events_port": unused_tcp_port}
    async with make_world(jobs=True, **settings) as world:
        assert world.settings.newtel_events_listen == "127.0.0.1"
        assert listening_addresses(unused_tcp_port) == {"0100007F"}  # 127.0.0.1, not 0.0.0.0
    assert (
        f"New-Tel's doorbell: listening on 127.0.0.1:{unused_tcp_port}, on loopback only: a reverse proxy on this host"
        " must forward to it (NEWTEL_EVENTS_LISTEN=0.0.0.0 listens on every address)"
    ) in caplog.text


@linux_only
async def test_it_listens_on_every_address_its_host_name_has_and_says_where(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, unused_tcp_port: int
) -> None:
    """ "localhost" is 127.0.0.1 and ::1 on most hosts (here the resolver is told so): both are listened on."""
    caplog.set_level(logging.INFO, logger="bot.web")
    resolve = socket.getaddrinfo

    def localhost(host: str | None, *args: Any, **kwargs: Any) -> Any:
        if host == "localhost":
            return resolve("127.0.0.1", *args, **kwargs) + resolve("::1", *args, **kwargs)
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", localhost)
    rings: list[float] = []
    async with served(unused_tcp_port, rings, host="localhost"):
        assert listening_addresses(unused_tcp_port) == {"0100007F", "00000000000000000000000001000000"}
        for address in ("127.0.0.1", "::1"):
            reader, _ = await connect(unused_tcp_port, ring_request(), host=address)
            assert (await asyncio.wait_for(reader.readline(), 2)).startswith(b"HTTP/1.1 204")
    assert len(rings) == 2
    assert [r.getMessage() for r in caplog.records if "listening" in r.getMessage()] == [
        f"Telegram's webhook and New-Tel's doorbell: listening on 127.0.0.1:{unused_tcp_port}, [::1]:{unused_tcp_port},"
        " on loopback only: a reverse proxy on this host must forward to it (WEBHOOK_LISTEN=0.0.0.0 listens on every"
        " address)"
    ]


async def test_every_ipv6_address_takes_ipv4_too(caplog: pytest.LogCaptureFixture, unused_tcp_port: int) -> None:
    caplog.set_level(logging.INFO, logger="bot.web")
    rings: list[float] = []
    async with served(unused_tcp_port, rings, host="::"):
        for address in ("127.0.0.1", "::1"):
            reader, _ = await connect(unused_tcp_port, ring_request(), host=address)
            assert (await asyncio.wait_for(reader.readline(), 2)).startswith(b"HTTP/1.1 204")
    assert len(rings) == 2
    assert f"New-Tel's doorbell: listening on [::]:{unused_tcp_port}" in caplog.text
    assert "loopback" not in caplog.text


# --- the bot as a process, on the descriptor limit of the incident ------------------------------------------------

LIMIT = 1024  # the bot's hard limit on open files (its soft one starts lower, at 512)
ATTACKERS = 1500  # idle connections, every other one with half a request line


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def open_files_limits(pid: int) -> tuple[int, int]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no open-files limit")


def limited(soft: int, hard: int) -> Callable[[], None]:
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def attack(port: int, count: int) -> list[socket.socket]:
    """``count`` connections that never finish a request (non-blocking: most wait in the kernel's queues)."""
    sockets = []
    for index in range(count):
        attacker = socket.socket()
        attacker.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            attacker.connect(("127.0.0.1", port))
        sockets.append(attacker)
        if index % 2:
            with contextlib.suppress(OSError):
                attacker.send(b"POST /newtel/" + SECRET.encode()[:7])
    return sockets


@linux_only
async def test_idle_connections_leave_the_bot_room_to_answer_and_alert(
    sandbox: Sandbox, tg: FakeBotAPI, tmp_path: Path, unused_tcp_port: int
) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < ATTACKERS + 500:
        pytest.skip(f"this test opens {ATTACKERS} connections; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, ATTACKERS + 500), hard))
    storage = Storage.open(tmp_path / "bot.db")
    storage.chats.subscribe(GROUP, "Sales", [], False, now=int(time.time()) - 60)
    storage.close()
    env = {
        "PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": tg.url, "NEWTEL_API_URL": sandbox.url, "NEWTEL_ACCESS_KEY": sandbox.access_key,
        "NEWTEL_SIGNING_KEY": sandbox.signing_key, "ADMIN_IDS": str(ADMIN), "DATABASE_PATH": str(tmp_path / "bot.db"),
        "NEWTEL_EVENTS_SECRET": SECRET, "NEWTEL_EVENTS_PORT": str(unused_tcp_port), "LIVE_INTERVAL": "1",
        "POLL_INTERVAL": "1", "ALERT_BOARD": "false", "PYTHONPATH": str(PROJECT),
    }  # fmt: skip
    log = tmp_path / "bot.log"
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", env=env, cwd=tmp_path, stdout=output, stderr=subprocess.STDOUT,
            preexec_fn=limited(512, LIMIT),
        )  # fmt: skip
    attackers: list[socket.socket] = []
    try:
        await tg.wait_for("getUpdates", timeout=30)
        attackers = attack(unused_tcp_port, ATTACKERS)
        most = previous = 0
        async with asyncio.timeout(10):  # until the bot has taken what it will of them
            while (count := open_files(process.pid)) != previous:
                most, previous = max(most, count), count
                await asyncio.sleep(0.2)
        sandbox.faults.disconnect(times=1, methods={"company/get-state"})  # New-Tel drops its connection
        tg.send_text(ADMIN, "/balance")
        reply = await tg.wait_for("sendMessage", chat_id=ADMIN, ok=True, timeout=10)
        assert reply.params["text"].startswith("💰")
        now = sandbox.now()
        sandbox.add_call(direction="in", clid="79161234567", status="no answer", start=now - 20, end=now)
        alert = await tg.wait_for("sendMessage", chat_id=GROUP, ok=True, timeout=10)
        assert "+7 916 123-45-67" in alert.params["text"]
        most = max(most, open_files(process.pid))
        assert most <= LIMIT - 256, most  # the server's share stays well below the limit
        assert open_files_limits(process.pid) == (LIMIT, LIMIT)  # raised to the hard limit at start-up
    finally:
        for attacker in attackers:
            attacker.close()
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
    text = log.read_text()
    assert "Traceback" not in text and "Too many open files" not in text, text[-2000:]
    assert len(text) < 20_000
