"""The Mini App's sub-application, mounted at ``/app`` on the bot's own server (``bot.web``): the page's files and
its JSON API, under one set of rules.

Every response carries a strict CSP and the other headers of the contract. Every ``/app/api/`` request is
authenticated here (``bot.miniapp.auth``: Telegram's initData in ``Authorization: tma …``, or a link token ``?t=``
for media), held to a per-user rate limit, and its user resolved as a command's sender is (``bot.access.admit``);
the handler gets them as ``request[ASKER]``. Each screen is a module with ``routes = web.RouteTableDef()`` (paths
relative to ``/app``) listed in ``SCREENS``. A handler raises ``ApiError`` for an answer in words; anything
else it raises is logged (never the request's headers: initData is a credential) and answered in words too.
"""

from __future__ import annotations

import html
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from telegram import User as TelegramUser

import newtel
from bot.access.checks import Admission, admit
from bot.context import App
from bot.errors import describe
from bot.miniapp import auth, card, journal, misses, recordings, reports
from bot.miniapp.api import ASKER, PREFIX, ApiError, Asker
from bot.services import Services
from bot.texts import Texts
from storage import DatabaseBusy

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"  # shipped as package data (pyproject's package-data)
SCREENS = (journal, card, recordings, reports, misses)
MAX_BODY = 64 * 1024  # the API's bodies are a name and a note
# Per Telegram user: a screen's opening takes a handful of requests, infinite scroll a few a second.
RATE, BURST = 20.0, 40.0

CSP = (
    "default-src 'none'; script-src 'self' https://telegram.org/js/telegram-web-app.js; style-src 'self'; "
    "img-src 'self' data:; "
    "media-src 'self'; connect-src 'self'; frame-ancestors https://web.telegram.org https://*.telegram.org 'self'; "
    "base-uri 'none'; form-action 'none'"
)
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def make_miniapp(application: App) -> web.Application:
    """The sub-application to mount at ``PREFIX`` (``bot.web.make_app``'s ``miniapp``)."""
    app = web.Application(client_max_size=MAX_BODY, middlewares=[_headers, _api])
    token = application.bot.token
    app[_APPLICATION], app[_LINKS], app[_BUCKETS] = application, auth.Links(token), Buckets(RATE, BURST)
    app.router.add_get("/", _index)
    app.router.add_get("/static/{name:[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*}", _static)
    for screen in SCREENS:
        app.router.add_routes(screen.routes)
    recordings.attach(app)  # the recordings' copies on disk, removed with the app
    reports.attach(app)  # the exports under way
    return app


async def _index(request: web.Request) -> web.StreamResponse:
    return _file(STATIC / "index.html")


async def _static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if any(part.startswith(".") for part in name.split("/")):  # no "..", no hidden files
        raise web.HTTPNotFound()
    return _file(STATIC / name)


def _file(path: Path) -> web.StreamResponse:
    if not path.is_file():
        raise web.HTTPNotFound()
    # Sent off the event loop, with Range and conditional requests; "no-cache": asked again on each open (a 304 when
    # unchanged), so an upgraded bot never pairs its API with an old app.js.
    return web.FileResponse(path, headers={"Cache-Control": "no-cache"})


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as error:  # a page path not found, a method not allowed
        error.headers.update(HEADERS)
        raise
    response.headers.update(HEADERS)
    return response


@web.middleware
async def _api(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(PREFIX + "/api/"):
        return await handler(request)
    texts: Texts | None = None
    try:
        asker = await _asker(request)
        texts = asker.texts
        if request.body_exists and (request.content_length is None or request.content_length > MAX_BODY):
            raise ApiError(400, "bad_input")  # the server's own cap is Telegram's updates' (bot.web)
        request[ASKER] = asker
        response = await handler(request)
    except ApiError as error:
        failed = _error(error.status, error.code, error.message, texts)
        failed.headers.update(error.headers)
        return failed
    except auth.AuthRefused as error:
        return _error(401, error.code, None, Texts(_language(error.language)))
    except web.HTTPException as error:  # the router's: no such endpoint, or not with this method
        if error.status == 404:
            return _error(404, "not_found", None, texts)
        if error.status == 405:
            return _error(400, "bad_input", None, texts)
        raise
    except newtel.NewtelError as error:
        log.warning("New-Tel failed for the Mini App: %s: %s", type(error).__name__, error)
        texts = texts or Texts("ru")
        return _error(502, "newtel_failed", html.unescape(describe(error, texts)), texts)
    except DatabaseBusy as error:
        log.debug("A Mini App request waits for the database: %s", error)  # the storage warns once an episode
        texts = texts or Texts("ru")
        return _error(503, "busy", html.unescape(texts("database_busy")), texts)
    except Exception:
        log.exception("Unexpected error in the Mini App's %s %s", request.method, request.path)  # never its query
        return _error(500, "failed", None, texts)
    response.headers.setdefault("Cache-Control", "no-store")  # unless the handler says how long (the chart)
    return response


def _error(status: int, code: str, message: str | None, texts: Texts | None) -> web.Response:
    texts = texts or Texts("ru")
    words = message if message is not None else html.unescape(texts(f"app_error_{code}"))
    return web.json_response(
        {"error": code, "message": words}, status=status, headers={"Cache-Control": "no-store"}, dumps=_dumps
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _language(code: str | None) -> str:
    """Telegram's language_code as the bot's language: ru unless it is English (as the contract says)."""
    return "en" if code is not None and code.lower().startswith("en") else "ru"


async def _asker(request: web.Request) -> Asker:
    """Who asks (initData, or a link token on a media URL), within their rate, admitted as a manager."""
    application = request.app[_APPLICATION]
    svc: Services = application.bot_data.need_services()
    links = request.app[_LINKS]
    header = request.headers.get("Authorization", "")
    signed: auth.InitData | None = None
    if header:
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "tma":
            raise auth.AuthRefused("auth_invalid")
        signed = auth.check_init_data(
            raw.strip(), application.bot.token, max_age=svc.settings.miniapp_auth_max_age, now=time.time()
        )
        telegram_id = signed.telegram_id
    elif "t" in request.query:
        telegram_id = links.check(request.query["t"], auth.resource_of(request.path, list(request.query.items())))
    else:
        raise auth.AuthRefused("auth_missing")
    language = _language(signed.language_code if signed else None)
    wait = request.app[_BUCKETS].take(telegram_id)
    if wait:
        slow = html.unescape(Texts(language)("app_error_slow_down"))
        raise ApiError(429, "slow_down", slow, headers={"Retry-After": str(math.ceil(wait))})
    sender = (  # how Telegram names them, for the admins should their member be gone (a link token has no name)
        TelegramUser(telegram_id, signed.first_name, False, last_name=signed.last_name, username=signed.username)
        if signed is not None
        else None
    )
    verdict: Admission = await admit(svc, application.bot, telegram_id, "manager", sender)
    user = verdict.user
    texts = Texts(user.language if user is not None and user.language else language)
    if verdict.refusal == "member_gone" and user is not None:
        raise ApiError(403, "member_gone", html.unescape(texts("member_gone_access", member=user.member_name or "—")))
    if verdict.refusal is not None:
        raise ApiError(403, verdict.refusal, html.unescape(texts(f"app_error_{verdict.refusal}")))
    assert user is not None
    return Asker(user, texts, svc, application, signed.start_param if signed else None, links)


class Buckets:
    """A token bucket per Telegram user: ``rate`` requests a second, ``burst`` at once. Users idle long enough to
    be full again are forgotten, so the table holds only those asking now."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self._held: dict[int, tuple[float, float]] = {}  # user: (tokens, when counted)

    def take(self, telegram_id: int, now: float | None = None) -> float:
        """0 when the request may go; else the seconds until it could."""
        now = time.monotonic() if now is None else now
        tokens, then = self._held.get(telegram_id, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens < 1:
            self._held[telegram_id] = (tokens, now)
            return (1 - tokens) / self.rate
        self._held[telegram_id] = (tokens - 1, now)
        if len(self._held) > 1000:
            self._forget_full(now)
        return 0.0

    def _forget_full(self, now: float) -> None:
        full_after = self.burst / self.rate
        for telegram_id in [k for k, (_, then) in self._held.items() if now - then > full_after]:
            del self._held[telegram_id]


_APPLICATION: web.AppKey[App] = web.AppKey("application")
_LINKS = web.AppKey("links", auth.Links)
_BUCKETS = web.AppKey("buckets", Buckets)
