"""A terminal chat on top of FakeBotAPI: type as a user, read the bot's messages as they arrive.

Plain text in and out (works on a pipe, no curses). Rendering is kept in pure functions
(``render_message``, ``render_header``) so it can be unit-tested without a server. The files the bot sends (photos,
documents, audio) are saved in a folder and their paths printed; ``!file`` sends one. With several ``people``,
``!as`` speaks as another of them, and every one's private chat with the bot is shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import mimetypes
import posixpath
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol
from urllib.parse import urlsplit

import aiohttp

from localchat._html import with_links
from localchat._methods import MAX_UPLOAD
from localchat.fake_api import ApiCall, FakeBotAPI

HELP = """\
local commands:
  1, 2, …              press that button of the message just shown
  !press 12 1          press button [1] of message #12 (the number in its header)
  !group / !private    write in the team group / in your private chat with the bot
  !file PATH [caption] send a file, e.g. !file contacts.csv /import
  !contact <phone>     share your phone number, e.g. !contact +7 916 111-22-33
  !as [who]            speak as someone else (without a name: who there is)
  !say <text>          send the text as is (e.g. a bare number)
  !help                this list
  !quit or Ctrl-D      leave
anything else is sent to the bot as your message."""


class TextSink(Protocol):
    """What the chat prints to: sys.stdout, a StringIO, or a test's screen."""

    def write(self, text: str, /) -> object: ...

    def flush(self) -> None: ...


@dataclass(frozen=True)
class Person:
    """Someone the terminal speaks as: ``handle`` is what ``!as`` takes, ``name`` how their chat is labelled,
    ``about`` what ``!as`` says of them."""

    handle: str
    user_id: int
    name: str
    about: str = ""


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
_PNG = b"\x89PNG\r\n\x1a\n"
_DOWNLOAD_SECONDS = 30  # a file the bot sent by URL is fetched within this, or given up


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


def render_header(msg: Mapping[str, Any], *, edited: bool = False, reader: str = "you") -> str:
    """``── bot → you #3 (12:01:33)``, ``── bot → Sales group #5 (…)``, ``── bot edited #5 in Sales group (…)``;
    ``reader``: whose private chat it is ("you", or the name of someone else the terminal speaks as)."""
    chat = msg.get("chat") or {}
    private = chat.get("type") == "private"
    where = reader if private else f"{chat.get('title', chat.get('id'))} group"
    stamp = msg.get("edit_date") if edited else msg.get("date")
    clock = f" ({time.strftime('%H:%M:%S', time.localtime(stamp))})" if stamp else ""
    if edited:
        place = "" if private and reader == "you" else (f" for {reader}" if private else f" in {where}")
        return f"── bot edited #{msg.get('message_id')}{place}{clock}"
    return f"── bot → {where} #{msg.get('message_id')}{clock}"


def inline_buttons(msg: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = (msg.get("reply_markup") or {}).get("inline_keyboard") or []
    return [button for row in rows for button in row]


def path_and_caption(typed: str) -> tuple[str, str]:
    """``!file``'s argument: the path (in quotes when it holds spaces) and the caption after it."""
    typed = typed.strip()
    if typed[:1] in ("'", '"') and (end := typed.find(typed[0], 1)) > 0:
        return typed[1:end], typed[end + 1 :].strip()
    path, _, caption = typed.partition(" ")
    return path, caption.strip()


# -- the REPL ---------------------------------------------------------------------------------------

Ref = tuple[int, int]  # (chat id, message id)


class _Terminal:
    def __init__(
        self,
        tg: FakeBotAPI,
        people: Sequence[Person],
        group_chat_id: int | None,
        out: TextSink,
        files: Path | None,
        web_app: Callable[[int, str], str] | None = None,
    ) -> None:
        self.tg = tg
        self.web_app = web_app
        self.people = {person.user_id: person for person in people}
        self.me = people[0].user_id  # who is speaking
        self.group_chat_id = group_chat_id
        self.chat_id = self.me  # where typed lines go: the speaker's private chat or the group
        self.out = out
        self.dim = bool(getattr(out, "isatty", lambda: False)())
        self.files = files  # where the files the bot sends are saved (None: not saved)
        self.saved = 0
        # chat -> message_id -> its inline buttons
        self.buttons: dict[int, dict[int, list[dict[str, Any]]]] = {}
        self.shown: Ref | None = None  # the message printed last: the one a typed number presses
        self.recency: dict[Ref, int] = {}  # when each message was printed last: the latest is the highest
        self.prints = itertools.count(1)
        self.my_queries: set[str] = set()
        self.downloads: set[asyncio.Task[None]] = set()

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
        if call.method == "answerCallbackQuery":
            if call.ok and str(call.params.get("callback_query_id")) in self.my_queries and call.params.get("text"):
                kind = "alert" if call.params.get("show_alert") else "popup"
                self.print(f"({kind}) {call.params['text']}")
            return
        try:
            chat_id = int(call.params.get("chat_id"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return
        if chat_id != self.group_chat_id and chat_id not in self.people:
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
            for kind in ("audio", "voice", "document", "photo"):
                if isinstance(call.params.get(kind), str) and call.params[kind].startswith("http"):
                    msg["file_url"] = call.params[kind]
            self.track_buttons(chat_id, msg)
            self.shown = (chat_id, int(msg["message_id"]))
            self.recency[self.shown] = next(self.prints)
            self.print(render_header(msg, edited=call.method in _EDITS, reader=self.reader(chat_id)))
            self.print(render_message(msg))
            if call.method in _SENDS and self.files is not None:
                self.keep_files(msg)

    def track_buttons(self, chat_id: int, msg: Mapping[str, Any]) -> None:
        in_chat = self.buttons.setdefault(chat_id, {})
        if buttons := inline_buttons(msg):
            in_chat[int(msg["message_id"])] = buttons
        else:
            in_chat.pop(int(msg["message_id"]), None)

    def reader(self, chat_id: int) -> str:
        person = self.people.get(chat_id)
        return "you" if chat_id == self.me or person is None else person.name

    # the files the bot sends

    def keep_files(self, msg: Mapping[str, Any]) -> None:
        """Save the message's photo, document or audio and print where; one sent by URL is fetched first."""
        for kind in ("photo", "document", "audio", "voice"):
            media = msg.get(kind)
            if not media:
                continue
            meta = media[-1] if kind == "photo" else media
            kept = self.tg.file(str(meta.get("file_id")))
            url = msg.get("file_url")
            name = meta.get("file_name") or (posixpath.basename(urlsplit(url).path) if url else "") or kind
            if kept is not None:
                data, uploaded = kept
                if kind == "photo":  # a photo's name is only what the upload said, if it names a picture
                    named = uploaded is not None and Path(uploaded).suffix.lower() in (".png", ".jpg", ".jpeg")
                    name = uploaded if named else ("photo.png" if data.startswith(_PNG) else "photo.jpg")
                self.print(f"💾 saved to {self.save(name, data)}")
            elif url:
                task = asyncio.get_running_loop().create_task(self.download(url, name))
                self.downloads.add(task)
                task.add_done_callback(self.downloads.discard)

    def save(self, name: str, data: bytes) -> Path:
        assert self.files is not None
        self.saved += 1
        path = self.files / f"{self.saved:03d}-{Path(name).name or 'file'}"
        path.write_bytes(data)
        return path

    async def download(self, url: str, name: str) -> None:
        """What real Telegram would fetch from a URL the bot sent (the fake only keeps the URL)."""
        try:
            timeout = aiohttp.ClientTimeout(total=_DOWNLOAD_SECONDS)
            async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as response:
                response.raise_for_status()
                data = await response.content.read(MAX_UPLOAD + 1)
        except (aiohttp.ClientError, TimeoutError) as error:
            self.print(f"(could not fetch {url} to save it: {error or type(error).__name__})", faint=True)
            return
        if len(data) > MAX_UPLOAD:
            self.print(f"({url} is over {MAX_UPLOAD // 2**20} MB: not saved)", faint=True)
            return
        self.print(f"💾 saved to {self.save(name, data)}")

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
            self.chat_id = self.me
            self.print("(now writing in your private chat with the bot)")
        elif command == "!contact":
            if not rest.strip():
                self.print("(usage: !contact +7 916 111-22-33)")
            else:
                self.tg.share_contact(self.me, rest.strip(), chat_id=self._chat_arg())
        elif command == "!file":
            self.send_file(rest)
        elif command == "!as":
            self.speak_as(rest.strip())
        elif command == "!press":
            self.press_named(rest)
        elif command == "!say":
            self.send(rest)
        elif command.startswith("!"):
            self.print(f"(unknown command {command}; !help lists them)")
        elif line.isdigit() and any(self.buttons.values()):
            self.press_shown(int(line))
        else:
            self.send(line)
        return True

    def send(self, text: str) -> None:
        if text.strip():
            self.tg.send_text(self.me, text, chat_id=self._chat_arg())

    def send_file(self, typed: str) -> None:
        name, caption = path_and_caption(typed)
        if not name:
            self.print("(usage: !file PATH [caption], e.g. !file contacts.csv /import)")
            return
        path = Path(name).expanduser()
        if not path.is_file():
            self.print(f"(no file {path})")
            return
        size = path.stat().st_size
        if size > MAX_UPLOAD:
            self.print(f"({path.name} is {_size(size)}: this Telegram takes {MAX_UPLOAD // 2**20} MB at most)")
            return
        kind, _ = mimetypes.guess_type(path.name)
        self.tg.send_document(
            self.me, path.read_bytes(), path.name, caption=caption or None, chat_id=self._chat_arg(), mime_type=kind
        )
        self.print(f"(sent {path.name}, {_size(size)}" + (f", with the caption {caption})" if caption else ")"))

    def speak_as(self, wanted: str) -> None:
        if not wanted:
            for person in self.people.values():
                current = "  ← speaking now" if person.user_id == self.me else ""
                self.print(
                    f"  !as {person.handle}: {person.name}{', ' + person.about if person.about else ''}{current}"
                )
            return
        folded = wanted.casefold()
        found = next(
            (
                p
                for p in self.people.values()
                if folded in (p.handle.casefold(), str(p.user_id)) or p.name.casefold().startswith(folded)
            ),
            None,
        )
        if found is None:
            self.print(f"(nobody called {wanted}: !as lists who there is)")
            return
        if self.chat_id == self.me:
            self.chat_id = found.user_id
        self.me = found.user_id
        where = "the team group" if self.chat_id == self.group_chat_id else "a private chat with the bot"
        about = f", {found.about}" if found.about else ""
        self.print(f"(now speaking as {found.name}{about}; writing in {where})")

    def press_shown(self, number: int) -> None:
        """A typed number presses a button of the message just shown in the chat being written in, and no other: an
        alert that arrived in the group while one reads a private reply is never pressed by the reader's "1"."""
        shown, mine = self.shown, (self.me, self.group_chat_id)
        # Another person's chat is left to press(), which tells whose it is.
        elsewhere = shown is not None and shown[0] in mine and shown[0] != self.chat_id
        if shown is not None and not elsewhere and shown[1] in self.buttons.get(shown[0], {}):
            self.press(shown, number)
            return
        waiting = [(chat, message_id) for chat in mine if chat is not None for message_id in self.buttons.get(chat, {})]
        if not waiting:
            self.print(f"(the message just shown has no buttons, nor has any you could press: !say {number} sends it)")
            return
        latest = sorted(waiting, key=lambda ref: self.recency.get(ref, 0))[-5:]
        just = "is in the other chat" if elsewhere else "has no buttons"
        lines = [f"(the message just shown {just}: which one did you mean? The latest with buttons:"]
        for chat_id, message_id in latest:
            labels = "  ".join(f"[{n}] {b['text']}" for n, b in enumerate(self.buttons[chat_id][message_id], 1))
            lines.append(f"  #{message_id} {self._where(chat_id)}: {labels}")
        example = latest[-1][1]
        lines.append(f" !press {example} {number} presses [{number}] of #{example}; !say {number} sends it as text)")
        self.print("\n".join(lines))

    def press_named(self, typed: str) -> None:
        words = typed.replace("#", " ").split()
        if len(words) != 2 or not all(word.isdigit() for word in words):
            self.print("(usage: !press MESSAGE BUTTON, e.g. !press 12 1 presses [1] of message #12)")
            return
        message_id, number = int(words[0]), int(words[1])
        # The same number may be a message in several chats: the one typed in first, then the speaker's, the group's.
        order = [self.chat_id, self.me, self.group_chat_id, *self.people]
        target = next((chat_id for chat_id in order if message_id in self.buttons.get(chat_id or 0, {})), None)
        if target is None:
            self.print(f"(message #{message_id} has no buttons to press)")
            return
        self.press((target, message_id), number)

    def press(self, target: Ref, number: int) -> None:
        chat_id, message_id = target
        if chat_id in self.people and chat_id != self.me:
            handle = self.people[chat_id].handle
            self.print(f"(message #{message_id} is in {self.people[chat_id].name}'s chat: !as {handle} to press it)")
            return
        buttons = self.buttons[chat_id][message_id]
        if not 1 <= number <= len(buttons):
            self.print(f"(message #{message_id} has buttons 1–{len(buttons)})")
            return
        button = buttons[number - 1]
        if "web_app" in button:  # Telegram opens the page in place; here, a browser does
            url = str(button["web_app"].get("url", ""))
            opened = self.web_app(self.me, url) if self.web_app is not None else url
            self.print(f"(button [{number}] {button['text']} opens in a browser: {opened})")
            return
        if "callback_data" not in button:
            self.print(f"(button [{number}] {button['text']} opens {button.get('url', 'something else')})")
            return
        update = self.tg.press(self.me, target, button["callback_data"])
        self.my_queries.add(update["callback_query"]["id"])
        self.print(f"(pressed [{number}] {button['text']} on message #{message_id}{self._in(chat_id)})")

    def _chat_arg(self) -> int | None:
        return None if self.chat_id == self.me else self.chat_id

    def _chat_title(self, chat_id: int) -> str:
        info = self.tg.chat_info(chat_id) or {}
        return f"{info.get('title', chat_id)} group"

    def _in(self, chat_id: int) -> str:
        """Where a message is, as said after it: nothing for the speaker's own chat."""
        return "" if chat_id == self.me else f" {self._where(chat_id)}"

    def _where(self, chat_id: int) -> str:
        if chat_id == self.me:
            return "in your chat"
        if chat_id in self.people:
            return f"in {self.people[chat_id].name}'s chat"
        return f"in {self._chat_title(chat_id)}"


async def run_terminal_chat(
    tg: FakeBotAPI,
    *,
    user_id: int,
    group_chat_id: int | None = None,
    stdin: IO[str] | IO[bytes] | asyncio.StreamReader | None = None,
    stdout: TextSink | None = None,
    people: Sequence[Person] = (),
    files: Path | None = None,
    web_app: Callable[[int, str], str] | None = None,
) -> None:
    """Chat with the bot as ``user_id`` until ``!quit`` or end of input.

    ``stdin`` is a text/binary stream (read in a daemon thread, so a pipe, a file or a tty all work) or an
    ``asyncio.StreamReader``; ``group_chat_id`` is registered as a group if the fake does not know it. ``people``:
    whom ``!as`` may speak as (``user_id`` among them); ``files``: the folder the files the bot sends are saved in;
    ``web_app``: the address a Web App button opens for a user, as (user id, its URL) -> a browser's address.
    """
    if group_chat_id is not None and tg.chat_info(group_chat_id) is None:
        tg.group(group_chat_id)
    first = next((p for p in people if p.user_id == user_id), Person("you", user_id, "you"))
    everyone = [first, *(p for p in people if p.user_id != user_id)]
    source = sys.stdin if stdin is None else stdin
    out = sys.stdout if stdout is None else stdout
    term = _Terminal(tg, everyone, group_chat_id, out, files, web_app)
    echo = not bool(getattr(source, "isatty", lambda: False)())
    term.print("Chatting with the bot as a Telegram user. !help lists the local commands.")
    if files is not None:
        term.print(f"(the files the bot sends are saved in {files})")
    follower = asyncio.create_task(term.follow(), name="localchat-follow")
    try:
        async for line in _lines(source):
            if echo and line.strip():
                term.print(f"» {line.strip()}", faint=True)
            if not term.on_line(line):
                break
    finally:
        for task in (follower, *term.downloads):
            task.cancel()
        for task in (follower, *term.downloads):
            with contextlib.suppress(asyncio.CancelledError):
                await task
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
