"""A terminal chat on top of FakeBotAPI: type as a user, read the bot's messages as they arrive.

Plain text in and out (works on a pipe, no curses). Rendering is kept in pure functions
(``render_message``, ``render_header``) so it can be unit-tested without a server.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import time
from collections.abc import AsyncIterator, Mapping
from typing import IO, Any, Protocol

from localchat._html import with_links
from localchat.fake_api import ApiCall, FakeBotAPI

HELP = """\
local commands:
  1, 2, …            press that button of the latest message with buttons
  !group / !private  write in the team group / in your private chat with the bot
  !contact <phone>   share your phone number, e.g. !contact +7 916 111-22-33
  !say <text>        send the text as is (e.g. a bare number while buttons are shown)
  !help              this list
  !quit or Ctrl-D    leave
anything else is sent to the bot as your message."""


class TextSink(Protocol):
    """What the chat prints to: sys.stdout, a StringIO, or a test's screen."""

    def write(self, text: str, /) -> object: ...

    def flush(self) -> None: ...


_MEDIA = (("audio", "🎵"), ("voice", "🎤"), ("document", "📄"))
_ACTIONS = {
    "typing": "typing",
    "upload_voice": "sending a voice message",
    "record_voice": "recording a voice message",
    "upload_document": "sending a file",
    "upload_photo": "sending a photo",
}
_SENDS = frozenset({"sendMessage", "sendAudio", "sendDocument", "sendVoice", "sendPhoto"})
_EDITS = frozenset({"editMessageText", "editMessageCaption", "editMessageReplyMarkup"})


# -- pure rendering ---------------------------------------------------------------------------------


def render_message(msg: Mapping[str, Any]) -> str:
    """The body of a bot message as plain text: text with links as "text <url>", media, buttons.

    ``msg`` is a Bot API Message dict, optionally with the fake's extras (a reply keyboard under
    ``reply_markup``, ``file_url``).
    """
    lines: list[str] = []
    if msg.get("text") is not None:
        lines.append(with_links(msg["text"], msg.get("entities")))
    for kind, icon in _MEDIA:
        if media := msg.get(kind):
            source = msg.get("file_url") or media.get("file_name") or media.get("file_id", "?")
            size = f", {_size(media['file_size'])}" if media.get("file_size") is not None else ""
            lines.append(f"{icon} {kind}: {source}{size}")
    if photo := msg.get("photo"):  # a list of sizes: the largest is the picture
        largest = photo[-1]
        source = msg.get("file_url") or largest.get("file_id", "?")
        size = f", {_size(largest['file_size'])}" if largest.get("file_size") is not None else ""
        lines.append(f"🖼 photo {largest.get('width', 0)}×{largest.get('height', 0)}: {source}{size}")
    if msg.get("caption"):
        lines.append(with_links(msg["caption"], msg.get("caption_entities")))
    if contact := msg.get("contact"):
        name = " ".join(filter(None, (contact.get("first_name"), contact.get("last_name"))))
        lines.append(f"📇 contact: {contact['phone_number']}" + (f" ({name})" if name else ""))
    lines += _render_keyboard(msg.get("reply_markup"))
    return "\n".join(lines)


def _render_keyboard(markup: Mapping[str, Any] | None) -> list[str]:
    if not markup:
        return []
    if "inline_keyboard" in markup:
        lines, n = [], 0
        for row in markup["inline_keyboard"]:
            cells = []
            for button in row:
                n += 1
                url = f" <{button['url']}>" if button.get("url") else ""
                cells.append(f"[{n}] {button['text']}{url}")
            lines.append("  ".join(cells))
        return lines
    if "keyboard" in markup:
        rows = []
        for row in markup["keyboard"]:
            cells = [b if isinstance(b, str) else b.get("text", "") for b in row]
            cells = [
                f"‹{c}›" + (" (!contact)" if isinstance(b, dict) and b.get("request_contact") else "")
                for c, b in zip(cells, row, strict=True)
            ]
            rows.append("  ".join(cells))
        return [f"keyboard: {r}" for r in rows]
    if markup.get("remove_keyboard"):
        return ["(keyboard removed)"]
    return []


def _size(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{round(n / 1024)} KB"


def render_header(msg: Mapping[str, Any], *, edited: bool = False) -> str:
    """``── bot → you (12:01:33)``, ``── bot → Sales group (…)``, ``── bot edited #5 (…)``."""
    chat = msg.get("chat") or {}
    where = "you" if chat.get("type") == "private" else f"{chat.get('title', chat.get('id'))} group"
    stamp = msg.get("edit_date") if edited else msg.get("date")
    clock = f" ({time.strftime('%H:%M:%S', time.localtime(stamp))})" if stamp else ""
    if edited:
        place = "" if chat.get("type") == "private" else f" in {where}"
        return f"── bot edited #{msg.get('message_id')}{place}{clock}"
    return f"── bot → {where}{clock}"


def inline_buttons(msg: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = (msg.get("reply_markup") or {}).get("inline_keyboard") or []
    return [button for row in rows for button in row]


# -- the REPL ---------------------------------------------------------------------------------------


class _Terminal:
    def __init__(self, tg: FakeBotAPI, user_id: int, group_chat_id: int | None, out: TextSink) -> None:
        self.tg = tg
        self.user_id = user_id
        self.group_chat_id = group_chat_id
        self.chat_id = user_id  # where typed lines go
        self.out = out
        self.dim = bool(getattr(out, "isatty", lambda: False)())
        # chat -> message_id -> its inline buttons; the latest message with buttons is the highest id
        self.buttons: dict[int, dict[int, list[dict[str, Any]]]] = {}
        self.latest: tuple[int, int] | None = None  # (chat id, message id) of the latest message with buttons
        self.my_queries: set[str] = set()

    def print(self, text: str, *, faint: bool = False) -> None:
        if faint and self.dim:
            text = f"\x1b[2m{text}\x1b[0m"
        self.out.write(text + "\n")
        self.out.flush()

    # bot -> terminal

    async def follow(self) -> None:
        async for call in self.tg.follow(since=self.tg.completed_count):
            self.on_call(call)

    def on_call(self, call: ApiCall) -> None:
        chats = {self.user_id, self.group_chat_id}
        if call.method == "answerCallbackQuery":
            if call.ok and str(call.params.get("callback_query_id")) in self.my_queries and call.params.get("text"):
                kind = "alert" if call.params.get("show_alert") else "popup"
                self.print(f"({kind}) {call.params['text']}")
            return
        try:
            chat_id = int(call.params.get("chat_id"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return
        if chat_id not in chats:
            return
        if not call.ok:
            if call.method != "getUpdates":
                description = (call.response or {}).get("description", "")
                self.print(f"(the bot's {call.method} failed: {call.status} {description})", faint=True)
        elif call.method == "sendChatAction":
            action = str(call.params.get("action", ""))
            self.print(f"(bot is {_ACTIONS.get(action, action.replace('_', ' '))}…)", faint=True)
        elif call.method == "deleteMessage":
            message_id = int(call.params.get("message_id") or 0)
            self.buttons.get(chat_id, {}).pop(message_id, None)
            self.print(f"── bot deleted #{message_id}")
        elif call.method in _SENDS or (call.method in _EDITS and isinstance(call.result, dict)):
            msg = dict(call.result)
            markup = call.params.get("reply_markup")
            if isinstance(markup, dict) and "inline_keyboard" not in markup:
                msg["reply_markup"] = markup  # a reply keyboard: not part of the returned Message
            for kind, _ in _MEDIA:
                if isinstance(call.params.get(kind), str) and call.params[kind].startswith("http"):
                    msg["file_url"] = call.params[kind]
            self.track_buttons(chat_id, msg)
            self.print(render_header(msg, edited=call.method in _EDITS))
            self.print(render_message(msg))

    def track_buttons(self, chat_id: int, msg: Mapping[str, Any]) -> None:
        in_chat = self.buttons.setdefault(chat_id, {})
        if buttons := inline_buttons(msg):
            in_chat[int(msg["message_id"])] = buttons
            self.latest = (chat_id, int(msg["message_id"]))
        else:
            in_chat.pop(int(msg["message_id"]), None)

    def pressable(self) -> tuple[int, int] | None:
        """The message whose buttons a typed number presses: the latest shown with buttons, in either chat
        (an alert in the team group can be answered without switching to it first)."""
        if self.latest is not None and self.latest[1] in self.buttons.get(self.latest[0], {}):
            return self.latest
        candidates = [(chat_id, message_id) for chat_id, ids in self.buttons.items() for message_id in ids]
        return max(candidates, key=lambda ref: ref[1], default=None)

    # terminal -> bot

    def on_line(self, line: str) -> bool:
        """Handle one typed line; False ends the chat."""
        line = line.strip()
        if not line:
            return True
        command, _, rest = line.partition(" ")
        if command in ("!quit", "!exit"):
            return False
        if command == "!help":
            self.print(HELP)
        elif command == "!group":
            if self.group_chat_id is None:
                self.print("(no team group in this demo)")
            else:
                self.chat_id = self.group_chat_id
                self.print(f"(now writing in {self._chat_title(self.group_chat_id)})")
        elif command == "!private":
            self.chat_id = self.user_id
            self.print("(now writing in your private chat with the bot)")
        elif command == "!contact":
            if not rest.strip():
                self.print("(usage: !contact +7 916 111-22-33)")
            else:
                self.tg.share_contact(self.user_id, rest.strip(), chat_id=self._chat_arg())
        elif command == "!say":
            self.send(rest)
        elif command.startswith("!"):
            self.print(f"(unknown command {command}; !help lists them)")
        elif line.isdigit() and self.pressable() is not None:
            self.press(int(line))
        else:
            self.send(line)
        return True

    def send(self, text: str) -> None:
        if text.strip():
            self.tg.send_text(self.user_id, text, chat_id=self._chat_arg())

    def press(self, number: int) -> None:
        target = self.pressable()
        assert target is not None
        chat_id, message_id = target
        buttons = self.buttons[chat_id][message_id]
        if not 1 <= number <= len(buttons):
            self.print(f"(message #{message_id} has buttons 1–{len(buttons)})")
            return
        button = buttons[number - 1]
        if "callback_data" not in button:
            self.print(f"(button [{number}] {button['text']} opens {button.get('url', 'something else')})")
            return
        update = self.tg.press(self.user_id, (chat_id, message_id), button["callback_data"])
        self.my_queries.add(update["callback_query"]["id"])
        where = "" if chat_id == self.user_id else f" in {self._chat_title(chat_id)}"
        self.print(f"(pressed [{number}] {button['text']} on message #{message_id}{where})")

    def _chat_arg(self) -> int | None:
        return None if self.chat_id == self.user_id else self.chat_id

    def _chat_title(self, chat_id: int) -> str:
        info = self.tg.chat_info(chat_id) or {}
        return f"{info.get('title', chat_id)} group"


async def run_terminal_chat(
    tg: FakeBotAPI,
    *,
    user_id: int,
    group_chat_id: int | None = None,
    stdin: IO[str] | IO[bytes] | asyncio.StreamReader | None = None,
    stdout: TextSink | None = None,
) -> None:
    """Chat with the bot as ``user_id`` until ``!quit`` or end of input.

    ``stdin`` is a text/binary stream (read in a daemon thread, so a pipe, a file or a tty all work) or an
    ``asyncio.StreamReader``; ``group_chat_id`` is registered as a group if the fake does not know it.
    """
    if group_chat_id is not None and tg.chat_info(group_chat_id) is None:
        tg.group(group_chat_id)
    source = sys.stdin if stdin is None else stdin
    term = _Terminal(tg, user_id, group_chat_id, sys.stdout if stdout is None else stdout)
    echo = not bool(getattr(source, "isatty", lambda: False)())
    term.print("Chatting with the bot as a Telegram user. !help lists the local commands.")
    follower = asyncio.create_task(term.follow(), name="localchat-follow")
    try:
        async for line in _lines(source):
            if echo and line.strip():
                term.print(f"» {line.strip()}", faint=True)
            if not term.on_line(line):
                break
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
    term.print("(bye)")


async def _lines(stream: IO[str] | IO[bytes] | asyncio.StreamReader) -> AsyncIterator[str]:
    if isinstance(stream, asyncio.StreamReader):
        while line := await stream.readline():
            yield line.decode()
        return
    # A daemon thread, not the default executor: a blocked read must not keep the process alive at exit.
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def post(item: str | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is listening any more
            loop.call_soon_threadsafe(queue.put_nowait, item)

    def pump() -> None:
        try:
            while raw := stream.readline():
                post(raw if isinstance(raw, str) else raw.decode())
        finally:
            post(None)

    threading.Thread(target=pump, name="localchat-stdin", daemon=True).start()
    while (item := await queue.get()) is not None:
        yield item
