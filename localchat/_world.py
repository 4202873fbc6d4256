"""What the fake Telegram knows: users, chats, messages, files, callback queries and pending updates.

Pure in-memory state with no I/O, shared by the HTTP layer (``fake_api``) and the method handlers
(``_methods``). Message objects are stored exactly as the Bot API would return them now.
"""

from __future__ import annotations

import copy
import itertools
import re
import time
from dataclasses import dataclass, field
from typing import Any

from localchat._html import utf16_len

# Update types getUpdates delivers when allowed_updates is empty or was never set.
DEFAULT_UPDATE_TYPES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "callback_query",
        "inline_query",
        "chosen_inline_result",
        "my_chat_member",
        "shipping_query",
        "pre_checkout_query",
        "poll",
        "poll_answer",
    }
)


@dataclass
class StoredMessage:
    data: dict[str, Any]  # the Bot API Message object, edits applied
    from_bot: bool
    raw_text: str | None = None  # text or caption as the bot sent it, before parse_mode was applied
    parse_mode: str | None = None
    reply_keyboard: dict[str, Any] | None = None  # reply keyboards are not part of Message objects
    file_url: str | None = None  # media sent by URL
    edit_count: int = 0
    deleted: bool = False

    @property
    def chat_id(self) -> int:
        return int(self.data["chat"]["id"])

    @property
    def message_id(self) -> int:
        return int(self.data["message_id"])

    def view(self) -> dict[str, Any]:
        """The message plus bookkeeping the Bot API does not return (``edit_count``, ``raw_text``...)."""
        view = copy.deepcopy(self.data)
        view.update(
            chat_id=self.chat_id,
            edit_count=self.edit_count,
            raw_text=self.raw_text,
            parse_mode=self.parse_mode,
        )
        if self.reply_keyboard is not None and "reply_markup" not in view:
            view["reply_markup"] = copy.deepcopy(self.reply_keyboard)
        if self.file_url is not None:
            view["file_url"] = self.file_url
        return view


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    kind: str  # "audio", "document", "voice"
    data: bytes | None  # None when sent by URL: the fake does not fetch it
    file_name: str | None
    mime_type: str | None
    url: str | None = None
    stated_size: int | None = None  # the size the update and getFile say, when not its length (untrusted)

    @property
    def size(self) -> int | None:
        """What Telegram says of its size."""
        if self.stated_size is not None:
            return self.stated_size
        return None if self.data is None else len(self.data)

    @property
    def file_path(self) -> str:
        return f"{self.kind}/{self.file_unique_id}_{self.file_name or 'file'}"


@dataclass
class CallbackQuery:
    update: dict[str, Any]
    answer: dict[str, Any] | None = None  # answerCallbackQuery parameters once answered


@dataclass
class World:
    bot_user: dict[str, Any]
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    chats: dict[int, dict[str, Any]] = field(default_factory=dict)
    blocked: set[int] = field(default_factory=set)
    messages: dict[tuple[int, int], StoredMessage] = field(default_factory=dict)
    files: dict[str, StoredFile] = field(default_factory=dict)
    queries: dict[str, CallbackQuery] = field(default_factory=dict)
    pending_updates: list[dict[str, Any]] = field(default_factory=list)
    allowed_updates: frozenset[str] = DEFAULT_UPDATE_TYPES
    commands: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    menu_buttons: dict[int | None, dict[str, Any]] = field(default_factory=dict)  # by chat; None: the default
    webhook: dict[str, Any] = field(default_factory=dict)
    _last_message_id: dict[int, int] = field(default_factory=dict)
    _update_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # -- users and chats ------------------------------------------------------------------------

    def add_user(
        self,
        user_id: int,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "ru",
    ) -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        self.users[user_id] = user
        chat = {"id": user_id, "type": "private", "first_name": first_name}
        chat.update({k: user[k] for k in ("last_name", "username") if k in user})
        self.chats[user_id] = chat
        return dict(user)

    def ensure_user(self, user_id: int) -> dict[str, Any]:
        if user_id not in self.users:
            self.add_user(user_id, first_name=f"User{user_id}")
        return self.users[user_id]

    def add_group(self, chat_id: int, title: str) -> dict[str, Any]:
        if chat_id >= 0:
            raise ValueError(f"group chat ids are negative, got {chat_id}")
        self.chats[chat_id] = {"id": chat_id, "type": "group", "title": title}
        return dict(self.chats[chat_id])

    def next_id(self) -> int:
        return next(self._ids)

    # -- messages -------------------------------------------------------------------------------

    def new_message(self, chat_id: int, sender: dict[str, Any], **content: Any) -> dict[str, Any]:
        """A Message dict with the chat's next message_id (one counter per chat, as in Telegram)."""
        message_id = self._last_message_id.get(chat_id, 0) + 1
        self._last_message_id[chat_id] = message_id
        message = {
            "message_id": message_id,
            "from": dict(sender),
            "chat": dict(self.chats[chat_id]),
            "date": int(time.time()),
        }
        message.update({k: v for k, v in content.items() if v is not None})
        return message

    def store(self, message: dict[str, Any], *, from_bot: bool, **extra: Any) -> StoredMessage:
        stored = StoredMessage(data=message, from_bot=from_bot, **extra)
        self.messages[(stored.chat_id, stored.message_id)] = stored
        return stored

    def find(self, chat_id: int, message_id: int) -> StoredMessage | None:
        stored = self.messages.get((chat_id, message_id))
        return None if stored is None or stored.deleted else stored

    def chat_messages(self, chat_id: int, *, include_user: bool = False) -> list[StoredMessage]:
        return sorted(
            (
                m
                for (cid, _), m in self.messages.items()
                if cid == chat_id and not m.deleted and (m.from_bot or include_user)
            ),
            key=lambda m: m.message_id,
        )

    # -- updates --------------------------------------------------------------------------------

    def enqueue(self, payload: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), **payload}
        self.pending_updates.append(update)
        return update

    def acknowledge(self, offset: int | None) -> None:
        """getUpdates' offset confirms every update below it; a negative offset keeps only the last -offset."""
        if offset is None:
            return
        if offset < 0:
            del self.pending_updates[:offset]
        else:
            self.pending_updates[:] = [u for u in self.pending_updates if u["update_id"] >= offset]

    def deliverable(self) -> list[dict[str, Any]]:
        return [u for u in self.pending_updates if _update_type(u) in self.allowed_updates]


def _update_type(update: dict[str, Any]) -> str:
    return next((k for k in update if k != "update_id"), "")


def command_entities(text: str) -> list[dict[str, Any]] | None:
    """A leading "/cmd" or "/cmd@bot" is a bot_command entity, which PTB's CommandHandler requires; each "@username"
    after it is a mention, as Telegram marks them."""
    found: list[dict[str, Any]] = []
    after = 0
    if text.startswith("/") and len(text) >= 2:
        command = text.split(maxsplit=1)[0]
        found.append({"type": "bot_command", "offset": 0, "length": utf16_len(command)})
        after = len(command)
    for mention in _MENTION.finditer(text, after):
        found.append({"type": "mention", "offset": utf16_len(text[: mention.start()]), "length": utf16_len(mention[0])})
    return found or None


_MENTION = re.compile(r"(?<![\w@])@[A-Za-z0-9_]{5,32}\b")
