"""The real PTB Application against the fake server over loopback: updates, edits, uploads, errors, teardown."""

from __future__ import annotations

import asyncio
import time

import pytest
from telegram import Bot
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter
from telegram.request import HTTPXRequest

from localchat import FakeBotAPI
from tests.localchat.toybot import AUDIO, GROUP, USER, ToyBot, build_toy_app, start_app, stop_app

# RetryAfter's own constructor reads its deprecated int-valued property; nothing the fake can change.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


async def test_start_up_calls_follow_ptb_order(tg: FakeBotAPI, toy: ToyBot) -> None:
    await tg.wait_for("getUpdates", since=0)
    methods = [c.method for c in tg.calls]
    assert methods[:3] == ["getMe", "deleteWebhook", "getUpdates"]
    assert toy.app.bot.username == "newtel_demo_bot"
    assert toy.app.bot.id == 123456


async def test_command_reply_press_and_edit(tg: FakeBotAPI, toy: ToyBot) -> None:
    tg.send_text(USER, "/echo hi <there> & co")
    sent = await tg.wait_for("sendMessage", chat_id=USER)
    assert sent.ok and sent.params["parse_mode"] == "HTML"

    message = tg.last_message(USER)
    assert message is not None
    assert message["text"] == "Echo: hi <there> & co"  # what the user sees: HTML parsed
    assert message["entities"] == [{"type": "bold", "offset": 0, "length": 5}]
    assert message["raw_text"] == "<b>Echo:</b> hi &lt;there&gt; &amp; co"
    assert [b["text"] for b in message["reply_markup"]["inline_keyboard"][0]] == ["Call back", "Done"]
    assert message["from"]["id"] == tg.bot_user["id"] and message["date"] > 0

    update = tg.press(USER, message, button="Done")
    await tg.wait_for("editMessageText", chat_id=USER)
    await tg.wait_for("answerCallbackQuery")
    [edited] = tg.chat(USER)
    assert edited["message_id"] == message["message_id"]
    assert edited["text"] == "You chose v1:done"
    assert edited["edit_count"] == 1
    assert "reply_markup" not in edited  # an edit without reply_markup drops the keyboard, as in Telegram
    assert tg.callback_answer(update) == {"text": "got v1:done"}


async def test_group_command_addressed_to_the_bot(tg: FakeBotAPI, toy: ToyBot) -> None:
    update = tg.send_text(USER, "/echo@newtel_demo_bot team", chat_id=GROUP)
    assert update["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 21}]
    await tg.wait_for("sendMessage", chat_id=GROUP)
    assert [m["text"] for m in tg.chat(GROUP)] == ["Echo: team"]
    assert tg.chat(USER) == []


async def test_audio_upload_is_kept_and_downloadable(tg: FakeBotAPI, toy: ToyBot) -> None:
    tg.send_text(USER, "/record")
    call = await tg.wait_for("sendAudio", chat_id=USER, ok=True)
    upload = call.files["audio"]
    assert (upload.filename, upload.data, upload.content_type) == ("call-17.mp3", AUDIO, "audio/mpeg")

    message = tg.last_message(USER)
    assert message is not None
    assert message["audio"]["file_size"] == len(AUDIO)
    assert message["audio"]["file_name"] == "call-17.mp3"
    assert message["caption"] == "Recording of call 17"

    file = await toy.app.bot.get_file(message["audio"]["file_id"])
    assert bytes(await file.download_as_bytearray()) == AUDIO


async def test_429_is_retried_by_the_rate_limiter(tg: FakeBotAPI, limited_toy: ToyBot) -> None:
    # Fractional retry_after keeps the test fast; PTB's RetryAfter accepts it like an int.
    tg.faults.fail(status=429, times=2, methods={"sendMessage"}, retry_after=0.1)
    tg.send_text(USER, "/echo again")
    await tg.wait_for("sendMessage", chat_id=USER, ok=True)
    statuses = [c.status for c in tg.calls if c.method == "sendMessage"]
    assert statuses == [429, 429, 200]
    assert limited_toy.errors.empty()
    assert [m["text"] for m in tg.chat(USER)] == ["Echo: again"]


@pytest.mark.parametrize(
    ("status", "error", "text"),
    [
        (400, BadRequest, "injected fault"),
        (403, Forbidden, "blocked by the user"),
        (409, Conflict, "terminated by other"),
        (429, RetryAfter, "Retry in 3"),
        (500, NetworkError, "Internal Server Error"),
        (502, NetworkError, "Bad Gateway"),
    ],
)
async def test_faults_surface_as_ptb_errors(
    tg: FakeBotAPI, toy: ToyBot, status: int, error: type[Exception], text: str
) -> None:
    tg.faults.fail(status=status, times=3, methods={"sendMessage"}, retry_after=3)
    tg.send_text(USER, "/echo x")
    raised = await toy.next_error()
    assert type(raised) is error
    assert text.lower() in str(raised).lower()
    assert [c.status for c in tg.calls if c.method == "sendMessage"] == [status]  # no retry without a limiter
    assert tg.faults.pending[0].remaining == 2


async def test_message_too_long_is_a_bad_request(tg: FakeBotAPI, toy: ToyBot) -> None:
    tg.send_text(USER, "/long")
    raised = await toy.next_error()
    assert isinstance(raised, BadRequest)
    assert "too long" in str(raised).lower()
    assert tg.chat(USER) == []


async def test_blocked_user_is_forbidden(tg: FakeBotAPI, toy: ToyBot) -> None:
    tg.block(USER)
    tg.send_text(USER, "/echo")
    assert isinstance(await toy.next_error(), Forbidden)


async def test_wrong_token_fails_initialize(tg: FakeBotAPI) -> None:
    # Our own request objects: a failed initialize() leaves PTB's open, and the test must close them.
    requests = HTTPXRequest(), HTTPXRequest()
    bot = Bot("654321:WRONG", base_url=tg.url + "/bot", request=requests[0], get_updates_request=requests[1])
    try:
        with pytest.raises(InvalidToken):
            await bot.initialize()
    finally:
        await asyncio.gather(*(r.shutdown() for r in requests))


async def test_teardown_does_not_wait_out_the_long_poll(tg: FakeBotAPI) -> None:
    bot = build_toy_app(tg)
    await start_app(bot.app)
    await tg.wait_for("getUpdates", since=0)  # a 10 s long poll is now waiting in the server
    started = time.monotonic()
    await stop_app(bot.app)
    await tg.close()
    assert time.monotonic() - started < 1.5
