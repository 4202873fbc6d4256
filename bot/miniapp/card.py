"""The customer card: ``GET|PUT /app/api/customer/<number>`` and ``GET /app/api/customer/<number>/calls``.

The story is the one every alert and ``/calls`` tells (``bot.calllog.story``, as it stands now); the history is the
archive's, newest first, a page at a time, in the journal's rows (``bot.miniapp.journal``); each recording gets a
link of its own (``bot.miniapp.recordings``). A manager edits the name and the note: the name by the book's rules
(``/name``'s: ``bot.contacts``), the note up to ``names.MAX_NOTE`` characters with no hidden ones; both written and
audited in one transaction (``Contacts.edit``), or, on bad input, nothing is.

Call back (``POST …/callback``) is the desk's: the call back of the customer's miss when one is open on the page (the
group's alert shows who calls, and nobody calls twice), else ``/call``'s call (``desk.call_customer``); its questions
are answered as the misses' are (``bot.miniapp.actions``). The card offers it to whoever has a phone of their own.
"""

from __future__ import annotations

import re
import time
from typing import Any

from aiohttp import web

from bot.alerts import desk
from bot.calllog.story import story_now
from bot.calls import calling
from bot.contacts import importing, names
from bot.contacts.commands import clean_name
from bot.formatting import format_for_people
from bot.miniapp import actions, journal, misses, recordings
from bot.miniapp.api import ASKER, ApiError, Asker, story_text
from bot.texts import echo
from newtel import phones

routes = web.RouteTableDef()  # paths relative to /app (bot.miniapp.server mounts it)

PAGE = 50  # calls a page of the history holds
_NUMBER = re.compile(r"[0-9]{3,20}")  # a customer as the archive writes them (international digits, or a short one)


def _number(asker: Asker, request: web.Request) -> str:
    typed = request.match_info["number"]
    if _NUMBER.fullmatch(typed) is None:
        raise ApiError(400, "bad_input", asker.say("app_card_bad_number", value=echo(typed, 40)))
    return typed


@routes.get("/api/customer/{number}")
async def card(request: web.Request) -> web.Response:
    asker = request[ASKER]
    return web.json_response(_card(asker, _number(asker, request)))


@routes.get("/api/customer/{number}/calls")
async def more_calls(request: web.Request) -> web.Response:
    asker = request[ASKER]
    number = _number(asker, request)
    cursor = journal.cursor(request.query.get("before"))
    if cursor is None:
        raise ApiError(400, "bad_input")
    return web.json_response(_history(asker, number, cursor))


@routes.put("/api/customer/{number}")
async def edit(request: web.Request) -> web.Response:
    """Name and note as the form gives them (empty: none); bad input is 400 saying why, and changes nothing."""
    asker = request[ASKER]
    number = _number(asker, request)
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not isinstance(body.get("note"), str):
        raise ApiError(400, "bad_input")
    name, note = clean_name(body["name"]), names.clean_note(body["note"])
    if len(name) > importing.MAX_NAME:
        raise ApiError(400, "bad_input", asker.say("name_too_long", limit=importing.MAX_NAME))
    if (hidden := names.hidden_character(name)) is not None:
        raise ApiError(400, "bad_input", asker.say("name_hidden_char", code=names.code_point(hidden)))
    if len(note) > names.MAX_NOTE:
        raise ApiError(400, "bad_input", asker.say("note_too_long", limit=names.MAX_NOTE))
    if (hidden := names.hidden_in_note(note)) is not None:
        raise ApiError(400, "bad_input", asker.say("note_hidden_char", code=names.code_point(hidden)))
    asker.services.storage.contacts.edit(
        number, name=name, note=note, by=asker.user.telegram_id, now=int(time.time()), origin="app"
    )
    return web.json_response(_card(asker, number))


@routes.post("/api/customer/{number}/callback")
async def call_back(request: web.Request) -> web.Response:
    asker = request[ASKER]
    svc, user, number = asker.services, asker.user, _number(asker, request)
    subject = f"customer:{number}"
    answers = await actions.answers(request, asker, subject)
    outcome: desk.Outcome
    if (miss := misses.live_of(svc, number)) is not None:
        application = asker.application
        show = desk.shown_by(application.bot_data.need_poller().delivery, application.bot)
        outcome = await desk.call_back(svc, user, miss, show, answers=answers)
    else:
        outcome = await desk.call_customer(svc, user, number, answers=answers)
    return web.json_response(actions.answer(asker, subject, outcome))


def _card(asker: Asker, number: str) -> dict[str, Any]:
    svc = asker.services
    book = svc.storage.contacts
    contact, note = book.get(number), book.note(number)
    told = story_text(story_now(svc, number, int(time.time())), asker.texts, svc.settings.zone)
    may_call = calling.first_phone(asker.user, None) is not None
    return {
        "number": number,
        "shown": format_for_people(number),
        # What a phone dials: only a phone number (international digits); an internal "101" is no "tel:+101".
        "tel": f"+{number}" if phones.country(number) is not None else None,
        "name": contact.name if contact is not None else None,
        "note": note.text if note is not None else None,
        "story": told,
        **_history(asker, number, None),
        "may_edit": True,  # every manager may, as with /name; the Mini App lets in managers and admins only
        # The phone that would ring first as last known (the call itself checks New-Tel's current member list).
        "may_call": may_call,
        "no_call_reason": None if may_call else asker.say("callback_no_phone"),
    }


def _history(asker: Asker, number: str, before: tuple[int, int] | None) -> dict[str, Any]:
    """A page of the customer's calls (``calls``: the journal's rows), the cursor of the next (``next``) and their
    recordings' links."""
    page = asker.services.storage.calls.journal(customers=[number], before=before, limit=PAGE)
    return {
        "calls": journal.rows(asker, page.entries),
        "next": None if page.resume is None else "{}.{}".format(*page.resume),
        "recordings": recordings.links(asker, [entry.call for entry in page.entries]),
    }
