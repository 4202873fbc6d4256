"""A recording in the Mini App: the card gives a link, and the bot streams the sandbox's recording through itself with
range requests (what a browser's ``<audio>`` asks to play and seek), fetched from New-Tel once, only for users who
may hear it and only by a link made for them, for that call, still valid."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.miniapp import auth
from bot.miniapp.recordings import MAX_DOWNLOADS, RecordingCache, path_of
from bot.miniapp.server import Handler
from localchat.settings import TOKEN
from newtel.sandbox import Call
from storage import CallRecord
from storage.erasure import erase
from tests.bot.conftest import ADMIN, MANAGER, MEMBER_NAME, STRANGER, eventually
from tests.miniapp.conftest import MiniApp, MiniAppFactory

CUSTOMER = "79035551122"


def archived(app: MiniApp, call: Call) -> None:
    """The sandbox's call in the archive, as the poll would have put it."""
    app.world.services.storage.calls.ingest(
        [CallRecord(call.vpbx_id, call.direction, call.clid, call.dnid, call.status(call.end or call.start), False,
                    int(call.start),
                    int(call.answer) if call.answer is not None else None, int(call.end or call.start))],
        now=int(time.time()),
    )  # fmt: skip


def talked(app: MiniApp) -> Call:
    now = app.world.sandbox.now()
    call = app.world.sandbox.add_call(
        direction="in", clid=CUSTOMER, status="answered", start=now - 300, answer=now - 290, end=now - 200
    )
    archived(app, call)
    return call


async def the_recording(app: MiniApp, call: Call) -> bytes:
    """What New-Tel's file host serves at the call's link (the bot's client asks it, as /record does)."""
    link = await app.world.services.newtel.vpbx.get_call_record_link(call.vpbx_id)
    async with aiohttp.ClientSession() as session, session.get(str(link)) as got:
        return await got.read()


async def link_of(app: MiniApp, call: Call, as_user: int = MANAGER) -> str:
    card = await app.get(f"/app/api/customer/{CUSTOMER}", as_user=as_user)
    assert card.status == 200, card.body
    return str(card.json["recordings"][call.vpbx_id])


def downloads(app: MiniApp) -> tuple[int, int]:
    """(record links asked for, recordings fetched) at the sandbox so far."""
    traffic = app.world.sandbox.traffic
    links, files = traffic.get("vpbx/get-call-record-link"), traffic.get("records")
    return (links.requests if links else 0), (files.requests if files else 0)


async def test_a_recording_streams_with_ranges_fetched_from_new_tel_once(miniapp: MiniApp) -> None:
    miniapp.world.make_manager(MANAGER)
    call = talked(miniapp)
    whole = await the_recording(miniapp, call)
    assert whole.startswith(b"RIFF") and len(whole) > 1_000
    before = downloads(miniapp)
    url = await link_of(miniapp, call)
    assert urlsplit(url).path == f"/app{path_of(call.vpbx_id)}" and "t" in parse_qs(urlsplit(url).query)

    ranged = await miniapp.get(url, as_user=None, headers={"Range": "bytes=100-199"})
    assert ranged.status == 206
    assert ranged.headers["Content-Range"] == f"bytes 100-199/{len(whole)}"
    assert ranged.headers["Accept-Ranges"] == "bytes" and ranged.headers["Content-Type"] == "audio/wav"
    assert ranged.body == whole[100:200]
    full = await miniapp.get(url, as_user=None)
    assert (full.status, full.body, full.headers["Accept-Ranges"]) == (200, whole, "bytes")
    tail = await miniapp.get(url, as_user=None, headers={"Range": "bytes=-44"})  # a seek to the end
    assert (tail.status, tail.body) == (206, whole[-44:])
    beyond = await miniapp.get(url, as_user=None, headers={"Range": f"bytes={len(whole) + 10}-"})
    assert beyond.status == 416
    assert "Content-Security-Policy" in full.headers and full.headers["X-Content-Type-Options"] == "nosniff"
    assert full.headers["Cache-Control"] == "no-store"  # a customer's voice is not left in the phone's cache

    assert downloads(miniapp) == (before[0] + 1, before[1] + 1)  # one link, one download, for every request
    (heard,) = miniapp.world.services.storage.audit.recent(action="record.fetch")
    assert (heard.actor_id, heard.target, dict(heard.details)) == (MANAGER, call.vpbx_id, {"origin": "app"})


async def test_only_a_valid_link_of_a_user_who_may_hear_it_plays(miniapp: MiniApp) -> None:
    miniapp.world.make_manager(MANAGER)
    call, other = talked(miniapp), talked(miniapp)
    url = await link_of(miniapp, call)
    links = auth.Links(TOKEN)
    resource = f"/app{path_of(call.vpbx_id)}"

    async def fetched(token: str, resource_path: str = resource) -> tuple[int, str]:
        got = await miniapp.get(resource_path, as_user=None, params={"t": token})
        return got.status, got.json["error"] if got.status >= 400 else ""

    token = parse_qs(urlsplit(url).query)["t"][0]
    assert await fetched(token) == (200, "")
    assert await fetched(token, f"/app{path_of(other.vpbx_id)}") == (401, "auth_invalid")  # made for another call
    assert await fetched(token[:-2] + ("AA" if not token.endswith("AA") else "BB")) == (401, "auth_invalid")
    assert await fetched(links.token(MANAGER, resource, now=time.time() - auth.LINK_SECONDS - 1)) == (
        401,
        "auth_expired",
    )
    assert await fetched(links.token(STRANGER, resource)) == (403, "stranger")  # signed, but for nobody let in
    no_token = await miniapp.get(resource, as_user=None)
    assert (no_token.status, no_token.json["error"]) == (401, "auth_missing")

    company = miniapp.world.sandbox.company  # the member the manager acts as is deleted at New-Tel
    kept_members = list(company.members)
    company.members[:] = [m for m in company.members if m.name != MEMBER_NAME]
    miniapp.world.services.directory.ttl = 0  # the cached list has expired
    gone = await miniapp.get(url, as_user=None)
    assert (gone.status, gone.json["error"]) == (403, "member_gone")
    (told,) = await miniapp.world.replies(ADMIN)  # by a link, as by initData or a command: the admins hear of it
    assert MEMBER_NAME in told["text"]
    company.members[:] = kept_members
    assert (await miniapp.get(url, as_user=None)).status == 200  # back at New-Tel: heard again
    miniapp.world.services.storage.users.deny(MANAGER, now=int(time.time()))  # an admin removes the manager
    refused = await miniapp.get(url, as_user=None)
    assert (refused.status, refused.json["error"]) == (403, "stranger")
    assert "Нет доступа" in refused.json["message"]


async def test_a_call_without_a_recording_has_no_link_and_plays_nothing(miniapp: MiniApp) -> None:
    now = miniapp.world.sandbox.now()
    missed = miniapp.world.sandbox.add_call(direction="in", clid=CUSTOMER, status="no answer", start=now - 60,
                                            end=now - 40)  # fmt: skip
    archived(miniapp, missed)
    old = CallRecord("e" * 40, "in", CUSTOMER, "74950000000", "answered", False, int(now) - 3 * 86_400,
                     int(now) - 3 * 86_400 + 5, int(now) - 3 * 86_400 + 65)  # fmt: skip
    miniapp.world.services.storage.calls.ingest([old], now=int(now))
    card = await miniapp.get(f"/app/api/customer/{CUSTOMER}")
    assert card.json["recordings"] == {}
    assert [row["recording"] for row in card.json["calls"]] == [False, False]
    before = downloads(miniapp)
    links = auth.Links(TOKEN)
    for vpbx_id, said in ((missed.vpbx_id, "У этого звонка нет записи разговора."), ("e" * 40, "«Нью-Тел» хранит")):
        resource = f"/app{path_of(vpbx_id)}"
        got = await miniapp.get(resource, as_user=None, params={"t": links.token(ADMIN, resource)})
        assert (got.status, got.json["error"]) == (404, "not_found")
        assert got.json["message"].startswith(said)
    assert downloads(miniapp) == before  # New-Tel was not asked


@pytest.mark.parametrize("leads_to", ["https://evil.example/x.wav", "file:///etc/passwd"])
async def test_a_link_off_new_tels_hosts_is_refused_as_for_record(miniapp: MiniApp, leads_to: str) -> None:
    call = talked(miniapp)
    miniapp.world.sandbox.faults.record_link = leads_to
    got = await miniapp.get(await link_of(miniapp, call, as_user=ADMIN), as_user=None)
    assert (got.status, got.json["error"], got.json["message"]) == (
        404,
        "not_found",
        "У этого звонка нет записи разговора.",
    )


async def test_the_cache_fetches_once_holds_its_bound_and_nothing_past_its_time() -> None:
    cache = RecordingCache(max_bytes=250, keep=0.2)
    fetched = 0

    async def fetch() -> bytes:
        nonlocal fetched
        fetched += 1
        await asyncio.sleep(0.01)
        return b"RIFF" + b"x" * 96

    first, again = await asyncio.gather(cache.get("a", fetch), cache.get("a", fetch))
    assert first is not None and first is again and fetched == 1  # asked twice at once: fetched once
    folder = first.path.parent
    assert folder.stat().st_mode & 0o777 == 0o700 and first.path.stat().st_mode & 0o777 == 0o600
    await cache.get("b", fetch)
    await cache.get("c", fetch)  # 300 bytes over 250: the least recently asked for goes
    assert not first.path.exists() and cache.size == 200 and fetched == 3
    await eventually(lambda: cache.size == 0, timeout=5)  # unasked past ``keep``: gone without a request
    assert list(folder.iterdir()) == []
    cache.close()
    assert not folder.exists()


async def test_telegrams_copy_plays_without_asking_new_tel_even_past_its_24_hours(miniapp: MiniApp) -> None:
    world = miniapp.world
    world.make_manager(MANAGER)
    call = talked(miniapp)
    assert (await world.say(MANAGER, f"/record {call.vpbx_id}"))["audio"]  # the file Telegram keeps from now on
    whole = await the_recording(miniapp, call)
    file_id = world.services.storage.recordings.file_id(call.vpbx_id)
    assert file_id is not None
    now = int(time.time())
    old = CallRecord("e" * 40, "in", CUSTOMER, "74950000000", "answered", False, now - 3 * 86_400,
                     now - 3 * 86_400 + 5, now - 3 * 86_400 + 65)  # fmt: skip
    world.services.storage.calls.ingest([old], now=now)
    world.services.storage.recordings.keep(old.vpbx_id, file_id, now=now)  # a chat subscribed with records then
    before = downloads(miniapp)
    card = (await miniapp.get(f"/app/api/customer/{CUSTOMER}", as_user=MANAGER)).json
    assert set(card["recordings"]) == {call.vpbx_id, old.vpbx_id}
    for vpbx_id in (call.vpbx_id, old.vpbx_id):
        ranged = await miniapp.get(card["recordings"][vpbx_id], as_user=None, headers={"Range": "bytes=100-199"})
        assert (ranged.status, ranged.body) == (206, whole[100:200])
    assert downloads(miniapp) == before


def copy_folders() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("miniapp-recordings-*"))


async def test_the_copies_go_when_the_bot_stops(make_miniapp: MiniAppFactory) -> None:
    before = copy_folders()
    async with make_miniapp() as app:
        call = talked(app)
        assert (await app.get(await link_of(app, call, as_user=ADMIN), as_user=None)).status == 200
        (folder,) = copy_folders() - before
        assert [path.stem for path in folder.iterdir()] == [call.vpbx_id]
    assert not folder.exists()


async def test_the_cache_downloads_a_few_recordings_at_once_at_most() -> None:
    cache = RecordingCache()
    running = most = 0
    release = asyncio.Event()

    async def fetch() -> bytes:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await release.wait()
        running -= 1
        return b"RIFF" + b"x" * 96

    waiting = [asyncio.create_task(cache.get(str(n), fetch)) for n in range(MAX_DOWNLOADS + 3)]
    await eventually(lambda: running == MAX_DOWNLOADS, timeout=5)
    release.set()
    assert all(copy is not None for copy in await asyncio.gather(*waiting))
    assert most == MAX_DOWNLOADS
    cache.close()


async def test_a_forgotten_customers_copy_goes_at_the_next_request(miniapp: MiniApp) -> None:
    before = copy_folders()
    call = talked(miniapp)
    url = await link_of(miniapp, call, as_user=ADMIN)
    assert (await miniapp.get(url, as_user=None)).status == 200
    (folder,) = copy_folders() - before
    assert [path.stem for path in folder.iterdir()] == [call.vpbx_id]
    erase(miniapp.world.settings.database_path, CUSTOMER, by=ADMIN, now=int(time.time()))  # what /forget does
    gone = await miniapp.get(url, as_user=None)
    assert (gone.status, gone.json["error"]) == (404, "not_found")
    assert list(folder.iterdir()) == []  # not kept its 10 minutes more


async def test_a_copy_dropped_before_its_response_opens_it_is_still_sent() -> None:
    """A copy evicted (the bound, its time, /forget) between its handler's answer and the response's opening of the
    file: the file stays until that response is done with it."""
    cache = RecordingCache(max_bytes=150)
    sent = b"RIFF" + b"x" * 96
    served: list[Path] = []

    async def fetch() -> bytes:
        return sent

    async def handler(request: web.Request) -> web.StreamResponse:
        copy = await cache.get("a", fetch)
        assert copy is not None
        served.append(copy.path)
        return cache.response(copy)

    @web.middleware
    async def evict_meanwhile(request: web.Request, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        await cache.get("b", fetch)  # 200 bytes over 150: "a", asked for least recently, goes
        return response

    app = web.Application(middlewares=[evict_meanwhile])
    app.router.add_get("/a", handler)
    async with TestClient(TestServer(app)) as client:
        got = await client.get("/a")
        assert (got.status, await got.read()) == (200, sent)
    (path,) = served
    assert cache.size == 100 and [p.stem for p in path.parent.iterdir()] == ["b"]  # "a" removed once sent
    cache.close()
