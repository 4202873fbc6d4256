"""The journal: ``GET /app/api/me`` (who asks, the page's texts, the members) and ``GET /app/api/journal`` (every
archived call, newest first, searched and filtered, page by page). Its rows are the card's too (``rows``)."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

import newtel
from bot import arguments
from bot import callback_data as cd
from bot.alerts.render import attempt_line, owner_line, status_line
from bot.contacts.commands import needles
from bot.formatting import duration
from bot.miniapp import recordings
from bot.miniapp.api import ASKER, ApiError, Asker, customer, read_period
from bot.texts import CATALOGS, Texts
from newtel import phones
from storage import Alert, JournalEntry, JournalPage

log = logging.getLogger(__name__)

routes = web.RouteTableDef()  # paths relative to /app (bot.miniapp.server mounts it)

DEFAULT_LIMIT, MAX_LIMIT = 50, 100
NAME_MATCHES = 30  # customers of the book a name search follows at most (each one's newest calls, merged)
MIN_DIGITS = 3  # fewer typed digits than this are no number to look for (nor a name)
PERIODS = ("today", "yesterday", "7d", "custom")
KINDS = ("all", "missed", "in", "out")
_CURSOR = re.compile(r"([0-9]{1,12})\.([0-9]{1,12})")


@routes.get("/api/me")
async def me(request: web.Request) -> web.Response:
    asker = request[ASKER]
    user, catalog = asker.user, CATALOGS[asker.texts.lang]
    try:
        members = await asker.services.directory.members()
    except newtel.NewtelError as error:  # the page works without the filter by member
        log.warning("Members unavailable for the Mini App: %s: %s", type(error).__name__, error)
        members = []
    start = cd.started_on(asker.start_param)  # a group alert's link to the app (keyboards.alert)
    return web.json_response(
        {
            "user": {"id": user.telegram_id, "name": user.name, "admin": asker.is_admin},
            "lang": asker.texts.lang,
            "zone": asker.services.settings.timezone,
            "texts": {key: text for key, text in catalog.items() if key.startswith("app_")},
            "members": [{"id": str(m.id), "name": m.name, "internal": m.internal_number} for m in members],
            "start": {"miss": start} if start is not None else None,
        }
    )


@routes.get("/api/journal")
async def journal(request: web.Request) -> web.Response:
    asker, query = request[ASKER], request.query
    svc = asker.services
    kind = _one_of(query.get("kind", "all"), KINDS)
    limit = _limit(query.get("limit"))
    before = cursor(query.get("before"))
    start, end = _period(asker, query)
    member = await _member_internal(asker, query.get("member"))
    search = _search(asker, query.get("q", ""))
    if search is None:
        page = JournalPage([], None)
    else:
        page = svc.storage.calls.journal(
            kind=kind, start=start, end=end, member=member, before=before, limit=limit, **search
        )
    resume = None if page.resume is None else "{}.{}".format(*page.resume)
    return web.json_response({"rows": rows(asker, page.entries), "next": resume})


def rows(asker: Asker, entries: Sequence[JournalEntry]) -> list[dict[str, Any]]:
    """The journal's rows (the contract's Row), what became of each miss told as its alert tells it."""
    missed = [e.call.vpbx_id for e in entries if e.call.is_missed]
    alerts = asker.services.storage.alerts.of_calls(missed) if missed else {}
    kept = asker.services.storage.recordings.kept(e.call.vpbx_id for e in entries if e.call.answered_at is not None)
    now = datetime.now(UTC)
    shown = []
    for entry in entries:
        call = entry.call
        answered = call.status == "answered" and not call.active
        alert = alerts.get(call.vpbx_id)
        shown.append(
            {
                "id": call.vpbx_id,
                **asker.when(call.started_at, now),
                "direction": call.direction,
                "missed": call.is_missed,
                "customer": customer(call.customer, entry.name),
                "member": call.member_name,
                "talk": duration(call.talk_seconds) if answered else None,
                "outcome": None if alert is None else outcome(alert, asker.texts, now, asker),
                "recording": recordings.may_have_recording(call, call.vpbx_id in kept, int(now.timestamp())),
            }
        )
    return shown


def outcome(alert: Alert, texts: Texts, now: datetime, asker: Asker) -> str:
    """What became of a miss, in the words of its alert's message: where it stands, who took it, the call backs
    that reached nobody ("открыт" while none of these has happened)."""
    zone = asker.services.settings.zone
    lines = [line(alert, texts, zone, now) for line in (status_line, owner_line, attempt_line)]
    said = [Texts.strip(found) for found in lines if found]
    return " · ".join(said) if said else texts.plain("export_open")


def _one_of(value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ApiError(400, "bad_input")
    return value


def _limit(value: str | None) -> int:
    if value is None:
        return DEFAULT_LIMIT
    if (limit := arguments.whole_number(value, 1, MAX_LIMIT)) is None:
        raise ApiError(400, "bad_input")
    return limit


def cursor(value: str | None) -> tuple[int, int] | None:
    if not value:
        return None
    found = _CURSOR.fullmatch(value)
    if found is None:
        raise ApiError(400, "bad_input")
    return int(found[1]), int(found[2])


def _period(asker: Asker, query: Any) -> tuple[int | None, int | None]:
    """[start, end) of the period asked (none: the whole archive), read as ``/calls`` reads one."""
    period = query.get("period")
    if not period:
        return None, None
    _one_of(period, PERIODS)
    _, start, end = read_period(asker, dict(query), period)
    return start, end


async def _member_internal(asker: Asker, member_id: str | None) -> str | None:
    """The internal number of the member asked for (the archive knows members by it)."""
    if not member_id:
        return None
    members = await asker.services.directory.members()
    found = next((m for m in members if str(m.id) == member_id), None)
    if found is None or not found.internal_number:
        raise ApiError(400, "bad_input")
    return found.internal_number


def _search(asker: Asker, typed: str) -> dict[str, Any] | None:
    """The journal's filter for what was typed in the search box: a whole number in any form people write one
    (``8 (916) 123-45-67``) is that customer; digits are part of a number (``4567``, and ``8 916`` as ``7916``,
    as ``/contacts`` reads them); anything else is part of a name in the customer book. None: nothing can match."""
    typed = typed.strip()
    if not typed:
        return {}
    number = phones.destination(typed)
    if number is not None:
        return {"customers": [number]}
    text, other = needles(typed)
    if phones.TYPED_CHARS.fullmatch(typed):
        return {"digits": [text, *other]} if len(text) >= MIN_DIGITS else None
    found = asker.services.storage.contacts.search(text, NAME_MATCHES)
    return {"customers": [contact.number for contact in found]} if found else None
