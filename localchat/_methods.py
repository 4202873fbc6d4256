"""Bot API methods of the fake: validate like Telegram, update the World, return the ``result`` object.

Each handler is synchronous (no awaits between reading and changing state), so a test woken by a recorded
call always sees the state that call produced. ``getUpdates`` waits, so it lives in ``fake_api``.
"""

from __future__ import annotations

import copy
import json
import posixpath
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from localchat._html import EntityParseError, parse_html
from localchat._wire import UploadedFile
from localchat._world import DEFAULT_UPDATE_TYPES, StoredFile, StoredMessage, World

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64  # bytes
MAX_UPLOAD = 50 * 1024 * 1024
MAX_DOWNLOAD = 20 * 1024 * 1024  # getFile refuses bigger files to bots
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_BUTTON_ACTIONS = (
    "callback_data",
    "url",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)

Params = dict[str, Any]
Files = dict[str, UploadedFile]
Handler = Callable[[World, Params, Files], Any]
HANDLERS: dict[str, Handler] = {}


class BotApiError(Exception):
    """Becomes ``{"ok": false, "error_code": status, "description": ...}``."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def _bad(description: str) -> BotApiError:
    return BotApiError(400, f"Bad Request: {description}")


def method(name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        HANDLERS[name] = handler
        return handler

    return register


def canonical_name(name: str) -> str:
    """Bot API method names are case-insensitive; record them as documented."""
    lowered = name.lower()
    return next((known for known in (*HANDLERS, "getUpdates") if known.lower() == lowered), name)


def dispatch(world: World, name: str, params: Params, files: Files) -> Any:
    handler = HANDLERS.get(name)
    if handler is None:
        return True  # unknown methods succeed so the bot keeps running; the call is still recorded
    return handler(world, params, files)


# -- shared validation ------------------------------------------------------------------------------


def _chat_id(world: World, params: Params, *, sending: bool = True) -> int:
    raw: Any = params.get("chat_id")
    if raw in (None, ""):
        raise _bad("chat_id is empty")
    if isinstance(raw, str) and raw.startswith("@"):
        found = [c["id"] for c in world.chats.values() if c.get("username") == raw[1:]]
        if not found:
            raise _bad("chat not found")
        raw = found[0]
    try:
        chat_id = int(raw)
    except (TypeError, ValueError):
        raise _bad("chat not found") from None
    if chat_id not in world.chats:
        raise _bad("chat not found")
    if sending and chat_id in world.blocked:
        raise BotApiError(403, "Forbidden: bot was blocked by the user")
    return chat_id


def _formatted(
    params: Params, key: str, entities_key: str, *, limit: int, required: bool
) -> tuple[str | None, list[dict[str, Any]] | None]:
    """Apply parse_mode like Telegram: the length limit counts the text *after* entity parsing."""
    raw = params.get(key)
    if raw is None or raw == "":
        if required:
            raise _bad("message text is empty")
        return None, None
    text, entities = str(raw), params.get(entities_key)
    if str(params.get("parse_mode") or "").upper() == "HTML":
        try:
            text, entities = parse_html(text)
        except EntityParseError as e:
            raise _bad(f"can't parse entities: {e}") from None
    # Markdown parse modes are not modelled: the text is kept as sent.
    if required and not text.strip():
        raise _bad("message text is empty")
    if len(text) > limit:
        raise _bad("message is too long" if key == "text" else "message caption is too long")
    return text, entities or None


def _markup(params: Params, chat: dict[str, Any] | None = None) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Split reply_markup into (inline keyboard kept on the message, reply keyboard kept aside). Sent to ``chat``:
    a Web App button only in a private one, as Telegram allows."""
    markup = params.get("reply_markup")
    if markup is None:
        return None, None
    if not isinstance(markup, dict):
        raise _bad("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" not in markup:
        return None, markup
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _bad("can't parse inline keyboard markup JSON object")
    for button in (b for row in rows for b in row):
        if not isinstance(button, dict) or not button.get("text"):
            raise _bad("can't parse inline keyboard button: Text must be non-empty")
        if not any(k in button for k in _BUTTON_ACTIONS):
            raise _bad("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
        data = button.get("callback_data")
        if data is not None and not (isinstance(data, str) and 1 <= len(data.encode()) <= MAX_CALLBACK_DATA):
            raise _bad("BUTTON_DATA_INVALID")
        url = button.get("url")
        if url is not None and not str(url).startswith(("http://", "https://", "tg://")):
            raise _bad("BUTTON_URL_INVALID")
        if "web_app" in button and chat is not None and chat.get("type") != "private":
            raise _bad("BUTTON_TYPE_INVALID")
    return markup, None


def _reply_to(world: World, chat_id: int, params: Params) -> dict[str, Any] | None:
    reply = params.get("reply_parameters") or {}
    message_id = reply.get("message_id", params.get("reply_to_message_id"))
    if message_id is None:
        return None
    target = world.find(int(reply.get("chat_id", chat_id)), int(message_id))
    if target is None:
        if reply.get("allow_sending_without_reply") or params.get("allow_sending_without_reply"):
            return None
        raise _bad("message to be replied not found")
    replied = copy.deepcopy(target.data)
    replied.pop("reply_to_message", None)  # Telegram does not nest replies further
    return replied


def _target(world: World, params: Params, missing: str) -> StoredMessage:
    chat_id = _chat_id(world, params, sending=False)
    stored = world.find(chat_id, int(params.get("message_id") or 0))
    if stored is None:
        raise _bad(missing)
    return stored


def _edit(stored: StoredMessage, changes: dict[str, Any]) -> dict[str, Any]:
    if not stored.from_bot:
        raise _bad("message can't be edited")
    if all(stored.data.get(key) == value for key, value in changes.items()):
        raise _bad(
            "message is not modified: specified new message content and reply markup are exactly the same "
            "as a current content and reply markup of the message"
        )
    for key, value in changes.items():
        if value is None:
            stored.data.pop(key, None)
        else:
            stored.data[key] = value
    stored.data["edit_date"] = int(time.time())
    stored.edit_count += 1
    return copy.deepcopy(stored.data)


# -- bot and updates --------------------------------------------------------------------------------


@method("getMe")
def get_me(world: World, params: Params, files: Files) -> Any:
    return {
        **world.bot_user,
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


def update_request(world: World, params: Params) -> tuple[int, float]:
    """Apply getUpdates' offset and allowed_updates; return (limit, timeout) for the wait in fake_api."""
    if world.webhook.get("url"):
        raise BotApiError(409, "Conflict: can't use getUpdates method while webhook is active")
    world.acknowledge(params.get("offset"))
    allowed = params.get("allowed_updates")
    if allowed is not None:  # remembered across calls, as in Telegram
        world.allowed_updates = frozenset(allowed) or DEFAULT_UPDATE_TYPES
    limit = min(max(int(params.get("limit") or 100), 1), 100)
    return limit, max(float(params.get("timeout") or 0), 0.0)


@method("setWebhook")
def set_webhook(world: World, params: Params, files: Files) -> Any:
    # fake_api delivers the updates to it from then on; the last error it met is kept, as Telegram keeps it.
    error = {k: v for k, v in world.webhook.items() if k.startswith("last_error_")}
    world.webhook = {k: v for k, v in params.items() if k != "certificate"} | error if params.get("url") else {}
    return True


@method("deleteWebhook")
def delete_webhook(world: World, params: Params, files: Files) -> Any:
    world.webhook = {}
    if params.get("drop_pending_updates"):
        world.pending_updates.clear()
    return True


@method("getWebhookInfo")
def get_webhook_info(world: World, params: Params, files: Files) -> Any:
    return {
        "url": world.webhook.get("url", ""),
        "has_custom_certificate": False,
        "pending_update_count": len(world.pending_updates),
        **{k: v for k, v in world.webhook.items() if k.startswith("last_error_")},
    }


def commands_key(scope: Any, language_code: Any) -> tuple[str, str]:
    return json.dumps(scope or {"type": "default"}, sort_keys=True), str(language_code or "")


@method("setMyCommands")
def set_my_commands(world: World, params: Params, files: Files) -> Any:
    commands = params.get("commands")
    if not isinstance(commands, list) or len(commands) > 100:
        raise _bad("can't parse commands JSON object")
    for command in commands:
        name = str(command.get("command", ""))
        if not (1 <= len(name) <= 32) or not all(c.islower() or c.isdigit() or c == "_" for c in name):
            raise _bad("BOT_COMMAND_INVALID")
        if not (1 <= len(str(command.get("description", ""))) <= 256):
            raise _bad("command description is empty" if not command.get("description") else "BOT_COMMAND_INVALID")
    world.commands[commands_key(params.get("scope"), params.get("language_code"))] = commands
    return True


@method("getMyCommands")
def get_my_commands(world: World, params: Params, files: Files) -> Any:
    return world.commands.get(commands_key(params.get("scope"), params.get("language_code")), [])


@method("deleteMyCommands")
def delete_my_commands(world: World, params: Params, files: Files) -> Any:
    world.commands.pop(commands_key(params.get("scope"), params.get("language_code")), None)
    return True


@method("setChatMenuButton")
def set_chat_menu_button(world: World, params: Params, files: Files) -> Any:
    button = params.get("menu_button") or {"type": "default"}
    if not isinstance(button, dict) or button.get("type") not in ("commands", "web_app", "default"):
        raise _bad("can't parse menu button JSON object")
    url = str((button.get("web_app") or {}).get("url", ""))
    if button["type"] == "web_app" and not (button.get("text") and url.startswith("https://")):
        raise _bad("BUTTON_URL_INVALID")  # a Web App is opened from an HTTPS address only
    chat = params.get("chat_id")
    world.menu_buttons[None if chat is None else _chat_id(world, params, sending=False)] = button
    return True


@method("getChatMenuButton")
def get_chat_menu_button(world: World, params: Params, files: Files) -> Any:
    chat = None if params.get("chat_id") is None else _chat_id(world, params, sending=False)
    return world.menu_buttons.get(chat, world.menu_buttons.get(None, {"type": "default"}))


@method("getChat")
def get_chat(world: World, params: Params, files: Files) -> Any:
    chat = world.chats[_chat_id(world, params, sending=False)]
    gifts = ("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription", "gifts_from_channels")
    return {
        **chat,
        "accent_color_id": 0,
        "max_reaction_count": 11,
        "accepted_gift_types": dict.fromkeys(gifts, True),
    }


# -- messages ---------------------------------------------------------------------------------------


@method("sendMessage")
def send_message(world: World, params: Params, files: Files) -> Any:
    chat_id = _chat_id(world, params)
    text, entities = _formatted(params, "text", "entities", limit=MAX_TEXT, required=True)
    inline, reply_keyboard = _markup(params, world.chats[chat_id])
    reply_to = _reply_to(world, chat_id, params)
    message = world.new_message(
        chat_id,
        world.bot_user,
        reply_to_message=reply_to,
        text=text,
        entities=entities,
        link_preview_options=params.get("link_preview_options"),
        reply_markup=inline,
    )
    world.store(
        message,
        from_bot=True,
        raw_text=params.get("text"),
        parse_mode=params.get("parse_mode"),
        reply_keyboard=reply_keyboard,
    )
    return copy.deepcopy(message)


@method("editMessageText")
def edit_message_text(world: World, params: Params, files: Files) -> Any:
    if params.get("inline_message_id"):
        return True
    stored = _target(world, params, "message to edit not found")
    if "text" not in stored.data:
        raise _bad("there is no text in the message to edit")
    text, entities = _formatted(params, "text", "entities", limit=MAX_TEXT, required=True)
    inline, _ = _markup(params)
    # Like Telegram: an edit without reply_markup removes the inline keyboard.
    result = _edit(stored, {"text": text, "entities": entities, "reply_markup": inline})
    stored.raw_text, stored.parse_mode = params.get("text"), params.get("parse_mode")
    return result


@method("editMessageCaption")
def edit_message_caption(world: World, params: Params, files: Files) -> Any:
    if params.get("inline_message_id"):
        return True
    stored = _target(world, params, "message to edit not found")
    if "text" in stored.data:
        raise _bad("there is no caption in the message to edit")
    caption, entities = _formatted(params, "caption", "caption_entities", limit=MAX_CAPTION, required=False)
    inline, _ = _markup(params)
    result = _edit(stored, {"caption": caption, "caption_entities": entities, "reply_markup": inline})
    stored.raw_text, stored.parse_mode = params.get("caption"), params.get("parse_mode")
    return result


@method("editMessageReplyMarkup")
def edit_message_reply_markup(world: World, params: Params, files: Files) -> Any:
    if params.get("inline_message_id"):
        return True
    stored = _target(world, params, "message to edit not found")
    inline, _ = _markup(params)
    return _edit(stored, {"reply_markup": inline})


@method("deleteMessage")
def delete_message(world: World, params: Params, files: Files) -> Any:
    _target(world, params, "message to delete not found").deleted = True
    return True


@method("deleteMessages")
def delete_messages(world: World, params: Params, files: Files) -> Any:
    chat_id = _chat_id(world, params, sending=False)
    for message_id in params.get("message_ids") or []:
        if (stored := world.find(chat_id, int(message_id))) is not None:
            stored.deleted = True
    return True


@method("pinChatMessage")
def pin_chat_message(world: World, params: Params, files: Files) -> Any:
    """The chat's pinned message (getChat's ``pinned_message``); one at a time, as the fake keeps it."""
    stored = _target(world, params, "message to pin not found")
    world.chats[stored.chat_id]["pinned_message"] = copy.deepcopy(stored.data)
    return True


@method("unpinChatMessage")
def unpin_chat_message(world: World, params: Params, files: Files) -> Any:
    chat = world.chats[_chat_id(world, params, sending=False)]
    wanted = params.get("message_id")
    pinned = chat.get("pinned_message")
    if pinned is not None and (wanted is None or int(wanted) == pinned["message_id"]):
        del chat["pinned_message"]
    return True


@method("answerCallbackQuery")
def answer_callback_query(world: World, params: Params, files: Files) -> Any:
    query = world.queries.get(str(params.get("callback_query_id")))
    if query is None or query.answer is not None:
        raise _bad("query is too old and response timeout expired or query ID is invalid")
    if len(str(params.get("text") or "")) > 200:
        raise _bad("MESSAGE_TOO_LONG")
    query.answer = {k: params[k] for k in ("text", "show_alert", "url", "cache_time") if k in params}
    return True


@method("sendChatAction")
def send_chat_action(world: World, params: Params, files: Files) -> Any:
    _chat_id(world, params)
    if params.get("action") not in _CHAT_ACTIONS:
        raise _bad("wrong parameter action in request")
    return True


# -- files ------------------------------------------------------------------------------------------


def _media_file(world: World, kind: str, params: Params, files: Files) -> StoredFile:
    value = params.get(kind)
    upload = files.get(kind)
    if isinstance(value, str) and value.startswith("attach://"):
        upload = files.get(value.removeprefix("attach://"))
    n = world.next_id()
    if upload is not None:
        if upload.size > MAX_UPLOAD:
            raise BotApiError(413, "Request Entity Too Large")
        if upload.size == 0:
            raise _bad("file must be non-empty")
        return StoredFile(f"fake-{kind}-{n}", f"u{n}", kind, upload.data, upload.filename, upload.content_type)
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        name = posixpath.basename(urlsplit(value).path) or None
        return StoredFile(f"fake-{kind}-{n}", f"u{n}", kind, None, name, None, url=value)
    if isinstance(value, str) and value in world.files:
        return world.files[value]
    if value is None:
        raise _bad(f"there is no {kind} in the request")
    raise _bad("wrong file identifier/HTTP URL specified")


def _file_object(stored: StoredFile, params: Params) -> dict[str, Any]:
    obj: dict[str, Any] = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
    if stored.kind in ("audio", "voice"):
        obj["duration"] = int(params.get("duration") or 0)
    if stored.kind == "audio":
        obj.update({k: params[k] for k in ("performer", "title") if params.get(k)})
    if stored.kind != "voice" and stored.file_name:
        obj["file_name"] = stored.file_name
    if stored.mime_type:
        obj["mime_type"] = stored.mime_type
    if stored.size is not None:
        obj["file_size"] = stored.size
    return obj


def _send_media(kind: str) -> Handler:
    def send(world: World, params: Params, files: Files) -> Any:
        chat_id = _chat_id(world, params)
        caption, entities = _formatted(params, "caption", "caption_entities", limit=MAX_CAPTION, required=False)
        inline, reply_keyboard = _markup(params, world.chats[chat_id])
        reply_to = _reply_to(world, chat_id, params)
        stored_file = _media_file(world, kind, params, files)
        world.files[stored_file.file_id] = stored_file
        media = _photo_sizes(stored_file) if kind == "photo" else _file_object(stored_file, params)
        content = {kind: media, "caption": caption, "caption_entities": entities}
        message = world.new_message(chat_id, world.bot_user, reply_to_message=reply_to, **content, reply_markup=inline)
        world.store(
            message,
            from_bot=True,
            raw_text=params.get("caption"),
            parse_mode=params.get("parse_mode"),
            reply_keyboard=reply_keyboard,
            file_url=stored_file.url,
        )
        return copy.deepcopy(message)

    return send


def _photo_sizes(stored: StoredFile) -> list[dict[str, Any]]:
    """A photo arrives as Telegram sends it back: a list of sizes (here only the one uploaded, its size read from
    a PNG's header)."""
    data = stored.data or b""
    width = height = 0
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    size: dict[str, Any] = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
    size.update(width=width, height=height)
    if stored.data is not None:
        size["file_size"] = len(stored.data)
    return [size]


for _kind in ("audio", "document", "voice", "photo"):
    method("send" + _kind.capitalize())(_send_media(_kind))


@method("getFile")
def get_file(world: World, params: Params, files: Files) -> Any:
    stored = world.files.get(str(params.get("file_id")))
    if stored is None:
        raise _bad("invalid file_id")
    if stored.data is not None and len(stored.data) > MAX_DOWNLOAD:
        raise _bad("file is too big")
    obj: dict[str, Any] = {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_path": stored.file_path,
    }
    if stored.size is not None:
        obj["file_size"] = stored.size
    return obj
