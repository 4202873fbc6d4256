"""What a screen's handler uses: ``request[ASKER]``, the checked user of the request, and ``ApiError`` for an answer
in words. A screen is a module with ``routes = web.RouteTableDef()`` (paths relative to ``PREFIX``), listed in
``bot.miniapp.server.SCREENS``:

    @routes.get("/api/thing")
    async def thing(request: web.Request) -> web.Response:
        asker = request[ASKER]
        ...
        return web.json_response({...})
"""

from __future__ import annotations

import html
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.access.checks import Level, allowed
from bot.calllog.story import Story
from bot.calls import periods
from bot.context import App
from bot.formatting import date_text, format_for_people
from bot.miniapp import auth
from bot.services import Services
from bot.texts import Texts, echo
from bot.web import MINIAPP_PREFIX
from storage import User

PREFIX = MINIAPP_PREFIX  # MINIAPP_URL's path, behind the proxy


@dataclass(frozen=True)
class Asker:
    """The checked user of an API request, and what a handler answers them with."""

    user: User
    texts: Texts  # their language (the private chat's: their choice, else the bot's)
    services: Services
    application: App  # its ``bot``; ``bot_data`` (the delivery of alerts)
    start_param: str | None  # initData's (a t.me/<bot>/<app>?startapp= link); None for a link token
    links: auth.Links

    @property
    def is_admin(self) -> bool:
        return allowed(self.user, "admin")

    def need(self, level: Level) -> None:
        """For an endpoint above a manager's level: ``ApiError`` 403 ``admins_only`` unless the user is at it."""
        if not allowed(self.user, level):
            raise ApiError(403, "admins_only")

    def say(self, key: str, **values: object) -> str:
        """A text of the catalog as plain words (JSON carries no HTML)."""
        return html.unescape(self.texts(key, **values))

    def when(self, at: int, now: datetime | None = None) -> dict[str, Any]:
        """A moment as every screen shows it: ``{"at": unix, "day": "06.12" | "06.12.2025" (another year) |
        "сегодня", "time": "14:05"}`` in the company's zone."""
        zone = self.services.settings.zone
        local = datetime.fromtimestamp(at, UTC).astimezone(zone)
        today = (now or datetime.now(UTC)).astimezone(zone).date()
        shown = self.say("app_today") if local.date() == today else date_text(local.date(), today)
        return {"at": at, "day": shown, "time": local.strftime("%H:%M")}

    def link(self, path: str, **query: str) -> str:
        """A URL under ``/app`` the browser may fetch without the header (``<audio src>``, a chart), for this user
        and this resource only, for ``auth.LINK_SECONDS``."""
        full = PREFIX + path
        resource = auth.resource_of(full, query)
        token = self.links.token(self.user.telegram_id, resource)
        return f"{resource}{'&' if '?' in resource else '?'}t={token}"


ASKER = web.RequestKey("asker", Asker)


def story_text(told: Story, texts: Texts, zone: ZoneInfo) -> str:
    """A customer's story under their name, which heads every screen that shows it: the story goes on without it, as
    a sentence ("Звонков за 7 дн.: 6 · …")."""
    line = Texts.unmarked(replace(told, name=None).line(texts, zone))
    return line[:1].upper() + line[1:]


_NAMED = ("today", "yesterday", "7d", "30d")  # the periods the picker names as /report spells them


def read_period(asker: Asker, asked: dict[str, Any], default: str) -> tuple[str, int, int]:
    """The picker's period (``period`` = today, yesterday, 7d, 30d, month, or custom with ``from`` and ``to``,
    YYYY-MM-DD) as /report reads its own: (its spelling, start, end); else ``ApiError`` 400 saying why."""
    zone, now = asker.services.settings.zone, datetime.now(UTC)
    kind = asked.get("period") or default
    today = now.astimezone(zone).date()
    if kind in _NAMED:
        period = str(kind)
    elif kind == "month":
        period = f"{today.replace(day=1):%d.%m.%Y}-{today:%d.%m.%Y}"
    elif kind == "custom":
        first, last = _day(asked.get("from")), _day(asked.get("to"))
        if first is None or last is None:
            typed = f"{asked.get('from') or ''} – {asked.get('to') or ''}"
            raise ApiError(400, "bad_input", asker.say("calls_bad_period", period=echo(typed)))
        period = f"{first:%d.%m.%Y}-{last:%d.%m.%Y}"
    else:
        raise ApiError(400, "bad_input", asker.say("calls_bad_period", period=echo(str(kind))))
    days = periods.read(period, zone, now)
    if isinstance(days, periods.Refused):
        raise ApiError(400, "bad_input", Texts.unmarked(periods.refusal(days, period, asker.texts)))
    return period, days.start, days.end


def _day(typed: object) -> date | None:
    try:
        return date.fromisoformat(typed) if isinstance(typed, str) and len(typed) == 10 else None
    except ValueError:
        return None


def customer(number: str, name: str | None) -> dict[str, Any]:
    """A customer as every screen shows one: the archive's digits, as people write them, the book's name."""
    return {"number": number, "shown": format_for_people(number), "name": name}


class ApiError(Exception):
    """An answer in words: ``{"error": code, "message": ...}`` with ``status``. ``message`` None: the catalog's
    ``app_error_<code>`` in the asker's language."""

    def __init__(
        self, status: int, code: str, message: str | None = None, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(code)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}
