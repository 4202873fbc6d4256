"""Decoding Bot API requests the way PTB (and other clients) encode them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

# Fields whose values are strings in the Bot API. PTB sends strings raw and everything else JSON-encoded,
# so "123" as a text must stay a string while "123" as a chat_id becomes an int.
_STRING_FIELDS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "inline_message_id",
        "language_code",
        "action",
        "url",
        "data",
        "title",
        "performer",
        "file_name",
        "file_id",
        "audio",
        "document",
        "voice",
        "photo",
        "video",
        "animation",
        "sticker",
        "thumbnail",
        "description",
        "short_description",
        "name",
        "secret_token",
        "ip_address",
        "emoji",
        "question",
        "explanation",
        "first_name",
        "last_name",
        "phone_number",
        "vcard",
        "address",
        "business_connection_id",
        "message_effect_id",
        "custom_title",
        "invite_link",
    }
)


@dataclass(frozen=True)
class UploadedFile:
    """One multipart file part, kept whole so tests can look at what the bot uploaded."""

    filename: str | None
    content_type: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


def decode_field(name: str, raw: str) -> Any:
    if name in _STRING_FIELDS:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw  # e.g. chat_id="@channel"


async def read_request(request: web.Request) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    """Parameters (query string, form, multipart or JSON body) and uploaded files of a request."""
    params: dict[str, Any] = {k: decode_field(k, v) for k, v in request.query.items()}
    files: dict[str, UploadedFile] = {}
    if not request.body_exists:
        return params, files
    if request.content_type == "application/json":
        body = await request.json()
        if not isinstance(body, dict):
            raise ValueError("JSON body must be an object")
        params.update(body)
        return params, files
    form = await request.post()  # handles both urlencoded and multipart
    for name, value in form.items():
        if isinstance(value, web.FileField):
            files[name] = UploadedFile(value.filename, value.content_type, value.file.read())
        else:
            params[name] = decode_field(name, str(value))
    return params, files
