"""Recordings past New-Tel's 24 hours: each answered call's recording posted once to the chats subscribed with
"records", kept as a Telegram file, and re-sent by that file by /record long after New-Tel forgot the call."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from telegram import Bot, InputFile
from telegram.request import HTTPXRequest

from bot.calllog import recordings
from bot.calllog.recordings import RecordingPosts
from bot.watch.poller import JOB_NAME, RECORDINGS_JOB, poller
from newtel.sandbox import Sandbox
from storage import CallRecord
from tests.bot.conftest import ADMIN, GROUP, MANAGER, World, WorldFactory

CUSTOMER = "79035551122"
OTHER_GROUP = -100600
DAY = 86_400
RECORD_LINK = "vpbx/get-call-record-link"


def phone_as_shown(number: str) -> str:
    return f"+7 {number[1:4]} {number[4:7]}-{number[7:9]}-{number[9:11]}"


def answered(sandbox: Sandbox, talk: float = 125, dnid: str | None = None) -> Any:
    """An inbound call from CUSTOMER that was answered and is over (it ended just now)."""
    now = sandbox.now()
    return sandbox.add_call(
        direction="in", clid=CUSTOMER, dnid=dnid, status="answered", start=now - talk - 10, answer=now - talk, end=now
    )  # fmt: skip


def old_call(sandbox: Sandbox, *, status: str = "answered", days: float = 3) -> CallRecord:
    """A call of ``days`` ago, as the archive keeps it (New-Tel has long forgotten it)."""
    start = int(time.time() - days * DAY)
    talked = status == "answered"
    return CallRecord(
        sandbox.company.new_vpbx_id(), "in", CUSTOMER, sandbox.company.external_numbers[0], status, False,
        start, start + 8 if talked else None, start + 128 if talked else start + 30,
    )  # fmt: skip


async def a_telegram_file(world: World) -> str:
    """A file Telegram keeps, as one a recording became (the bot uploaded it)."""
    sent = await world.app.bot.send_audio(ADMIN, InputFile(b"RIFF-recording", filename="seed.wav"))
    assert sent.audio is not None
    return str(sent.audio.file_id)


async def subscribe_with_records(world: World, chat_id: int = GROUP, words: str = "records") -> str:
    if chat_id != GROUP:
        world.tg.group(chat_id, title=f"Chat {chat_id}")
    return await world.ask(ADMIN, f"/subscribe {words}", chat_id=chat_id)


async def archived(world: World, call: Any) -> CallRecord:
    """The sandbox's call as the archive took it in (what the poll does)."""
    world.services.ingest.take(await world.services.newtel.vpbx.get_calls(), int(time.time()))
    kept = world.services.storage.calls.get(call.vpbx_id)
    assert kept is not None
    return kept


async def file_kept(world: World, vpbx_id: str, timeout: float = 5.0) -> str:
    """The call's recording as the bot keeps it, once it has (right after Telegram answered the send)."""
    async with asyncio.timeout(timeout):
        while (file_id := world.services.storage.recordings.file_id(vpbx_id)) is None:
            await asyncio.sleep(0.01)
    return file_id


def audio_sent(world: World, chat_id: int) -> list[Any]:
    return [c for c in world.sent("sendAudio", chat_id=chat_id) if c.ok]


async def polls_and_recording_rounds(world: World, count: int) -> None:
    """``count`` more polls, and as many runs of the recordings job beside them."""
    the_poller = poller(world.app)
    await asyncio.gather(the_poller.wait_cycles(count), the_poller.wait_recording_rounds(count))


def logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == recordings.__name__]


def the_bots_log(caplog: pytest.LogCaptureFixture) -> str:
    """Every line the bot and its libraries logged (not the local servers' access logs)."""
    return "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(("aiohttp.access", "localchat")))


SECRET = b"TELEGRAM_BOT_TOKEN=123456:a-secret-of-the-bots-network"


@dataclass
class Elsewhere:
    """A server inside the bot's network, on loopback beside the sandbox: no link from New-Tel may reach it."""

    url: str
    hits: list[str] = field(default_factory=list)


@pytest.fixture
async def elsewhere(unused_tcp_port: int) -> AsyncIterator[Elsewhere]:
    server = Elsewhere(f"http://127.0.0.1:{unused_tcp_port}")

    async def secret(request: web.Request) -> web.Response:
        server.hits.append(request.path)
        return web.Response(body=SECRET, content_type="audio/wav")

    app = web.Application()
    app.router.add_get("/{path:.*}", secret)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
    yield server
    await runner.cleanup()


# What a signed answer of New-Tel's may carry as a recording's link, none of which the bot may follow or hand on.
HOSTILE = {
    "a local file": lambda world, elsewhere: "/proc/self/environ",
    "a file beside the bot": lambda world, elsewhere: "pyproject.toml",
    "a file URL": lambda world, elsewhere: "file:///etc/passwd",
    "another port of the bot's host": lambda world, elsewhere: f"{elsewhere.url}/secret",
    "New-Tel's own, redirected": lambda world, elsewhere: None,  # the sandbox's link, which redirects elsewhere
}


def serve_hostile(world: World, elsewhere: Elsewhere, kind: str) -> str:
    """Make New-Tel give ``kind`` of link; returns what must never show (in a log, say)."""
    link = HOSTILE[kind](world, elsewhere)
    if link is None:
        world.sandbox.faults.record_redirect = f"{elsewhere.url}/secret"
        return elsewhere.url.removeprefix("http://")
    if not link.startswith(("file:", "http")):
        assert Path(link).is_file()  # there is a file for a careless bot to read
    world.sandbox.faults.record_link = link
    return link


def nothing_uploaded(world: World) -> bool:
    return all(not c.files for c in world.tg.calls) and world.sent("sendAudio") == []


# --- /subscribe … records -------------------------------------------------------------------------------------
@pytest.mark.parametrize("words", ["records", "записи", "Records balance"])
async def test_subscribe_with_records_says_so_and_remembers_it(world: World, words: str) -> None:
    reply = await subscribe_with_records(world, words=words)
    assert reply.startswith("🔔 Чат подписан на пропущенные звонки: все номера компании.\n")
    assert reply.endswith("🎧 И на записи разговоров: запись каждого принятого звонка придёт сюда.")
    chat = world.services.storage.chats.get(GROUP)
    assert chat is not None and chat.records
    assert [c.chat_id for c in world.services.storage.chats.recording_chats()] == [GROUP]
    await world.ask(ADMIN, "/subscribe", chat_id=GROUP)  # subscribing again without the word: no recordings
    assert world.services.storage.chats.recording_chats() == []


# --- the poll posts each answered call's recording --------------------------------------------------------------
async def test_each_answered_call_is_posted_once_as_a_reply_to_the_alert_it_closed(make_world: WorldFactory) -> None:
    async with make_world(jobs=True, poll_interval=0.3) as world:
        await poller(world.app).wait_cycles(1)  # the first poll: the history is not news
        await subscribe_with_records(world)
        sandbox = world.sandbox
        now = sandbox.now()
        sandbox.add_call(direction="in", clid=CUSTOMER, status="no answer", start=now - 30, end=now)
        alert_sent = await world.tg.wait_for(
            "sendMessage", chat_id=GROUP, ok=True, predicate=lambda c: phone_as_shown(CUSTOMER) in c.params["text"]
        )
        call = answered(sandbox, talk=15)  # the customer called again and got through: the alert closes
        posted = await world.tg.wait_for("sendAudio", chat_id=GROUP, ok=True, since=0)
        audio = world.tg.message(GROUP, posted.result["message_id"])
        assert audio is not None
        assert posted.files["audio"].data[:4] == b"RIFF"  # downloaded from New-Tel, uploaded from memory
        assert audio["reply_to_message"]["message_id"] == alert_sent.result["message_id"]
        lines = audio["caption"].splitlines()
        assert lines[0].startswith("🎧 Запись звонка ")
        assert lines[0].endswith(f": {phone_as_shown(CUSTOMER)} → +7 495 532-55-85")
        assert lines[1] == "⏱ Разговор: 0:15"
        assert await file_kept(world, call.vpbx_id) == audio["audio"]["file_id"]
        await polls_and_recording_rounds(world, 3)
    async with make_world(jobs=True, poll_interval=0.3) as again:  # a restart
        await polls_and_recording_rounds(again, 3)
        assert len(audio_sent(again, GROUP)) == 1  # across polls and a restart: once
        (post,) = again.services.storage.recordings.posts(call.vpbx_id)
        assert (post.state, post.message_id) == ("sent", posted.result["message_id"])


async def test_a_chat_gets_the_recordings_of_its_numbers_from_when_it_subscribed(world: World) -> None:
    company = world.sandbox.company.external_numbers
    await world.ask(ADMIN, f"/subscribe {company[1]} records", chat_id=GROUP)
    to_first = world.sandbox.add_call(direction="in", clid=CUSTOMER, dnid=company[0], status="answered")
    to_second = world.sandbox.add_call(direction="in", clid=CUSTOMER, dnid=company[1], status="answered")
    for call in (to_first, to_second):
        await archived(world, call)
    storage = world.services.storage
    chat = storage.chats.get(GROUP)
    assert chat is not None and chat.subscribed_at is not None
    # Both calls ended before the chat subscribed (three minutes ago): not its news.
    posts = RecordingPosts(world.services)
    kept = [storage.calls.get(c.vpbx_id) for c in (to_first, to_second)]
    assert posts.enqueue([k for k in kept if k is not None], now=int(time.time())) == 0
    later = [answered(world.sandbox, dnid=company[0]), answered(world.sandbox, dnid=company[1])]
    fresh = [await archived(world, call) for call in later]
    assert posts.enqueue(fresh, now=int(time.time())) == 1
    assert [p.call.vpbx_id for p in storage.recordings.due(int(time.time()), 10)] == [later[1].vpbx_id]


async def test_new_tel_failing_the_link_is_retried_later(world: World) -> None:
    world.use_newtel(max_retries=0)  # one failure is one failed attempt
    await subscribe_with_records(world)
    kept = await archived(world, answered(world.sandbox))
    posts, now = RecordingPosts(world.services), int(time.time())
    assert posts.enqueue([kept], now) == 1
    assert posts.enqueue([kept], now) == 0  # the same call pending again: nothing more
    world.sandbox.faults.fail(status=500, methods={RECORD_LINK})
    bot = world.app.bot
    assert await posts.post_due(bot, now) == 0
    (post,) = world.services.storage.recordings.posts(kept.vpbx_id)
    assert (post.state, post.tries, post.due_at) == ("due", 1, now + recordings.RETRY_FIRST)
    asked = len(world.newtel_requests(RECORD_LINK))
    assert await posts.post_due(bot, now + 30) == 0  # not due yet: New-Tel is not asked
    assert len(world.newtel_requests(RECORD_LINK)) == asked
    assert await posts.post_due(bot, now + recordings.RETRY_FIRST) == 1
    assert len(world.newtel_requests(RECORD_LINK)) == asked + 1
    assert await posts.post_due(bot, now + DAY) == 0
    (audio,) = audio_sent(world, GROUP)
    assert world.services.storage.recordings.file_id(kept.vpbx_id) == audio.result["audio"]["file_id"]


async def test_a_recording_new_tel_never_gives_is_given_up_after_a_few_tries(world: World) -> None:
    world.use_newtel(max_retries=0)
    await subscribe_with_records(world)
    kept = await archived(world, answered(world.sandbox))
    posts, now = RecordingPosts(world.services), int(time.time())
    posts.enqueue([kept], now)
    world.sandbox.faults.fail(status=500, times=recordings.TRIES, methods={RECORD_LINK})
    waits = []
    for _ in range(recordings.TRIES):
        (post,) = world.services.storage.recordings.posts(kept.vpbx_id)
        waits.append(post.due_at - now)
        await posts.post_due(world.app.bot, post.due_at)
    assert waits == [0, 60, 180, 420, 900, 1860]  # 1, 2, 4, 8, 16 minutes apart
    (post,) = world.services.storage.recordings.posts(kept.vpbx_id)
    assert (post.state, post.tries) == ("failed", recordings.TRIES)
    assert await posts.post_due(world.app.bot, now + DAY) == 0 and audio_sent(world, GROUP) == []


async def test_the_file_one_chat_got_goes_to_the_next_and_a_chat_that_blocked_the_bot_fails_alone(
    world: World,
) -> None:
    for chat_id in (GROUP, OTHER_GROUP, -100700):
        await subscribe_with_records(world, chat_id)
    kept = await archived(world, answered(world.sandbox))
    posts, now = RecordingPosts(world.services), int(time.time())
    assert posts.enqueue([kept], now) == 3
    world.tg.faults.fail(status=403, methods={"sendAudio"}, description="Forbidden: bot was kicked from the group chat")
    world.sandbox.requests.clear()
    assert await posts.post_due(world.app.bot, now) == 2
    by_chat = {p.chat_id: p.state for p in world.services.storage.recordings.posts(kept.vpbx_id)}
    assert by_chat == {-100700: "failed", OTHER_GROUP: "sent", GROUP: "sent"}
    first, second = audio_sent(world, OTHER_GROUP) + audio_sent(world, GROUP)
    assert first.files["audio"].filename == f"{kept.vpbx_id}.wav"
    assert second.params["audio"] == first.result["audio"]["file_id"]  # uploaded once, then re-sent by its file
    assert len(world.newtel_requests(RECORD_LINK)) == 1


async def test_the_recordings_have_a_job_of_their_own_that_never_holds_up_the_poll(
    make_world: WorldFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with make_world(jobs=True, poll_interval=0.2) as world:
        the_poller, queue = poller(world.app), world.app.job_queue
        (poll,), (posting,) = queue.get_jobs_by_name(JOB_NAME), queue.get_jobs_by_name(RECORDINGS_JOB)
        assert posting.job.trigger.interval == poll.job.trigger.interval
        entered, released = asyncio.Event(), asyncio.Event()

        async def a_long_download(bot: Any, now: int) -> int:
            entered.set()
            await released.wait()
            return 0

        monkeypatch.setattr(the_poller.recordings, "post_due", a_long_download)
        try:
            await asyncio.wait_for(entered.wait(), 5)
            await the_poller.wait_cycles(3, timeout=5)  # the poll goes on meanwhile
        finally:
            released.set()
        await the_poller.wait_recording_rounds(1)


async def test_a_send_that_timed_out_is_never_sent_again(world: World, caplog: pytest.LogCaptureFixture) -> None:
    for chat_id in (GROUP, OTHER_GROUP):
        await subscribe_with_records(world, chat_id)
    kept = await archived(world, answered(world.sandbox))
    posts, now = RecordingPosts(world.services), int(time.time())
    assert posts.enqueue([kept], now) == 2
    # A bot that waits 50 ms for Telegram's answers, unless told to wait longer.
    impatient = Bot(
        world.settings.telegram_bot_token.get_secret_value(),
        base_url=f"{world.settings.telegram_api_url}/bot",
        request=HTTPXRequest(read_timeout=0.05),
    )
    async with impatient:
        world.tg.faults.latency = 0.3  # Telegram answers slowly, and posts all the same
        with caplog.at_level(logging.WARNING, logger=recordings.__name__):
            # OTHER_GROUP's uploaded: Telegram is given a minute to take it. GROUP's by that file: timed out.
            assert await posts.post_due(impatient, now) == 1
        await world.tg.wait_for("sendAudio", chat_id=GROUP, ok=True, since=0)  # it went, after all
    world.tg.faults.latency = 0
    by_chat = {p.chat_id: p.state for p in world.services.storage.recordings.posts(kept.vpbx_id)}
    assert by_chat == {OTHER_GROUP: "sent", GROUP: "failed"}
    assert await posts.post_due(world.app.bot, now + DAY) == 0
    assert len(audio_sent(world, GROUP)) == 1
    assert logged(caplog) == [
        f"Sending the recording of {kept.vpbx_id} timed out: it may have been posted, so it is not sent again"
    ]


async def test_a_post_telegram_refuses_is_not_sent_again(world: World) -> None:
    await subscribe_with_records(world)
    kept = await archived(world, answered(world.sandbox))
    posts, now = RecordingPosts(world.services), int(time.time())
    posts.enqueue([kept], now)
    world.tg.faults.fail(status=400, methods={"sendAudio"}, description="Bad Request: chat not found")
    assert await posts.post_due(world.app.bot, now) == 0
    assert await posts.post_due(world.app.bot, now + DAY) == 0
    (refused,) = world.sent("sendAudio", chat_id=GROUP)
    assert refused.status == 400
    (post,) = world.services.storage.recordings.posts(kept.vpbx_id)
    assert post.state == "failed"


async def test_a_failed_download_is_logged_without_the_recordings_link(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    await subscribe_with_records(world)
    kept = await archived(world, answered(world.sandbox))
    posts, now = RecordingPosts(world.services), int(time.time())
    posts.enqueue([kept], now)
    world.sandbox.faults.record_link = f"{world.sandbox.url}/records/{'f' * 40}.wav"  # its file server says 404
    with caplog.at_level(logging.INFO, logger=recordings.__name__):
        assert await posts.post_due(world.app.bot, now) == 0
    (post,) = world.services.storage.recordings.posts(kept.vpbx_id)
    assert (post.state, post.tries) == ("due", 1)
    assert any(
        line.startswith(f"Recording of {kept.vpbx_id} not downloaded (RecordNotFound: ") for line in logged(caplog)
    )
    assert not any("/records/" in line for line in logged(caplog))


async def test_posts_waiting_for_their_alert_leave_the_round_to_the_others(world: World) -> None:
    waiting = (-100800, -100700, OTHER_GROUP)  # due first (the same call: by chat id)
    for chat_id in (*waiting, GROUP):
        await subscribe_with_records(world, chat_id)
    kept = await archived(world, answered(world.sandbox))
    storage, now = world.services.storage, int(time.time())
    for chat_id in waiting:  # the customer's earlier miss, not delivered there yet: this call closed it
        storage.alerts.record_missed(
            chat_id, "d" * 40, CUSTOMER, kept.dnid, kept.started_at - 300, kept.started_at - 270, now=now
        )
    assert kept.answered_at is not None
    assert len(storage.alerts.close_answered_later(None, CUSTOMER, kept.answered_at, now=now)) == 3
    posts = RecordingPosts(world.services)
    assert posts.enqueue([kept], now) == 4
    assert await posts.post_due(world.app.bot, now) == 1
    by_chat = {p.chat_id: p.state for p in storage.recordings.posts(kept.vpbx_id)}
    assert by_chat == {-100800: "due", -100700: "due", OTHER_GROUP: "due", GROUP: "sent"}


@pytest.mark.parametrize("kind", ["another port of the bot's host", "New-Tel's own, redirected"])
async def test_a_post_whose_link_leads_off_new_tel_is_given_up_before_anything_is_fetched(
    world: World, elsewhere: Elsewhere, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    await subscribe_with_records(world)
    kept = await archived(world, answered(world.sandbox))
    posts, now = RecordingPosts(world.services), int(time.time())
    posts.enqueue([kept], now)
    hidden = serve_hostile(world, elsewhere, kind)
    with caplog.at_level(logging.DEBUG):
        assert await posts.post_due(world.app.bot, now) == 0
    (post,) = world.services.storage.recordings.posts(kept.vpbx_id)
    assert post.state == "failed"  # a link that leads elsewhere does not lead anywhere better later
    assert nothing_uploaded(world) and world.sent(chat_id=GROUP)[-1].method == "sendMessage"  # the subscribe reply
    assert elsewhere.hits == []
    refused = f"New-Tel's link to the recording of {kept.vpbx_id} is refused"
    assert any(line.startswith(refused) for line in logged(caplog))
    log = the_bots_log(caplog)
    assert hidden not in log and "secret" not in log and "/records/" not in log


# --- /record ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(HOSTILE))
async def test_record_of_a_link_new_tel_should_never_give_says_no_recording_and_uploads_nothing(
    world: World, manager: object, elsewhere: Elsewhere, caplog: pytest.LogCaptureFixture, kind: str
) -> None:
    call = answered(world.sandbox)
    hidden = serve_hostile(world, elsewhere, kind)
    with caplog.at_level(logging.DEBUG):
        assert await world.ask(MANAGER, f"/record {call.vpbx_id}") == "У этого звонка нет записи разговора."
    assert nothing_uploaded(world) and elsewhere.hits == []
    assert world.services.storage.recordings.file_id(call.vpbx_id) is None
    said = the_bots_log(caplog)
    assert hidden not in said and SECRET.decode() not in said


async def test_record_of_an_old_call_is_resent_by_its_file_at_once(world: World, manager: object) -> None:
    call, file_id = old_call(world.sandbox), await a_telegram_file(world)
    storage = world.services.storage
    storage.calls.ingest([call], now=int(time.time()))
    assert storage.recordings.keep(call.vpbx_id, file_id, now=int(time.time()))
    world.sandbox.requests.clear()
    world.tg.send_text(MANAGER, f"/record {call.vpbx_id}")
    request_id = world.tg.chat(MANAGER, include_user=True)[-1]["message_id"]
    (audio,) = await world.replies(MANAGER)
    # At once, from Telegram's own copy: New-Tel is only asked who the members are (access).
    assert {r.method for r in world.newtel_requests()} == {"company/get-members"}
    (sent,) = world.sent("sendAudio", chat_id=MANAGER)
    assert sent.params["audio"] == file_id and sent.files == {}
    assert audio["reply_to_message"]["message_id"] == request_id
    first, talk = audio["caption"].splitlines()
    assert first.startswith("🎧 Запись звонка ") and first.endswith(": +7 903 555-11-22 → +7 495 532-55-85")
    assert talk == "⏱ Разговор: 2:00"
    (entry,) = storage.audit.recent(action="record.fetch")
    assert (entry.actor_id, entry.target) == (MANAGER, call.vpbx_id)


async def test_record_keeps_the_file_it_fetched_from_new_tel(world: World, manager: object) -> None:
    call = answered(world.sandbox)
    await world.ask(MANAGER, "/calls")  # archived as it is listed
    audio = await world.say(MANAGER, f"/record {call.vpbx_id}")
    assert await file_kept(world, call.vpbx_id) == audio["audio"]["file_id"]
    world.sandbox.requests.clear()
    again = await world.say(MANAGER, f"/record {call.vpbx_id}")
    assert again["audio"]["file_id"] == audio["audio"]["file_id"] and world.newtel_requests() == []


async def test_record_asks_new_tel_when_telegram_lost_its_copy(world: World, manager: object) -> None:
    call = answered(world.sandbox)
    await world.ask(MANAGER, "/calls")
    world.services.storage.recordings.keep(call.vpbx_id, "a-file-telegram-does-not-know", now=int(time.time()))
    audio = await world.say(MANAGER, f"/record {call.vpbx_id}")
    refused, uploaded = world.sent("sendAudio", chat_id=MANAGER)
    assert (refused.status, uploaded.status) == (400, 200)
    assert audio["audio"]["file_name"] == f"{call.vpbx_id}.wav" and uploaded.files["audio"].data[:4] == b"RIFF"
    assert len(world.newtel_requests(RECORD_LINK)) == 1
    (entry,) = world.services.storage.audit.recent(action="record.fetch")  # listened once, tried two ways
    assert entry.target == call.vpbx_id


async def test_record_keeps_the_new_file_in_place_of_the_one_telegram_refused(world: World, manager: object) -> None:
    call = answered(world.sandbox)
    await world.ask(MANAGER, "/calls")
    storage = world.services.storage
    storage.recordings.keep(call.vpbx_id, "a-file-telegram-does-not-know", now=int(time.time()))
    audio = await world.say(MANAGER, f"/record {call.vpbx_id}")
    assert await file_kept(world, call.vpbx_id) == audio["audio"]["file_id"]
    world.sandbox.requests.clear()
    again = await world.say(MANAGER, f"/record {call.vpbx_id}")
    assert again["audio"]["file_id"] == audio["audio"]["file_id"] and world.newtel_requests() == []


async def test_record_of_a_call_the_archive_knows_nobody_answered_asks_no_one(world: World, manager: object) -> None:
    now = world.sandbox.now()
    missed = world.sandbox.add_call(direction="in", clid=CUSTOMER, status="no answer", start=now - 40, end=now - 10)
    await archived(world, missed)
    world.sandbox.requests.clear()
    assert await world.ask(MANAGER, f"/record {missed.vpbx_id}") == "У этого звонка нет записи разговора."
    assert {r.method for r in world.newtel_requests()} == {"company/get-members"} and world.sent("sendAudio") == []


async def test_record_of_an_old_call_without_its_file_says_new_tel_no_longer_keeps_it(
    world: World, manager: object
) -> None:
    gone, unanswered = old_call(world.sandbox), old_call(world.sandbox, status="no answer", days=2)
    world.services.storage.calls.ingest([gone, unanswered], now=int(time.time()))
    world.sandbox.requests.clear()
    reply = await world.ask(MANAGER, f"/record {gone.vpbx_id}")
    assert reply.startswith("«Нью-Тел» хранит записи только сутки, а этот звонок был ")
    assert reply.endswith(
        "записи там уже нет. Чаты, подписанные на записи (/subscribe … records), сохраняют каждую запись с момента"
        " подписки."
    )
    assert await world.ask(MANAGER, f"/record {unanswered.vpbx_id}") == "У этого звонка нет записи разговора."
    await world.ask(MANAGER, "/lang en")
    assert (await world.ask(MANAGER, f"/record {gone.vpbx_id}")).startswith(
        "New-Tel keeps recordings for 24 hours only, and this call is from "
    )
    assert {r.method for r in world.newtel_requests()} == {"company/get-members"} and world.sent("sendAudio") == []
