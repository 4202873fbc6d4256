"""The desk's actions on the page (a miss's Take, Release, Done and Call back; the card's Call back): the body they
are posted with, the yes to a question they ask, and their outcome as the API answers it.

A question (someone else took it, a customer abroad, a call moments ago) comes back with a token: signed with a key
derived from the bot's token, bound to the user, the thing acted on (``subject``: an alert, a customer) and the
questions it answers, and as short-lived as the question itself (``calling.CONFIRM_WITHIN``). Posted again with it,
the request answers those questions under ``calling.confirmed``'s rules; without it, a request answers none (a
question is asked anew), so only the page's own yes places such a call.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from typing import Any

from aiohttp import web

from bot.alerts import desk
from bot.calls import calling
from bot.miniapp.api import ApiError, Asker
from bot.texts import Texts


async def answers(request: web.Request, asker: Asker, subject: str) -> frozenset[str]:
    """The questions this request answers: those of the body's ``confirm`` token (``{}`` or no body: none)."""
    return _Confirmations(asker.application.bot.token).answers(await _token(request), asker.user.telegram_id, subject)


def answer(asker: Asker, subject: str, outcome: desk.Outcome) -> dict[str, Any]:
    """``{"ok": true, "message"}``, or ``{"ok": false, "confirm": {"question", "token"}}`` to ask first; a refusal
    raises ``ApiError`` (409 with its words; 502 when New-Tel refused)."""
    texts = asker.texts
    if isinstance(outcome, desk.Ask):
        token = _Confirmations(asker.application.bot.token).token(asker.user.telegram_id, subject, outcome.questions)
        question = Texts.unmarked(outcome.said(texts, popup=False))
        return {"ok": False, "confirm": {"question": question, "token": token}}
    if isinstance(outcome, desk.Refused):
        status, code = (502, "newtel_failed") if outcome.error is not None else (409, "conflict")
        raise ApiError(status, code, Texts.unmarked(outcome.said(texts)))
    if isinstance(outcome, desk.Withdrawn):  # only a press withdraws; said as what it is, should it ever come
        raise ApiError(409, "conflict")
    return {"ok": True, "message": Texts.unmarked(outcome.said(texts))}


async def _token(request: web.Request) -> str | None:
    """The body's ``confirm`` token: ``{}`` (or none) for a first request, ``{"confirm": "<token>"}`` for the yes."""
    if not request.body_exists:
        return None
    try:
        body = json.loads(await request.text() or "{}")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "bad_input") from None
    if not isinstance(body, dict) or not isinstance(body.get("confirm", ""), str):
        raise ApiError(400, "bad_input")
    return body.get("confirm") or None


_TOKEN = re.compile(r"([0-9]{1,19})\.([^.]*)\.([^.]*)")  # ASCII digits: ``str.isdigit`` takes "²", ``int`` not


class _Confirmations:
    """Tokens ``<expiry>.<questions>.<mac>``: the MAC (a key derived from the bot's token) over the user, the subject,
    the expiry and the questions, which the token carries (base64url of a JSON list)."""

    def __init__(self, bot_token: str) -> None:
        self._key = hmac.new(b"MiniAppConfirm", bot_token.encode(), hashlib.sha256).digest()

    def _mac(self, user_id: int, subject: str, expires: int, questions: str) -> str:
        message = f"{user_id}\n{subject}\n{expires}\n{questions}".encode()
        return base64.urlsafe_b64encode(hmac.new(self._key, message, hashlib.sha256).digest()[:18]).decode()

    def token(self, user_id: int, subject: str, questions: frozenset[str]) -> str:
        expires = int(time.time()) + calling.CONFIRM_WITHIN
        listed = base64.urlsafe_b64encode(json.dumps(sorted(questions)).encode()).decode()
        return f"{expires}.{listed}.{self._mac(user_id, subject, expires, listed)}"

    def answers(self, token: str | None, user_id: int, subject: str) -> frozenset[str]:
        """The questions ``token`` answers for this user and subject: none without one, or once it has expired (asked
        anew); ``ApiError`` 400 for one the server did not make for them."""
        if token is None:
            return frozenset()
        parts = _TOKEN.fullmatch(token)
        if parts is None:
            raise ApiError(400, "bad_input")
        expires, listed, mac = int(parts[1]), parts[2], parts[3]
        if not hmac.compare_digest(mac.encode(), self._mac(user_id, subject, expires, listed).encode()):
            raise ApiError(400, "bad_input")
        if time.time() > expires:
            return frozenset()
        try:
            questions = json.loads(base64.urlsafe_b64decode(listed))
        except (ValueError, binascii.Error):  # signed by the server: cannot happen short of a changed format
            raise ApiError(400, "bad_input") from None
        return frozenset(str(question) for question in questions)
