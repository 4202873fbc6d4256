"""Recordings that outlive New-Tel's 24 hours. Each answered call's recording goes, as audio, to every chat
subscribed with "records" (a reply to that call's alert where there is one), and the Telegram file it becomes is
kept, so ``/record`` re-sends it at once, long after New-Tel forgot the call.

The poll hands over the calls the archive took in (``enqueue``: storage only); a job of its own posts a few due
ones at a time (``post_due``), so a big download never holds up the poll. A post is at most once per chat and call:
storage records it right after Telegram's answer, what Telegram took but storage could not record is kept in memory
and never sent again, and a send that timed out (Telegram may have posted it all the same) is not repeated.
"""

from __future__ import annotations

import io
import logging
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import AnyHttpUrl
from telegram import Audio, Bot, InputFile, Message, ReplyParameters
from telegram.error import BadRequest, ChatMigrated, Forbidden, TelegramError, TimedOut

import newtel
from bot.formatting import duration, format_for_people, moment
from bot.services import Services
from bot.texts import Html, Texts
from storage import Alert, CallRecord, RecordPost

log = logging.getLogger(__name__)

Links = dict[str, AnyHttpUrl | newtel.NewtelError]  # New-Tel's link to each call's recording, or why there is none

NEWTEL_KEEPS = 24 * 3600  # seconds New-Tel keeps a call (and its recording)
POSTS_PER_POLL = 3  # recordings are big: a round of the recordings job attempts at most this many
DUE_ROWS = 100  # due posts a round reads: those still waiting for their alert are passed over, not attempted
TRIES = 6  # attempts to get a recording from New-Tel before a post is given up
RETRY_FIRST = 60  # seconds before the first retry; each next waits twice as long (1, 2, 4, 8, 16 min: 6 tries)
TELEGRAM_RETRY = 60  # seconds before a post Telegram failed to take is tried again (never given up)
ALERT_WAIT = 120  # seconds a post waits for its alert's first delivery, to be posted as a reply to it
MAX_UPLOAD = 50 * 1024 * 1024  # Telegram's limit for files a bot uploads
UPLOAD_WAIT = 60  # seconds Telegram may take to answer a recording's upload (it reads the whole file first)


def caption(call: CallRecord, texts: Texts, zone: ZoneInfo, now: datetime) -> Html:
    """When, who called whom; then the talk time and who of the company answered or placed it, when known."""
    lines = [
        texts(
            "record_caption",
            when=moment(datetime.fromtimestamp(call.started_at, UTC), zone, texts.lang, now),
            caller=format_for_people(call.clid),
            dialled=format_for_people(call.dnid),
        ),
        texts("recording_talk", talk=duration(call.talk_seconds)),
    ]
    if call.member_name:
        who = "recording_placed_by" if call.direction == "out" else "recording_answered_by"
        lines.append(texts(who, member=call.member_name))
    return Html("\n".join(lines))


async def send_recording(
    bot: Bot,
    client: newtel.NewtelClient,
    chat_id: int,
    vpbx_id: str,
    caption: Html,
    texts: Texts,
    *,
    file_id: str | None = None,
    link: AnyHttpUrl | None = None,
    reply_to: int | None = None,
    thread_id: int | None = None,
) -> Message:
    """The one way a recording is sent: by the ``file_id`` Telegram keeps; else downloaded from New-Tel's ``link``
    (the client follows it only to New-Tel's hosts: ``newtel.LinkRefused`` otherwise) and uploaded from memory when
    under 50 MB, else as the link. PTB is never handed a string for the file: it would read one that names a local
    file as that file and upload it. ``reply_to`` a message that may be gone: then it is sent without the reply;
    ``thread_id``: the forum topic it belongs in."""
    reply = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to is not None else None
    where: dict[str, Any] = {"reply_parameters": reply, "message_thread_id": thread_id}
    if file_id is not None:
        return await bot.send_audio(chat_id, telegrams_copy(file_id), caption=caption, **where)
    if link is None:
        raise ValueError("a recording is sent by its file_id or its link")
    data = await client.download(link, max_bytes=MAX_UPLOAD)
    if data is None:
        return await bot.send_message(chat_id, texts("record_link", caption=caption, url=str(link)), **where)
    # A handle httpx reads in 64 kB pieces (from the start again on a retry): bytes went to the socket's buffer in one
    # piece, which held the event loop ~75 ms for a 50 MB recording.
    upload = InputFile(io.BytesIO(data), filename=f"{vpbx_id}.wav", read_file_handle=False)
    return await bot.send_audio(chat_id, upload, caption=caption, read_timeout=UPLOAD_WAIT, **where)


def telegrams_copy(file_id: str) -> Audio:
    """A file Telegram keeps, as PTB sends it by its id without looking for a local file of that name."""
    return Audio(file_id, file_unique_id=file_id, duration=0)


def kept_file(message: Message) -> str | None:
    """The Telegram file a sent recording became (None when it went as a link)."""
    return message.audio.file_id if message.audio is not None else None


class RecordingPosts:
    """Each answered call's recording, posted once to every chat subscribed with "records"."""

    def __init__(self, svc: Services) -> None:
        self._svc = svc
        # Taken by Telegram, not yet recorded in storage: (chat id, vpbx id) -> (message id, file id).
        self._unrecorded: dict[tuple[int, str], tuple[int, str | None]] = {}

    def enqueue(self, pending: Sequence[CallRecord], now: int) -> int:
        """A post, due now, for every answered call among ``pending`` that is over, in each chat subscribed with
        "records" whose numbers it concerns and that subscribed before it ended. Returns how many are new."""
        ended = [call for call in pending if not call.active and call.answered_at is not None]
        if not ended:
            return 0
        chats = self._svc.storage.chats.recording_chats()
        posts = [
            (chat.chat_id, call.vpbx_id)
            for call in ended
            for chat in chats
            if (call.ended_at or call.started_at) >= chat.since and chat.wants(call.company)
        ]
        return self._svc.storage.recordings.enqueue(posts, due_at=now)

    async def post_due(self, bot: Bot, now: int) -> int:
        """Attempt at most POSTS_PER_POLL due recordings, the longest waiting first; those waiting for their alert
        are passed over and do not count. Returns how many went."""
        if not self._record_unrecorded(now):
            return 0
        recordings = self._svc.storage.recordings
        links: Links = {}  # asked once per round
        attempted = posted = 0
        for post in recordings.due(now, DUE_ROWS):
            alert = recordings.alert_of(post.chat_id, post.call)
            if alert is not None and alert.message_id is None and now - (post.call.ended_at or now) < ALERT_WAIT:
                continue  # its alert is about to go out (the poll delivers it): the recording follows as a reply
            outcome = await self._post(bot, post, alert, now, links)
            if outcome is None:
                break  # Telegram is failing: the others wait for the next round too
            posted += outcome
            attempted += 1
            if attempted == POSTS_PER_POLL:
                break
        return posted

    async def _post(self, bot: Bot, post: RecordPost, alert: Alert | None, now: int, links: Links) -> int | None:
        """Send one post (a reply to ``alert``'s message, if it has one): 1 when it went, 0 when it did not
        (retried later or given up), None to stop the round."""
        svc, call, chat_id = self._svc, post.call, post.chat_id
        recordings = svc.storage.recordings
        file_id = recordings.file_id(call.vpbx_id)
        link = None
        if file_id is None:
            if call.vpbx_id not in links:
                try:
                    links[call.vpbx_id] = await svc.background.vpbx.get_call_record_link(call.vpbx_id)
                except newtel.NewtelError as error:  # often: no recording yet, right after the call
                    links[call.vpbx_id] = error
            found = links[call.vpbx_id]
            if isinstance(found, newtel.LinkRefused):
                return self._refused(post, found)
            if isinstance(found, newtel.NewtelError):
                log.info("No recording of %s from New-Tel yet (%s: %s)", call.vpbx_id, type(found).__name__, found)
                self._retry(post, now)
                return 0
            link = found
        texts = svc.chat_texts(chat_id)
        text = caption(call, texts, svc.settings.zone, datetime.fromtimestamp(now, UTC))
        reply_to = alert.message_id if alert is not None and alert.message_id else None
        try:
            message = await send_recording(
                bot, svc.background, chat_id, call.vpbx_id, text, texts, file_id=file_id, link=link, reply_to=reply_to
            )
        except ChatMigrated as error:  # the group became a supergroup: its posts follow it (ON UPDATE CASCADE)
            log.info("Chat %s moved to %s", chat_id, error.new_chat_id)
            svc.storage.chats.move(chat_id, error.new_chat_id, now=now)
            return 0
        except Forbidden as error:
            dropped = recordings.give_up_chat(chat_id)
            log.warning(
                "The bot cannot write to chat %s (%s): %d recording(s) not posted there", chat_id, error, dropped
            )
            return 0
        except BadRequest as error:
            if "chat not found" in error.message.lower():
                recordings.give_up_chat(chat_id)
            else:
                recordings.give_up(chat_id, call.vpbx_id)
            log.error("Telegram refused the recording of %s in chat %s: %s", call.vpbx_id, chat_id, error.message)
            return 0
        except TimedOut:  # Telegram may have posted it all the same: better not at all than twice
            recordings.give_up(chat_id, call.vpbx_id)
            log.warning(
                "Sending the recording of %s timed out: it may have been posted, so it is not sent again", call.vpbx_id
            )
            return None
        except TelegramError as error:  # 5xx, network, 429 past the rate limiter: lose nothing, retry later
            log.warning("Recording of %s not posted in chat %s yet (%s); will retry", call.vpbx_id, chat_id, error)
            recordings.postpone(chat_id, call.vpbx_id, now + TELEGRAM_RETRY)
            return None
        except newtel.LinkRefused as error:  # a redirect off New-Tel's hosts
            return self._refused(post, error)
        except newtel.NewtelError as error:  # New-Tel's file server (its errors never carry the link)
            log.info("Recording of %s not downloaded (%s: %s)", call.vpbx_id, type(error).__name__, error)
            self._retry(post, now)
            return 0
        # Recorded before anything else can run: the only window in which a post could go twice.
        self._unrecorded[(chat_id, call.vpbx_id)] = (message.message_id, kept_file(message))
        return 1 if self._record_unrecorded(now) else None

    def _refused(self, post: RecordPost, error: newtel.LinkRefused) -> int:
        """New-Tel's link leads off its hosts: given up at once, as it will lead nowhere better later."""
        self._svc.storage.recordings.give_up(post.chat_id, post.call.vpbx_id)
        log.warning(
            "New-Tel's link to the recording of %s is refused (%s); not posted in chat %s"
            " (NEWTEL_RECORDING_HOSTS says where links may lead)",
            post.call.vpbx_id, error.message, post.chat_id,
        )  # fmt: skip
        return 0

    def _retry(self, post: RecordPost, now: int) -> None:
        """New-Tel had no recording to give (yet): try again later, each time waiting twice as long."""
        due_at = now + RETRY_FIRST * 2**post.tries
        state = self._svc.storage.recordings.retry(post.chat_id, post.call.vpbx_id, due_at, TRIES)
        if state == "failed":
            log.warning("Recording of %s for chat %s given up after %d tries", post.call.vpbx_id, post.chat_id, TRIES)

    def _record_unrecorded(self, now: int) -> bool:
        """Record what Telegram took and storage does not know yet; False while storage cannot (nothing is sent)."""
        try:
            for (chat_id, vpbx_id), (message_id, file_id) in list(self._unrecorded.items()):
                self._svc.storage.recordings.sent(chat_id, vpbx_id, message_id, file_id, now=now)
                del self._unrecorded[(chat_id, vpbx_id)]
        except sqlite3.OperationalError as error:
            log.warning("The database cannot record %d posted recording(s) (%s)", len(self._unrecorded), error)
            return False
        return True
