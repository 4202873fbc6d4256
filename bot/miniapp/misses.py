"""The open misses on the page: ``GET /app/api/misses`` lists them, ``POST /app/api/misses/<id>/take|release|done|
callback`` acts on one through the desk (``bot.alerts.desk``), the same actions as the alert's buttons; the alert's
message in its group is edited as if its button had been pressed.

Which misses: the live alerts of the chats the bot alerts (subscribed), the ones the board lists (those held for a
business-hours summary are not told yet). Every manager sees every such chat's, as a manager can press the buttons of
any group they are in: the bot knows no group's members (only Telegram does, a request per chat and person), and
the company's managers work one desk.

A question (someone else took it, a customer abroad) comes back with a token: signed with a key derived from the
bot's token, bound to the user, the alert and the questions it answers, and as short-lived as the question itself
(``calling.CONFIRM_WITHIN``). Posted again with it, the request answers those questions under ``calling.confirmed``'s
rules; without it, a request answers none (a question is asked anew), so only the page's own yes places such a call.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bot.alerts import desk
from bot.calllog.story import story
from bot.calls import calling
from bot.formatting import moment
from bot.miniapp.api import ASKER, ApiError, Asker, customer
from bot.services import Services
from bot.texts import Texts
from storage import Alert

routes = web.RouteTableDef()  # paths relative to /app (bot.miniapp.server mounts it)

# The newest this many are listed ("more" counts the rest): each one's story is a look at the archive (50 took 8 ms
# median, 14 ms p99 on a million calls), on the event loop, for every page open every few seconds.
MAX_LISTED = 50
ACTIONS = {"take": desk.take, "release": desk.release, "done": desk.done}  # and "callback", which may ask first


@routes.get("/api/misses")
async def misses(request: web.Request) -> web.Response:
    asker = request[ASKER]
    svc, now = asker.services, int(time.time())
    chats = {chat.chat_id: chat.title or "" for chat in svc.storage.chats.subscribed()}
    live = sorted(_live(svc, chats), key=lambda alert: (alert.last_at, alert.id), reverse=True)
    listed = live[:MAX_LISTED]
    names = svc.storage.contacts.names(alert.clid for alert in listed) if listed else {}
    shown = [_miss(asker, alert, chats[alert.chat_id], names.get(alert.clid), now) for alert in listed]
    return web.json_response({"misses": shown, "more": len(live) - len(listed)})


@routes.post(r"/api/misses/{id:\d{1,18}}/{action:take|release|done|callback}")
async def act(request: web.Request) -> web.Response:
    asker = request[ASKER]
    svc, user = asker.services, asker.user
    alert = svc.storage.alerts.get(int(request.match_info["id"]))
    if alert is None or not _shown(svc, alert):
        raise ApiError(404, "not_found")
    answer = await _confirm_token(request)
    application = asker.application
    show = desk.shown_by(application.bot_data.need_poller().delivery, application.bot)
    action = request.match_info["action"]
    outcome: desk.Outcome
    if action == "callback":
        answers = _Confirmations(application.bot.token).answers(answer, user.telegram_id, alert.id)
        outcome = await desk.call_back(svc, user, alert, show, answers=answers)
    else:
        outcome = ACTIONS[action](svc, user, alert, show)
    return _answer(asker, alert.id, outcome)


def _answer(asker: Asker, alert_id: int, outcome: desk.Outcome) -> web.Response:
    texts = asker.texts
    if isinstance(outcome, desk.Ask):
        token = _Confirmations(asker.application.bot.token).token(asker.user.telegram_id, alert_id, outcome.questions)
        question = Texts.unmarked(outcome.said(texts, popup=False))
        return web.json_response({"ok": False, "confirm": {"question": question, "token": token}})
    if isinstance(outcome, desk.Refused):
        status, code = (502, "newtel_failed") if outcome.error is not None else (409, "conflict")
        raise ApiError(status, code, Texts.unmarked(outcome.said(texts)))
    if isinstance(outcome, desk.Withdrawn):  # only a press withdraws; said as what it is, should it ever come
        raise ApiError(409, "conflict")
    svc = asker.services
    current = svc.storage.alerts.get(alert_id)
    shown = current is not None and current.state != "closed" and _shown(svc, current)
    miss = None
    if current is not None and shown:
        chat = svc.storage.chats.get(current.chat_id)
        name = svc.storage.contacts.names([current.clid]).get(current.clid)
        miss = _miss(asker, current, (chat.title if chat else None) or "", name, int(time.time()))
    return web.json_response({"ok": True, "message": Texts.unmarked(outcome.said(texts)), "miss": miss})


async def _confirm_token(request: web.Request) -> str | None:
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


# --- which misses ----------------------------------------------------------------------------------------------


def _live(svc: Services, chats: Iterable[int]) -> list[Alert]:
    """The live alerts of ``chats`` (those the bot alerts) the chats have been told of, as their boards list them."""
    return [alert for chat_id in chats for alert in svc.storage.alerts.open_for(chat_id) if not alert.held]


def _shown(svc: Services, alert: Alert) -> bool:
    """Whether the page shows (and acts on) this alert: its chat is alerted, and the chat has been told of it."""
    chat = svc.storage.chats.get(alert.chat_id)
    return chat is not None and chat.subscribed and not alert.held


def _miss(asker: Asker, alert: Alert, chat: str, name: str | None, now: int) -> dict[str, Any]:
    """A miss as the page shows it; ``chat``: its chat's title, ``name``: the customer's in the book."""
    svc, texts = asker.services, asker.texts
    deadline, clock, zone = alert.deadline_at, datetime.now(UTC), svc.settings.zone
    due = None if deadline is None else moment(datetime.fromtimestamp(deadline, UTC), zone, texts.lang, clock)
    return {
        "id": alert.id,
        "chat": chat,
        **asker.when(alert.last_at, clock),
        "customer": customer(alert.clid, name),
        "story": Texts.unmarked(story(svc, alert.clid, before=alert.first_at).line(texts, zone)),
        "state": alert.state,
        "owner": None if alert.owner_id is None else {"id": alert.owner_id, "name": alert.owner_name or ""},
        "mine": alert.owner_id == asker.user.telegram_id,
        "deadline": deadline,
        "deadline_text": due,  # "14:05", "вчера 14:05", "06.12 14:05"
        "overdue": deadline is not None and deadline <= now,
        "calling_by": alert.callback_name if alert.state == "calling" else None,
    }


# --- the yes to a question ---------------------------------------------------------------------------------------


class _Confirmations:
    """Tokens ``<expiry>.<questions>.<mac>``: the MAC (a key derived from the bot's token) over the user, the alert,
    the expiry and the questions, which the token carries (base64url of a JSON list)."""

    def __init__(self, bot_token: str) -> None:
        self._key = hmac.new(b"MiniAppConfirm", bot_token.encode(), hashlib.sha256).digest()

    def _mac(self, user_id: int, alert_id: int, expires: int, questions: str) -> str:
        message = f"{user_id}\n{alert_id}\n{expires}\n{questions}".encode()
        return base64.urlsafe_b64encode(hmac.new(self._key, message, hashlib.sha256).digest()[:18]).decode()

    def token(self, user_id: int, alert_id: int, questions: frozenset[str]) -> str:
        expires = int(time.time()) + calling.CONFIRM_WITHIN
        listed = base64.urlsafe_b64encode(json.dumps(sorted(questions)).encode()).decode()
        return f"{expires}.{listed}.{self._mac(user_id, alert_id, expires, listed)}"

    def answers(self, token: str | None, user_id: int, alert_id: int) -> frozenset[str]:
        """The questions ``token`` answers for this user and alert: none without one, or once it has expired (asked
        anew); ``ApiError`` 400 for one the server did not make for them."""
        if token is None:
            return frozenset()
        parts = token.split(".")
        if len(parts) != 3 or not parts[0].isdigit():
            raise ApiError(400, "bad_input")
        expires, listed, mac = int(parts[0]), parts[1], parts[2]
        if not hmac.compare_digest(mac.encode(), self._mac(user_id, alert_id, expires, listed).encode()):
            raise ApiError(400, "bad_input")
        if time.time() > expires:
            return frozenset()
        try:
            questions = json.loads(base64.urlsafe_b64decode(listed))
        except (ValueError, binascii.Error):  # signed by the server: cannot happen short of a changed format
            raise ApiError(400, "bad_input") from None
        return frozenset(str(question) for question in questions)
