"""The open misses on the page: ``GET /app/api/misses`` lists them, ``POST /app/api/misses/<id>/take|release|done|
callback`` acts on one through the desk (``bot.alerts.desk``), the same actions as the alert's buttons; the alert's
message in its group is edited as if its button had been pressed.

Which misses: the live alerts of the chats the bot alerts (subscribed), the ones the board lists (those held for a
business-hours summary are not told yet). Every manager sees every such chat's, as a manager can press the buttons of
any group they are in: the bot knows no group's members (only Telegram does, a request per chat and person), and
the company's managers work one desk.

A question (someone else took it, a customer abroad) comes back with a token, answered by posting it again
(``bot.miniapp.actions``, as the card's Call back is).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bot.alerts import desk
from bot.calllog.story import story
from bot.formatting import moment
from bot.miniapp import actions
from bot.miniapp.api import ASKER, ApiError, Asker, customer, story_text
from bot.services import Services
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


@routes.post(r"/api/misses/{id:[0-9]{1,18}}/{action:take|release|done|callback}")
async def act(request: web.Request) -> web.Response:
    asker = request[ASKER]
    svc, user = asker.services, asker.user
    alert = svc.storage.alerts.get(int(request.match_info["id"]))
    if alert is None or not _shown(svc, alert):
        raise ApiError(404, "not_found")
    subject = f"alert:{alert.id}"
    answers = await actions.answers(request, asker, subject)
    application = asker.application
    show = desk.shown_by(application.bot_data.need_poller().delivery, application.bot)
    action = request.match_info["action"]
    outcome: desk.Outcome
    if action == "callback":
        outcome = await desk.call_back(svc, user, alert, show, answers=answers)
    else:
        outcome = ACTIONS[action](svc, user, alert, show)
    answer = actions.answer(asker, subject, outcome)
    if answer["ok"]:  # the miss as it stands now, unless it left the page's list
        answer["miss"] = _now(asker, alert.id)
    return web.json_response(answer)


def _now(asker: Asker, alert_id: int) -> dict[str, Any] | None:
    svc = asker.services
    current = svc.storage.alerts.get(alert_id)
    if current is None or current.state == "closed" or not _shown(svc, current):
        return None
    chat = svc.storage.chats.get(current.chat_id)
    name = svc.storage.contacts.names([current.clid]).get(current.clid)
    return _miss(asker, current, (chat.title if chat else None) or "", name, int(time.time()))


# --- which misses ----------------------------------------------------------------------------------------------


def _live(svc: Services, chats: Iterable[int]) -> list[Alert]:
    """The live alerts of ``chats`` (those the bot alerts) the chats have been told of, as their boards list them."""
    return [alert for chat_id in chats for alert in svc.storage.alerts.open_for(chat_id) if not alert.held]


def live_of(svc: Services, number: str) -> Alert | None:
    """The customer's newest miss the page shows (open, or being called back), if any."""
    chats = [chat.chat_id for chat in svc.storage.chats.subscribed()]
    theirs = [alert for alert in _live(svc, chats) if alert.clid == number]
    return max(theirs, key=lambda alert: (alert.last_at, alert.id), default=None)


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
        "story": story_text(story(svc, alert.clid, before=alert.first_at), texts, zone),
        "state": alert.state,
        "owner": None if alert.owner_id is None else {"id": alert.owner_id, "name": alert.owner_name or ""},
        "mine": alert.owner_id == asker.user.telegram_id,
        "deadline": deadline,
        "deadline_text": due,  # "14:05", "вчера 14:05", "06.12 14:05"
        "overdue": deadline is not None and deadline <= now,
        "calling_by": alert.callback_name if alert.state == "calling" else None,
    }
