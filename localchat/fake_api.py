"""A fake Telegram Bot API server on loopback, for driving the real bot with no internet.

The bot talks to it over real HTTP (``base_url=tg.url + "/bot"``); tests and the terminal chat act as
users through plain methods (``send_text``, ``press``...) and watch what the bot did (``calls``, ``chat``,
``wait_for``). Everything runs on one event loop: user actions are synchronous, the server is aiohttp.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from localchat._faults import DOWNLOAD, Faults, GroupFloodLimit
from localchat._methods import (
    MAX_UPLOAD,
    BotApiError,
    _file_object,
    canonical_name,
    commands_key,
    dispatch,
    update_request,
)
from localchat._wire import UploadedFile, read_request
from localchat._world import CallbackQuery, StoredFile, StoredMessage, World, command_entities

__all__ = ["ApiCall", "FakeBotAPI", "UploadedFile"]

_log = logging.getLogger(__name__)

MessageRef = Mapping[str, Any] | tuple[int, int]
_FILE_CHUNK = 64 * 1024
WEBHOOK_RETRY = 0.5  # seconds before a failed delivery is tried again (Telegram waits longer and longer)


@dataclass
class ApiCall:
    """One request the bot made. ``status``/``response`` are None only while a long poll is waiting."""

    seq: int  # index in FakeBotAPI.calls; pass ``since=call.seq + 1`` to wait for what comes after it
    method: str
    params: dict[str, Any]
    files: dict[str, UploadedFile]
    time: float  # time.monotonic() when the request arrived
    status: int | None = None
    response: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def result(self) -> Any:
        """The ``result`` of a successful call (e.g. the sent Message dict), else None."""
        return self.response.get("result") if self.ok and self.response else None

    @property
    def chat_id(self) -> int | str | None:
        return self.params.get("chat_id")

    def describe(self) -> str:
        if self.status is None:
            outcome = "pending"
        elif self.ok:
            outcome = "200"
        else:
            outcome = f"{self.status} {(self.response or {}).get('description', '')}"
        shown = {k: v for k, v in self.params.items() if k in _SHOWN_PARAMS}
        if isinstance(shown.get("text"), str) and len(shown["text"]) > 60:
            shown["text"] = shown["text"][:57] + "..."
        details = " ".join(f"{k}={v!r}" for k, v in shown.items())
        uploads = " ".join(f"{k}=<{f.filename}, {f.size} B>" for k, f in self.files.items())
        return " ".join(p for p in (f"#{self.seq} {self.method} -> {outcome}", details, uploads) if p)


_SHOWN_PARAMS = ("chat_id", "message_id", "text", "caption", "callback_query_id", "action", "offset", "timeout")


class FakeBotAPI:
    """The fake server plus the users' side. Use as ``async with FakeBotAPI() as tg: ...``."""

    def __init__(
        self,
        token: str = "123456:TEST",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        bot_id: int | None = None,
        bot_username: str = "newtel_demo_bot",
        bot_first_name: str = "New-Tel Demo",
        group_flood_limit: int | None = None,
    ) -> None:
        """``group_flood_limit``: messages a group takes in a minute before Telegram answers 429 (None: no limit)."""
        self.token = token
        self.faults = Faults()
        self.flood = None if group_flood_limit is None else GroupFloodLimit(group_flood_limit)
        self._host, self._port = host, port
        if bot_id is None:  # like Telegram, the bot's id is the token's numeric prefix
            prefix = token.split(":", 1)[0]
            bot_id = int(prefix) if prefix.isdigit() else 123456
        self._world = World(
            bot_user={"id": bot_id, "is_bot": True, "first_name": bot_first_name, "username": bot_username}
        )
        self._calls: list[ApiCall] = []
        # Bytes of each file (by file_id) sent to a downloader; fewer than it has when the download was cut short.
        self.served: dict[str, int] = {}
        self._completed: list[ApiCall] = []  # in completion order, for follow()
        self._cursor = 0
        self._changed = asyncio.Event()
        self._poll_generation = 0
        self._closed = False
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self._delivering: asyncio.Task[None] | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_UPLOAD + 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # Long polls end as soon as close() wakes them, so a short shutdown timeout is plenty.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self._url = f"http://{host}:{port}"
        self._delivering = asyncio.create_task(self._deliver(), name="fake Bot API webhook delivery")
        _log.debug("fake Bot API listening on %s", self._url)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._notify()  # wakes long polls and waiters so teardown does not wait out a poll timeout
        if self._delivering is not None:
            self._delivering.cancel()
            await asyncio.gather(self._delivering, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        _log.debug("fake Bot API closed")

    async def __aenter__(self) -> FakeBotAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("FakeBotAPI is not started")
        return self._url

    @property
    def bot_user(self) -> dict[str, Any]:
        return dict(self._world.bot_user)

    # -- what users do --------------------------------------------------------------------------

    def user(
        self,
        user_id: int,
        first_name: str = "Ivan",
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "ru",
    ) -> dict[str, Any]:
        """Register (or replace) a user profile; returns the User object. Unknown senders are auto-registered."""
        return self._world.add_user(user_id, first_name, last_name, username, language_code)

    def group(self, chat_id: int, title: str = "Sales") -> dict[str, Any]:
        """Register a group chat (negative id); returns the Chat object."""
        return self._world.add_group(chat_id, title)

    def block(self, user_id: int, blocked: bool = True) -> None:
        """The user blocks the bot: sending to them answers 403 "Forbidden: bot was blocked by the user"."""
        if blocked:
            self._world.blocked.add(user_id)
        else:
            self._world.blocked.discard(user_id)

    def send_text(
        self, user_id: int, text: str, *, chat_id: int | None = None, reply_to: MessageRef | None = None
    ) -> dict[str, Any]:
        """The user sends ``text`` (a leading "/cmd" gets its bot_command entity); returns the Update."""
        sender = self._world.ensure_user(user_id)
        chat = self._user_chat(user_id, chat_id)
        message = self._world.new_message(
            chat, sender, reply_to_message=self._replied(reply_to), text=text, entities=command_entities(text)
        )
        self._world.store(message, from_bot=False)
        return self.enqueue({"message": message})

    def press(
        self, user_id: int, message: MessageRef, data: str | None = None, *, button: str | int | None = None
    ) -> dict[str, Any]:
        """The user presses an inline button of a bot message; returns the Update.

        ``message`` is a message dict (from ``chat()``, ``last_message()`` or a call's result) or
        ``(chat_id, message_id)``. The callback data is ``data`` if given (even if no button carries it),
        else that of ``button``: its exact text or its 0-based index in the flattened keyboard; with
        neither, the message must have exactly one callback button.
        """
        sender = self._world.ensure_user(user_id)
        stored = self._stored(message)
        if data is None:
            data = _button_data(stored.data, button)
        query_id = str(4_000_000_000 + self._world.next_id())
        update_payload = {
            "callback_query": {
                "id": query_id,
                "from": dict(sender),
                "message": copy.deepcopy(stored.data),
                "chat_instance": str(abs(stored.chat_id) * 1000 + 7),
                "data": data,
            }
        }
        update = self.enqueue(update_payload)
        self._world.queries[query_id] = CallbackQuery(update)
        return update

    def share_contact(
        self,
        user_id: int,
        phone_number: str,
        *,
        own: bool = True,
        chat_id: int | None = None,
        first_name: str = "Contact",
        last_name: str | None = None,
        contact_user_id: int | None = None,
        forwarded_from: int | None = None,
    ) -> dict[str, Any]:
        """The user shares a contact: their own by default (which sets ``contact.user_id``), else someone else's
        with ``first_name``/``last_name`` (and ``contact_user_id`` when that person is on Telegram);
        ``forwarded_from``: the message is forwarded from that user's chat."""
        sender = self._world.ensure_user(user_id)
        contact: dict[str, Any] = {"phone_number": phone_number}
        if own:
            contact.update(first_name=sender["first_name"], user_id=user_id)
            if "last_name" in sender:
                contact["last_name"] = sender["last_name"]
        else:
            contact["first_name"] = first_name
            if last_name:
                contact["last_name"] = last_name
            if contact_user_id is not None:
                contact["user_id"] = contact_user_id
        origin = None
        if forwarded_from is not None:
            origin = {"type": "user", "sender_user": self._world.ensure_user(forwarded_from), "date": int(time.time())}
        message = self._world.new_message(
            self._user_chat(user_id, chat_id), sender, contact=contact, forward_origin=origin
        )
        self._world.store(message, from_bot=False)
        return self.enqueue({"message": message})

    def send_document(
        self,
        user_id: int,
        data: bytes,
        filename: str,
        *,
        caption: str | None = None,
        chat_id: int | None = None,
        mime_type: str | None = None,
        reply_to: MessageRef | None = None,
        stated_size: int | None = None,
    ) -> dict[str, Any]:
        """The user sends a file (``caption`` "/cmd ..." gets its bot_command entity); the bot can getFile and
        download it. ``stated_size``: the ``file_size`` Telegram states, when it is not the data's length.
        Returns the Update."""
        sender = self._world.ensure_user(user_id)
        chat = self._user_chat(user_id, chat_id)
        n = self._world.next_id()
        stored = StoredFile(
            f"fake-user-document-{n}", f"d{n}", "document", data, filename, mime_type, stated_size=stated_size
        )
        self._world.files[stored.file_id] = stored
        message = self._world.new_message(
            chat,
            sender,
            reply_to_message=self._replied(reply_to),
            document=_file_object(stored, {}),
            caption=caption,
            caption_entities=command_entities(caption or ""),
        )
        self._world.store(message, from_bot=False)
        return self.enqueue({"message": message})

    def enqueue(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Queue any update (``{"message": {...}}``...) for getUpdates; assigns update_id and marks."""
        update = self._world.enqueue(copy.deepcopy(payload))
        _log.debug("update %s queued", update["update_id"])
        self.mark()
        self._notify()
        return copy.deepcopy(update)

    # -- what the bot did -----------------------------------------------------------------------

    @property
    def calls(self) -> list[ApiCall]:
        return list(self._calls)

    def chat(self, chat_id: int, *, include_user: bool = False) -> list[dict[str, Any]]:
        """The bot's messages in the chat, oldest first, edits applied, deleted ones gone.

        Each is the Bot API Message dict plus ``chat_id``, ``edit_count``, ``raw_text`` (as sent, before
        ``parse_mode``), ``parse_mode``, a reply keyboard under ``reply_markup`` and ``file_url`` for media
        sent by URL. ``text`` is what the user sees: HTML already turned into text + ``entities``.
        """
        return [m.view() for m in self._world.chat_messages(chat_id, include_user=include_user)]

    def last_message(self, chat_id: int) -> dict[str, Any] | None:
        messages = self._world.chat_messages(chat_id)
        return messages[-1].view() if messages else None

    def chat_info(self, chat_id: int) -> dict[str, Any] | None:
        """The Chat object of a registered private chat or group, or None."""
        chat = self._world.chats.get(chat_id)
        return dict(chat) if chat is not None else None

    def pinned(self, chat_id: int) -> int | None:
        """The id of the message pinned in the chat (pinChatMessage), or None (a deleted message is unpinned)."""
        pinned = self._world.chats.get(chat_id, {}).get("pinned_message")
        if pinned is None or self._world.find(chat_id, int(pinned["message_id"])) is None:
            return None
        return int(pinned["message_id"])

    def message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        stored = self._world.find(chat_id, message_id)
        return stored.view() if stored is not None else None

    def file(self, file_id: str) -> tuple[bytes, str | None] | None:
        """The bytes of a file the bot uploaded or a user sent, and its name as uploaded; None for an unknown id or a
        file sent by URL (the fake does not fetch those: the message's ``file_url`` says where it is)."""
        stored = self._world.files.get(file_id)
        return None if stored is None or stored.data is None else (stored.data, stored.file_name)

    def callback_answer(self, query: Mapping[str, Any] | str) -> dict[str, Any] | None:
        """answerCallbackQuery's parameters (text, show_alert...) for a query: its id or the press() Update."""
        if isinstance(query, Mapping):
            query = str(query["callback_query"]["id"])
        known = self._world.queries.get(query)
        return dict(known.answer) if known is not None and known.answer is not None else None

    def webhook_info(self) -> dict[str, Any]:
        """What getWebhookInfo would answer now: the URL, the updates waiting, the last error delivering them."""
        return dict(dispatch(self._world, "getWebhookInfo", {}, {}))

    def my_commands(self, *, scope: dict[str, Any] | None = None, language_code: str = "") -> list[dict[str, Any]]:
        """The commands setMyCommands stored for exactly this scope and language (getMyCommands' view)."""
        return copy.deepcopy(self._world.commands.get(commands_key(scope, language_code), []))

    def menu_button(self, chat_id: int | None = None) -> dict[str, Any]:
        """The menu button a private chat shows (setChatMenuButton's; getChatMenuButton's view)."""
        return dict(dispatch(self._world, "getChatMenuButton", {} if chat_id is None else {"chat_id": chat_id}, {}))

    def mark(self) -> int:
        """Move the cursor to now: ``wait_for`` then only considers calls made after this point.

        Every user action (send_text, press, share_contact, enqueue) marks, so ``wait_for`` right after
        an action looks only at the bot's reaction to it. Returns the cursor, usable as ``since=``.
        """
        self._cursor = len(self._calls)
        return self._cursor

    async def wait_for(
        self,
        method: str | None = None,
        *,
        chat_id: int | None = None,
        predicate: Callable[[ApiCall], bool] | None = None,
        timeout: float | None = 5.0,
        count: int = 1,
        since: int | None = None,
        ok: bool | None = None,
    ) -> Any:
        """Wait for ``count`` matching calls made since the cursor (or ``since``); failed calls match too
        unless ``ok=True``. Returns the ApiCall, or a list of them when ``count > 1``. Does not move the
        cursor: two waits for the same thing return the same call. Raises TimeoutError listing the calls
        seen, to show what the bot did instead.
        """
        start = self._cursor if since is None else since

        def matches(call: ApiCall) -> bool:
            return (
                (method is None or call.method == method)
                and (chat_id is None or _same_chat(call.chat_id, chat_id))
                and (ok is None or (call.status is not None and call.ok == ok))
                and (predicate is None or predicate(call))
            )

        def found() -> list[ApiCall]:
            return [c for c in self._calls[start:] if matches(c)][:count]

        if not await self._wait_until(lambda: len(found()) >= count or self._closed, timeout) or (len(found()) < count):
            raise TimeoutError(self._timeout_report(method, chat_id, predicate, timeout, count, start, found()))
        calls = found()
        return calls[0] if count == 1 else calls

    async def follow(self, since: int = 0) -> AsyncIterator[ApiCall]:
        """Yield calls as they complete (in completion order, from the ``since``-th one) until close()."""
        for index in itertools.count(since):

            def ready(wanted: int = index + 1) -> bool:  # bound now, not when called
                return len(self._completed) >= wanted or self._closed

            await self._wait_until(ready, None)
            if index >= len(self._completed):
                return
            yield self._completed[index]

    @property
    def completed_count(self) -> int:
        """How many calls have completed; ``follow(since=tg.completed_count)`` skips the past."""
        return len(self._completed)

    # -- HTTP -----------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        path = request.path
        if path.startswith("/file/bot"):
            return await self._serve_file(request, path.removeprefix("/file/bot"))
        token, _, name = path.removeprefix("/bot").partition("/")
        if not path.startswith("/bot") or not token or not name or "/" in name:
            return _json(404, {"ok": False, "error_code": 404, "description": "Not Found"})
        if token != self.token:
            return _json(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        try:
            params, files = await read_request(request)
        except ValueError as e:
            return _json(400, {"ok": False, "error_code": 400, "description": f"Bad Request: {e}"})
        if self.faults.latency > 0:
            await asyncio.sleep(self.faults.latency)

        call = ApiCall(len(self._calls), canonical_name(name), params, files, arrived)
        self._calls.append(call)
        self._notify()
        if (rule := self.faults.take(call.method, call.chat_id)) is not None and not rule.taken:
            return self._finish(call, rule.status, rule.body())
        if call.method == "getUpdates":
            return await self._get_updates(call)
        if self.flood is not None and (wait := self.flood.refuse(call.method, call.chat_id, arrived)) is not None:
            seconds = math.ceil(wait)  # Telegram says whole seconds
            description = f"Too Many Requests: retry after {seconds}"
            body = {"ok": False, "error_code": 429, "description": description, "parameters": {"retry_after": seconds}}
            return self._finish(call, 429, body)
        # No awaits from here on: the call and its effect on the state become visible together.
        try:
            result = dispatch(self._world, call.method, params, files)
        except BotApiError as e:
            return self._finish(call, e.status, _error_body(e))
        answer = self._finish(call, 200, {"ok": True, "result": result})
        if rule is not None and rule.held:  # carried out, and the answer still on its way when the client dies
            await self._wait_until(lambda: self._closed, None)
        if rule is not None and request.transport is not None:  # carried out, and the answer lost on the way
            request.transport.close()
        return answer

    async def _get_updates(self, call: ApiCall) -> web.Response:
        # A newer getUpdates terminates an older waiting one with 409, as Telegram does; this also ends
        # the poll a stopped bot abandoned (aiohttp does not cancel handlers when the client leaves).
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()
        try:
            limit, timeout = update_request(self._world, call.params)
        except BotApiError as e:
            return self._finish(call, e.status, _error_body(e))
        await self._wait_until(
            lambda: self._closed or generation != self._poll_generation or bool(self._world.deliverable()),
            timeout,
        )
        if generation != self._poll_generation and not self._closed:
            conflict = BotApiError(409, "Conflict: terminated by other getUpdates request")
            return self._finish(call, 409, _error_body(conflict))
        updates = copy.deepcopy(self._world.deliverable()[:limit])
        return self._finish(call, 200, {"ok": True, "result": updates})

    def _finish(self, call: ApiCall, status: int, body: dict[str, Any]) -> web.Response:
        call.status, call.response = status, body
        self._completed.append(call)
        _log.debug("%s -> %s", call.method, status)
        self._notify()
        return _json(status, body)

    async def _serve_file(self, request: web.Request, rest: str) -> web.StreamResponse:
        token, _, file_path = rest.partition("/")
        if token != self.token:
            return _json(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        stored = next((f for f in self._world.files.values() if f.file_path == file_path), None)
        if stored is None or stored.data is None:
            return _json(404, {"ok": False, "error_code": 404, "description": "Not Found"})
        if (rule := self.faults.take(DOWNLOAD)) is not None:
            moved = {"Location": str(request.url)} if 300 <= rule.status < 400 else {}
            return web.Response(status=rule.status, headers=moved, text=rule.description)
        # Streamed in chunks, each counted once the socket took it, so a test sees how much a downloader read.
        response = web.StreamResponse(headers={"Content-Type": stored.mime_type or "application/octet-stream"})
        response.content_length = len(stored.data)
        await response.prepare(request)
        self.served[stored.file_id] = 0
        view = memoryview(stored.data)
        try:
            for start in range(0, len(view), _FILE_CHUNK):
                chunk = view[start : start + _FILE_CHUNK]
                await response.write(chunk)
                self.served[stored.file_id] += len(chunk)
            await response.write_eof()
        except ConnectionError:  # the downloader stopped reading and left
            pass
        return response

    async def _deliver(self) -> None:
        """Once setWebhook gave a URL, as Telegram: each update POSTed to it, oldest first, with the secret token;
        one not answered with a 2xx stays pending and is tried again, and getWebhookInfo tells the last error."""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            while await self._wait_until(lambda: self._closed or bool(self._webhook_updates()), None):
                if self._closed:
                    return
                hook, update = self._world.webhook, self._webhook_updates()[0]
                token = hook.get("secret_token")
                headers = {"X-Telegram-Bot-Api-Secret-Token": str(token)} if token else {}
                error = None
                try:
                    async with http.post(str(hook["url"]), json=update, headers=headers) as answer:
                        if answer.status >= 300:
                            error = f"Wrong response from the webhook: {answer.status} {answer.reason}"
                except aiohttp.ClientConnectorError:
                    error = "Connection refused"
                except (aiohttp.ClientError, TimeoutError) as failure:
                    error = f"Connection failed ({type(failure).__name__})"
                if error is None:
                    if update in self._world.pending_updates:
                        self._world.pending_updates.remove(update)
                else:
                    hook.update(last_error_date=int(time.time()), last_error_message=error)
                self._notify()
                if error is not None:
                    await self._wait_until(lambda: self._closed, WEBHOOK_RETRY)

    def _webhook_updates(self) -> list[dict[str, Any]]:
        return self._world.deliverable() if self._world.webhook.get("url") else []

    # -- waiting --------------------------------------------------------------------------------

    def _notify(self) -> None:
        # Swap the event so waiters re-check their condition; no lock needed on a single loop.
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_until(self, condition: Callable[[], bool], timeout: float | None) -> bool:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not condition():
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return condition()
        return True

    def _timeout_report(
        self,
        method: str | None,
        chat_id: int | None,
        predicate: Callable[[ApiCall], bool] | None,
        timeout: float | None,
        count: int,
        start: int,
        found: Sequence[ApiCall],
    ) -> str:
        wanted = ", ".join(
            f"{k}={v!r}"
            for k, v in (("method", method), ("chat_id", chat_id), ("predicate", predicate))
            if v is not None
        )
        lines = [f"no {count} call(s) matching {wanted or 'anything'} within {timeout} s (found {len(found)})"]
        since = self._calls[start:]
        if self._closed:
            lines.append("the fake Bot API was closed")
        if since:
            lines.append(f"calls since the cursor (#{start}):")
            lines += [f"  {c.describe()}" for c in since[-20:]]
        else:
            lines.append(f"no calls since the cursor (#{start}); the last ones before it:")
            lines += [f"  {c.describe()}" for c in self._calls[-5:]] or ["  (none at all)"]
        return "\n".join(lines)

    # -- helpers --------------------------------------------------------------------------------

    def _user_chat(self, user_id: int, chat_id: int | None) -> int:
        chat = user_id if chat_id is None else chat_id
        if chat > 0 and chat != user_id:
            raise ValueError(f"user {user_id} cannot write in the private chat of {chat}")
        if chat not in self._world.chats:
            raise ValueError(f"unknown chat {chat}: register groups with tg.group()")
        return chat

    def _stored(self, ref: MessageRef) -> StoredMessage:
        if isinstance(ref, tuple):
            chat_id, message_id = ref
        else:
            chat_id = ref["chat"]["id"] if "chat" in ref else ref["chat_id"]
            message_id = ref["message_id"]
        stored = self._world.find(int(chat_id), int(message_id))
        if stored is None:
            raise LookupError(f"no message #{message_id} in chat {chat_id} (never sent, or deleted)")
        return stored

    def _replied(self, ref: MessageRef | None) -> dict[str, Any] | None:
        """The message a user's message replies to, as Telegram nests it (its own reply not nested further)."""
        if ref is None:
            return None
        replied = copy.deepcopy(self._stored(ref).data)
        replied.pop("reply_to_message", None)
        return replied


def _button_data(message: Mapping[str, Any], button: str | int | None) -> str:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    buttons: list[dict[str, Any]] = [b for row in rows for b in row]
    texts = [b["text"] for b in buttons]
    if not buttons:
        raise ValueError(f"message #{message['message_id']} has no inline keyboard")
    if button is None:
        callbacks = [b for b in buttons if "callback_data" in b]
        if len(callbacks) != 1:
            raise ValueError(f"pass data= or button= (text or 0-based index); buttons: {texts}")
        chosen = callbacks[0]
    elif isinstance(button, int):
        if not -len(buttons) <= button < len(buttons):
            raise ValueError(f"no button #{button} (0-based); buttons: {texts}")
        chosen = buttons[button]
    else:
        matching = [b for b in buttons if b["text"] == button]
        if not matching:
            raise ValueError(f"no button {button!r}; buttons: {texts}")
        chosen = matching[0]
    if "callback_data" not in chosen:
        raise ValueError(f"button {chosen['text']!r} is not a callback button: {chosen}")
    return str(chosen["callback_data"])


def _same_chat(actual: Any, wanted: int) -> bool:
    try:
        return int(actual) == wanted
    except (TypeError, ValueError):
        return False


def _error_body(error: BotApiError) -> dict[str, Any]:
    return {"ok": False, "error_code": error.status, "description": error.description}


def _json(status: int, body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=status)
