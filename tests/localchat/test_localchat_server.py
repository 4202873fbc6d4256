"""The fake Bot API over raw HTTP: decoding, validation like Telegram, long polling, faults, waiting."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from localchat import FakeBotAPI
from tests.localchat.toybot import GROUP, USER

Api = Callable[..., Any]
KEYBOARD = {
    "inline_keyboard": [[{"text": "Call back", "callback_data": "v1:cb:7"}, {"text": "Done", "callback_data": "d"}]]
}


async def test_token_is_checked(tg: FakeBotAPI, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{tg.url}/bot{tg.token}/getMe") as ok:
        me = await ok.json()
    assert me["result"]["username"] == "newtel_demo_bot" and me["result"]["is_bot"]
    async with http.post(f"{tg.url}/bot654321:WRONG/getMe") as wrong:
        assert wrong.status == 401
    async with http.post(f"{tg.url}/bot/{tg.token}/getMe") as slash:  # base_url with a trailing "/"
        assert slash.status == 404
    assert [c.method for c in tg.calls] == ["getMe"]


async def test_form_fields_are_decoded_like_ptb_encodes_them(tg: FakeBotAPI, http: aiohttp.ClientSession) -> None:
    form = {"chat_id": str(USER), "text": "123", "reply_markup": json.dumps(KEYBOARD)}
    async with http.post(f"{tg.url}/bot{tg.token}/sendMessage", data=form) as response:
        assert response.status == 200
    params = tg.calls[-1].params
    assert params == {"chat_id": USER, "text": "123", "reply_markup": KEYBOARD}  # strings stay strings


async def test_multipart_upload_and_url_audio(tg: FakeBotAPI, http: aiohttp.ClientSession) -> None:
    form = aiohttp.FormData()
    form.add_field("chat_id", str(USER))
    form.add_field("audio", b"x" * 4096, filename="rec.mp3", content_type="audio/mpeg")
    async with http.post(f"{tg.url}/bot{tg.token}/sendAudio", data=form) as response:
        uploaded = (await response.json())["result"]
    assert uploaded["audio"]["file_size"] == 4096 and uploaded["audio"]["file_name"] == "rec.mp3"

    url = "https://records.example/calls/17.mp3"
    async with http.post(f"{tg.url}/bot{tg.token}/sendAudio", json={"chat_id": USER, "audio": url}) as response:
        by_url = (await response.json())["result"]
    assert by_url["audio"]["file_name"] == "17.mp3" and "file_size" not in by_url["audio"]
    assert tg.last_message(USER)["file_url"] == url  # type: ignore[index]


@pytest.mark.parametrize(
    ("params", "description"),
    [
        ({"chat_id": USER, "text": ""}, "Bad Request: message text is empty"),
        ({"chat_id": USER, "text": "x" * 4097}, "Bad Request: message is too long"),
        ({"chat_id": 777, "text": "hi"}, "Bad Request: chat not found"),
        ({"text": "hi"}, "Bad Request: chat_id is empty"),
        ({"chat_id": USER, "text": "a <5 min", "parse_mode": "HTML"}, "Bad Request: can't parse entities"),
        ({"chat_id": USER, "text": "<b>open", "parse_mode": "HTML"}, 'start tag "b"'),
        ({"chat_id": USER, "text": "<foo>x</foo>", "parse_mode": "HTML"}, 'Unsupported start tag "foo"'),
        (
            {
                "chat_id": USER,
                "text": "hi",
                "reply_markup": {"inline_keyboard": [[{"text": "a", "callback_data": "x" * 65}]]},
            },
            "Bad Request: BUTTON_DATA_INVALID",
        ),
        (
            {"chat_id": USER, "text": "hi", "reply_markup": {"inline_keyboard": [[{"text": "plain"}]]}},
            "Text buttons are unallowed",
        ),
        ({"chat_id": USER, "text": "hi", "reply_parameters": {"message_id": 99}}, "message to be replied not found"),
    ],
)
async def test_send_message_is_validated_like_telegram(
    tg: FakeBotAPI, api: Api, params: dict[str, Any], description: str
) -> None:
    status, body = await api("sendMessage", **params)
    assert status == 400
    assert body["ok"] is False and body["error_code"] == 400
    assert description in body["description"]
    assert tg.chat(USER) == []


@pytest.mark.parametrize(
    "params",
    [
        {"text": "x" * 4096},
        {"text": "<b>" + "x" * 4096 + "</b>", "parse_mode": "HTML"},  # the limit applies after parsing
        {"text": "&lt;" * 4096, "parse_mode": "HTML"},
        {"text": "hi", "reply_markup": {"inline_keyboard": [[{"text": "a", "callback_data": "я" * 32}]]}},  # 64 bytes
    ],
)
async def test_limits_are_inclusive(tg: FakeBotAPI, api: Api, params: dict[str, Any]) -> None:
    status, body = await api("sendMessage", chat_id=USER, **params)
    assert status == 200, body


async def test_result_is_a_realistic_message(tg: FakeBotAPI, api: Api) -> None:
    _, first = await api(
        "sendMessage", chat_id=USER, text='<a href="https://x.example/?a=1&amp;b=2">site</a>', parse_mode="HTML"
    )
    _, second = await api("sendMessage", chat_id=USER, text="two", reply_markup=KEYBOARD)
    message = first["result"]
    assert message["message_id"] == 1 and second["result"]["message_id"] == 2
    assert message["chat"] == {
        "id": USER,
        "type": "private",
        "first_name": "Ivan",
        "last_name": "Petrov",
        "username": "ivan",
    }
    assert message["from"]["is_bot"] and abs(message["date"] - time.time()) < 5
    assert message["text"] == "site"
    assert message["entities"] == [{"type": "text_link", "offset": 0, "length": 4, "url": "https://x.example/?a=1&b=2"}]
    assert second["result"]["reply_markup"] == KEYBOARD
    _, group = await api("sendMessage", chat_id=GROUP, text="hello team")
    assert group["result"]["message_id"] == 1  # message ids count per chat
    assert group["result"]["chat"] == {"id": GROUP, "type": "group", "title": "Sales"}


async def test_edits_and_not_modified(tg: FakeBotAPI, api: Api) -> None:
    _, sent = await api("sendMessage", chat_id=USER, text="Ringing", reply_markup=KEYBOARD)
    message_id = sent["result"]["message_id"]
    status, body = await api(
        "editMessageText", chat_id=USER, message_id=message_id, text="Ringing", reply_markup=KEYBOARD
    )
    assert status == 400 and body["description"].startswith("Bad Request: message is not modified:")

    status, _ = await api("editMessageReplyMarkup", chat_id=USER, message_id=message_id)
    assert status == 200
    status, _ = await api(
        "editMessageText", chat_id=USER, message_id=message_id, text="<i>Answered</i>", parse_mode="HTML"
    )
    assert status == 200
    [view] = tg.chat(USER)
    assert (view["text"], view["edit_count"], view["raw_text"]) == ("Answered", 2, "<i>Answered</i>")
    assert "reply_markup" not in view and view["edit_date"] > 0

    status, body = await api("editMessageText", chat_id=USER, message_id=99, text="x")
    assert (status, body["description"]) == (400, "Bad Request: message to edit not found")
    tg.send_text(USER, "mine")
    status, body = await api("editMessageText", chat_id=USER, message_id=2, text="x")
    assert (status, body["description"]) == (400, "Bad Request: message can't be edited")


async def test_delete_message(tg: FakeBotAPI, api: Api) -> None:
    await api("sendMessage", chat_id=USER, text="one")
    await api("sendMessage", chat_id=USER, text="two")
    assert (await api("deleteMessage", chat_id=USER, message_id=1))[0] == 200
    assert [m["text"] for m in tg.chat(USER)] == ["two"]
    status, body = await api("deleteMessage", chat_id=USER, message_id=1)
    assert (status, body["description"]) == (400, "Bad Request: message to delete not found")


async def test_pinning_a_message(tg: FakeBotAPI, api: Api) -> None:
    await api("sendMessage", chat_id=GROUP, text="board")
    await api("sendMessage", chat_id=GROUP, text="news")
    assert tg.pinned(GROUP) is None
    assert (await api("pinChatMessage", chat_id=GROUP, message_id=1, disable_notification=True))[0] == 200
    assert tg.pinned(GROUP) == 1
    assert (await api("getChat", chat_id=GROUP))[1]["result"]["pinned_message"]["text"] == "board"
    status, body = await api("pinChatMessage", chat_id=GROUP, message_id=99)
    assert (status, body["description"]) == (400, "Bad Request: message to pin not found")
    await api("unpinChatMessage", chat_id=GROUP, message_id=2)  # not the pinned one: nothing changes
    assert tg.pinned(GROUP) == 1
    await api("deleteMessage", chat_id=GROUP, message_id=1)  # a deleted message is no longer pinned
    assert tg.pinned(GROUP) is None
    await api("pinChatMessage", chat_id=GROUP, message_id=2)
    await api("unpinChatMessage", chat_id=GROUP)
    assert tg.pinned(GROUP) is None


async def test_callback_queries_and_answers(tg: FakeBotAPI, api: Api) -> None:
    _, sent = await api("sendMessage", chat_id=USER, text="Missed call", reply_markup=KEYBOARD)
    message = sent["result"]
    by_text = tg.press(USER, message, button="Call back")["callback_query"]
    by_index = tg.press(USER, (USER, message["message_id"]), button=1)["callback_query"]
    forged = tg.press(USER, message, "v9:stale")["callback_query"]
    assert (by_text["data"], by_index["data"], forged["data"]) == ("v1:cb:7", "d", "v9:stale")
    assert by_text["message"]["date"] > 0 and by_text["chat_instance"] and by_text["from"]["id"] == USER
    with pytest.raises(ValueError, match="pass data= or button="):
        tg.press(USER, message)
    with pytest.raises(ValueError, match="no button 'Nope'"):
        tg.press(USER, message, button="Nope")

    assert (await api("answerCallbackQuery", callback_query_id=by_text["id"], text="Calling…", show_alert=True))[
        0
    ] == 200
    assert tg.callback_answer(by_text["id"]) == {"text": "Calling…", "show_alert": True}
    status, body = await api("answerCallbackQuery", callback_query_id=by_text["id"])
    assert status == 400 and "query is too old" in body["description"]
    assert tg.callback_answer(by_index["id"]) is None


async def test_contact_and_reply(tg: FakeBotAPI, api: Api) -> None:
    contact = tg.share_contact(USER, "+7 916 111-22-33")["message"]["contact"]
    assert contact == {"phone_number": "+7 916 111-22-33", "first_name": "Ivan", "user_id": USER, "last_name": "Petrov"}
    _, sent = await api("sendMessage", chat_id=USER, text="Which number?")
    reply = tg.send_text(USER, "this one", reply_to=sent["result"])["message"]
    assert reply["reply_to_message"]["text"] == "Which number?"
    assert [m["message_id"] for m in tg.chat(USER, include_user=True)] == [1, 2, 3]


async def test_commands_are_stored_per_scope_and_language(tg: FakeBotAPI, api: Api) -> None:
    ru = [{"command": "start", "description": "Начать"}]
    en = [{"command": "start", "description": "Start"}]
    admins = {"type": "chat_administrators", "chat_id": GROUP}
    await api("setMyCommands", commands=ru, language_code="ru")
    await api("setMyCommands", commands=en)
    await api("setMyCommands", commands=en, scope=admins)
    assert (await api("getMyCommands", language_code="ru"))[1]["result"] == ru
    assert (await api("getMyCommands"))[1]["result"] == en
    assert tg.my_commands(scope=admins) == en
    await api("deleteMyCommands", language_code="ru")
    assert tg.my_commands(language_code="ru") == []
    status, body = await api("setMyCommands", commands=[{"command": "/Start", "description": "x"}])
    assert (status, body["description"]) == (400, "Bad Request: BOT_COMMAND_INVALID")


async def test_misc_methods(tg: FakeBotAPI, api: Api) -> None:
    assert (await api("sendChatAction", chat_id=USER, action="typing"))[0] == 200
    assert (await api("sendChatAction", chat_id=USER, action="dancing"))[0] == 400
    chat = (await api("getChat", chat_id=GROUP))[1]["result"]
    assert chat["title"] == "Sales" and "accepted_gift_types" in chat
    assert await api("setWebhook", url="https://bot.example/hook") == (200, {"ok": True, "result": True})
    assert (await api("getWebhookInfo"))[1]["result"]["url"] == "https://bot.example/hook"
    assert (await api("getUpdates"))[0] == 409  # Telegram refuses polling while a webhook is set
    await api("deleteWebhook")
    assert await api("setChatMenuButton", chat_id=USER) == (200, {"ok": True, "result": True})  # unknown: accepted
    assert tg.calls[-1].method == "setChatMenuButton"
    assert (await api("GETME"))[1]["result"]["id"] == 123456  # method names are case-insensitive
    assert tg.calls[-1].method == "getMe"


# -- long polling -----------------------------------------------------------------------------------


async def test_long_poll_returns_as_soon_as_an_update_arrives(tg: FakeBotAPI, api: Api) -> None:
    poll = asyncio.create_task(api("getUpdates", timeout=10))
    await tg.wait_for("getUpdates")  # the poll is waiting in the server
    started = time.monotonic()
    update = tg.send_text(USER, "hello")
    _, body = await asyncio.wait_for(poll, 2)
    assert time.monotonic() - started < 1
    assert body["result"] == [update]
    again = (await api("getUpdates", timeout=0))[1]["result"]
    assert again == [update]  # not acknowledged yet
    assert (await api("getUpdates", offset=update["update_id"] + 1, timeout=0))[1]["result"] == []


async def test_long_poll_times_out_empty(tg: FakeBotAPI, api: Api) -> None:
    started = time.monotonic()
    assert (await api("getUpdates", timeout=0.2))[1]["result"] == []
    assert 0.15 < time.monotonic() - started < 2


async def test_close_wakes_the_long_poll(api: Api, tg: FakeBotAPI) -> None:
    poll = asyncio.create_task(api("getUpdates", timeout=30))
    await tg.wait_for("getUpdates")
    started = time.monotonic()
    await tg.close()
    status, body = await asyncio.wait_for(poll, 2)
    assert (status, body["result"]) == (200, [])
    assert time.monotonic() - started < 1


async def test_a_newer_poll_terminates_the_older_one(api: Api, tg: FakeBotAPI) -> None:
    old = asyncio.create_task(api("getUpdates", timeout=30))
    await tg.wait_for("getUpdates")
    new = asyncio.create_task(api("getUpdates", timeout=30))
    status, body = await asyncio.wait_for(old, 2)
    assert status == 409 and body["description"].startswith("Conflict: terminated by other getUpdates request")
    tg.send_text(USER, "hi")
    assert len((await asyncio.wait_for(new, 2))[1]["result"]) == 1


async def test_allowed_updates_filter_and_persist(api: Api, tg: FakeBotAPI) -> None:
    tg.send_text(USER, "text")
    await api("sendMessage", chat_id=USER, text="m", reply_markup=KEYBOARD)
    tg.press(USER, (USER, 2), button=0)
    only = (await api("getUpdates", allowed_updates=["callback_query"]))[1]["result"]
    assert [next(k for k in u if k != "update_id") for u in only] == ["callback_query"]
    assert len((await api("getUpdates"))[1]["result"]) == 1  # remembered, like Telegram


# -- faults -----------------------------------------------------------------------------------------


async def test_faults_are_consumed_in_order(tg: FakeBotAPI, api: Api) -> None:
    tg.faults.fail(status=429, times=1, retry_after=2)
    tg.faults.fail(status=500, times=2, methods={"sendMessage"})
    assert (await api("getUpdates"))[0] == 200  # methods=None leaves polling alone
    status, body = await api("sendChatAction", chat_id=USER, action="typing")
    assert (status, body) == (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 2",
            "parameters": {"retry_after": 2},
        },
    )
    assert [(await api("sendMessage", chat_id=USER, text="x"))[0] for _ in range(3)] == [500, 500, 200]
    assert tg.faults.pending == []
    tg.faults.fail(status=403, methods="sendMessage")
    tg.faults.clear()
    assert (await api("sendMessage", chat_id=USER, text="x"))[0] == 200


async def test_a_fault_may_name_its_chat(tg: FakeBotAPI, api: Api) -> None:
    tg.faults.fail(status=429, times=1, methods="sendMessage", chat_id=GROUP, retry_after=3)
    assert (await api("sendMessage", chat_id=USER, text="x"))[0] == 200  # another chat's request goes through
    assert (await api("sendMessage", chat_id=GROUP, text="x"))[0] == 429
    assert (await api("sendMessage", chat_id=GROUP, text="x"))[0] == 200


async def test_a_group_past_its_flood_limit_is_answered_429_until_a_minute_has_passed() -> None:
    async with FakeBotAPI(group_flood_limit=2) as tg, aiohttp.ClientSession() as http:
        tg.group(GROUP, title="Sales")
        tg.user(USER)

        async def api(method: str, **params: Any) -> tuple[int, dict[str, Any]]:
            async with http.post(f"{tg.url}/bot{tg.token}/{method}", json=params) as response:
                return response.status, await response.json()

        _, sent = await api("sendMessage", chat_id=GROUP, text="1")
        edited = await api("editMessageText", chat_id=GROUP, message_id=sent["result"]["message_id"], text="2")
        assert edited[0] == 200
        status, body = await api("sendMessage", chat_id=GROUP, text="3")
        assert status == 429 and body["parameters"]["retry_after"] in (59, 60)
        assert body["description"] == f"Too Many Requests: retry after {body['parameters']['retry_after']}"
        assert (await api("sendMessage", chat_id=USER, text="a private chat has no such limit"))[0] == 200
        assert (await api("getChat", chat_id=GROUP))[0] == 200  # nor a request that posts nothing
        assert tg.flood is not None
        tg.flood.WINDOW = 0.2  # a minute, shortened: the refused request did not count
        await asyncio.sleep(0.25)
        assert [(await api("sendMessage", chat_id=GROUP, text=str(n)))[0] for n in range(3)] == [200, 200, 429]


async def test_latency_delays_every_request(tg: FakeBotAPI, api: Api) -> None:
    tg.faults.latency = 0.2
    started = time.monotonic()
    await api("getMe")
    assert time.monotonic() - started >= 0.2


# -- waiting ----------------------------------------------------------------------------------------


async def test_wait_for_counts_filters_and_marks(tg: FakeBotAPI, api: Api) -> None:
    await api("sendMessage", chat_id=USER, text="before")
    tg.send_text(USER, "hi")  # every user action moves the cursor
    with pytest.raises(TimeoutError, match=r"no 1 call\(s\) matching method='sendMessage'") as caught:
        await tg.wait_for("sendMessage", timeout=0.05)
    assert "#0 sendMessage -> 200 chat_id=42 text='before'" in str(caught.value)  # shows what came before

    async def bot_replies() -> None:
        await api("sendMessage", chat_id=GROUP, text="team")
        await api("sendMessage", chat_id=USER, text="one")
        await api("sendMessage", chat_id=USER, text="x" * 5000)
        await api("sendMessage", chat_id=USER, text="two")

    replies = asyncio.create_task(bot_replies())
    calls = await tg.wait_for("sendMessage", chat_id=USER, count=2, ok=True)
    await replies
    assert [c.params["text"] for c in calls] == ["one", "two"]
    first = await tg.wait_for(predicate=lambda c: c.params.get("text") == "team")
    assert first.result["chat"]["id"] == GROUP
    assert (await tg.wait_for("sendMessage", ok=False)).status == 400
    assert (await tg.wait_for("sendMessage", since=0)).params["text"] == "before"
    cursor = tg.mark()
    assert cursor == len(tg.calls)
    with pytest.raises(TimeoutError, match="no calls since the cursor"):
        await tg.wait_for(timeout=0.01)
