"""/calls, /call and /record: the company's recent calls, placing one, and its recording."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sqlite3
import time
from datetime import UTC, datetime, timedelta

from pydantic import AnyHttpUrl
from telegram import InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest

import newtel
from bot import arguments, keyboards
from bot import callback_data as cd
from bot.access.checks import Caller, requires, show_typing
from bot.calllog import recordings
from bot.calllog.ingest import as_call
from bot.calllog.story import story, story_now
from bot.calls import calling, listing, numbers, periods
from bot.context import Context
from bot.formatting import format_for_people, moment
from bot.texts import Html, echo
from newtel import phones

log = logging.getLogger(__name__)

ARCHIVE_ROWS = 1_000  # calls read from the archive for one list at most (it shows ``limit`` of them after filtering)
STALE_CALL = timedelta(minutes=2)  # a /call older than this (queued while the bot was down) is not placed


@requires("manager")
async def calls(update: Update, context: Context, caller: Caller) -> None:
    query = listing.parse_query(context.args or [])
    if query is None:
        await caller.reply(caller.texts("calls_usage"))
        return
    query = dataclasses.replace(query, until=int(time.time()))  # its pages keep to the calls there are now
    if not query.from_archive:  # the archive answers at once; New-Tel may take a moment
        await show_typing(update, context)
    text, keyboard = await _calls_page(caller, query, 0)
    await caller.reply(text, reply_markup=keyboard)


@requires("manager")
async def calls_page(update: Update, context: Context, caller: Caller) -> None:
    found = cd.pressed(update, cd.CallsPage)
    if found is None or found[1].kind not in listing.KINDS:
        return
    press, payload = found
    # Answered only once New-Tel has: a failure is then shown in the button's popup by the error handler.
    query = listing.Query(payload.kind, payload.limit, payload.number, payload.period, payload.until)
    text, keyboard = await _calls_page(caller, query, payload.page)
    await press.answer()
    await press.edit_message_text(text, reply_markup=keyboard)


async def _calls_page(caller: Caller, query: listing.Query, page: int) -> tuple[Html, InlineKeyboardMarkup | None]:
    svc = caller.services
    if query.from_archive:  # past New-Tel's 24 hours; the poll keeps the archive current
        start: int | None = None
        end: int | None = None
        if query.period:
            days = periods.read(query.period, svc.settings.zone, datetime.now(UTC))
            if isinstance(days, periods.Refused):
                return periods.refusal(days, query.period, caller.texts), None
            start, end = days.start, days.end
        # The kind is asked of the archive, so a busy period's misses are not cut off by its other calls.
        kept = svc.storage.calls.find(
            number=query.number or None, start=start, end=end, kind=query.kind, limit=ARCHIVE_ROWS
        )
        history = [as_call(call) for call in kept]
    else:
        vpbx = svc.newtel.vpbx
        history = await (vpbx.get_active_calls() if query.kind == "active" else vpbx.get_calls())
        if query.kind != "active":
            try:  # what New-Tel shows is observed, and archived: its whole day, so the stories below know it
                await svc.ingest.take_all(history, int(time.time()))
                svc.ingest.window(call.vpbx_id for call in history)
            except sqlite3.Error as error:  # the list is New-Tel's; a later poll archives it
                log.warning("Calls not archived yet: %s", error)
    chosen = listing.select(history, query)
    # Remember which call each index meant, so "/record 3" finds it later (and after a restart).
    CallsIndex(caller).remember([c.vpbx_id for c in chosen])
    texts, zone, now = caller.texts, svc.settings.zone, datetime.now(UTC)
    if query.number:  # one customer's list: their story once, as it stands now
        about = story_now(svc, query.number, int(now.timestamp())).line(texts, zone)
        return listing.render(chosen, query, page, texts, zone, now, about=about)

    def told(call: newtel.Call) -> Html:
        customer = call.dnid if call.is_outbound else call.clid
        at = int(call.start_time.timestamp())
        return story(svc, customer, before=at, answered=call.is_answered).line(texts, zone)

    return listing.render(chosen, query, page, texts, zone, now, story=told)


class CallsIndex:
    """Which call each row of the list a user last saw in a chat meant, kept in storage so that "/record 3" finds
    row 3 of that list later (and after a restart)."""

    def __init__(self, caller: Caller) -> None:
        chat = caller.update.effective_chat
        self._kv = caller.services.storage.kv
        self._key = f"calls_index:{chat.id if chat else 0}:{caller.user.telegram_id}"

    def remember(self, vpbx_ids: list[str]) -> None:
        self._kv.set(self._key, vpbx_ids, now=int(time.time()))

    def rows(self) -> list[str]:
        return list(self._kv.get(self._key) or [])


@requires("manager")
async def call(update: Update, context: Context, caller: Caller) -> None:
    message, texts, svc = update.effective_message, caller.texts, caller.services
    assert message is not None
    typed = " ".join(context.args or []).strip()
    if not typed:
        await message.reply_text(texts("call_usage"))
        return
    if datetime.now(UTC) - message.date > STALE_CALL:
        # Sent while the bot was down: the manager may have given up long ago. Ask rather than ring.
        await message.reply_text(texts("call_stale", command=echo(message.text or "/call")))
        return
    typed, extension = phones.split_extension(typed)
    if isinstance(refused := await numbers.to_call(svc, typed), calling.CannotCall):  # before "typing…"
        await message.reply_text(calling.why_not(refused, texts))
        return
    await show_typing(update, context)
    plan = await calling.prepare(svc, caller.user, typed)
    if isinstance(plan, calling.Confirm):  # its button (or the same /call again) places it
        ask = keyboards.call_confirm(texts, plan.plan.destination, caller.user.telegram_id)
        await message.reply_text(calling.question(plan, texts, popup=False), reply_markup=ask)
        return
    outcome = (
        plan if isinstance(plan, calling.CannotCall) else await calling.place(svc, caller.user, plan, origin="command")
    )
    said = calling.said(outcome, texts)
    if extension is not None and not isinstance(outcome, calling.CannotCall):
        note = texts("extension_left_out", extension=extension, number=format_for_people(outcome.plan.destination))
        said = Html(note + "\n" + said)
    await message.reply_text(said)


@requires("manager")
async def record(update: Update, context: Context, caller: Caller) -> None:
    message, chat, texts, svc = update.effective_message, update.effective_chat, caller.texts, caller.services
    assert message is not None and chat is not None
    args = context.args or []
    if len(args) != 1:
        await message.reply_text(texts("record_usage"))
        return
    wanted = args[0].strip().lower()
    if newtel.is_vpbx_id(wanted):
        vpbx_id = wanted
    elif (row := arguments.whole_number(wanted, 0, 10**9)) is not None:
        index = CallsIndex(caller).rows()
        if not 1 <= row <= len(index):
            await message.reply_text(texts("record_no_index", index=row))
            return
        vpbx_id = index[row - 1]
    else:
        await message.reply_text(texts("record_usage"))
        return
    now = datetime.now(UTC)
    topic = message.message_thread_id if message.is_topic_message else None

    async def send(caption: Html, *, file_id: str | None = None, link: AnyHttpUrl | None = None) -> Message:
        """In reply to the request (in its topic, if any)."""
        return await recordings.send_recording(
            context.bot, svc.newtel, chat.id, vpbx_id, caption, texts,
            file_id=file_id, link=link, reply_to=message.message_id, thread_id=topic,
        )  # fmt: skip

    kept, file_id = svc.storage.calls.get(vpbx_id), svc.storage.recordings.file_id(vpbx_id)
    audited = False  # one audit entry, whichever way the recording goes
    if kept is not None and file_id is not None:  # Telegram keeps it: at once, no New-Tel request
        _audit_listened(caller, vpbx_id)
        audited = True
        try:
            await send(recordings.caption(kept, texts, svc.settings.zone, now), file_id=file_id)
            return
        except BadRequest as error:  # Telegram lost its copy: New-Tel may still have the recording
            log.warning("Telegram refused the kept recording of %s (%s)", vpbx_id, error.message)
        try:  # so that the file the recording becomes now is kept in its place
            svc.storage.recordings.forget(vpbx_id, file_id)
        except sqlite3.Error as error:
            log.warning("Refused recording of %s not forgotten: %s", vpbx_id, error)
    if kept is not None and not kept.active and kept.answered_at is None:  # the archive knows: nothing was said
        await message.reply_text(texts("newtel_no_record"))
        return
    if kept is not None and now.timestamp() - kept.started_at > recordings.NEWTEL_KEEPS:
        when = moment(datetime.fromtimestamp(kept.started_at, UTC), svc.settings.zone, texts.lang, now)
        await message.reply_text(texts("record_gone", when=when))
        return
    await show_typing(update, context)
    details, link = await asyncio.gather(
        svc.newtel.vpbx.get_call_details(vpbx_id), svc.newtel.vpbx.get_call_record_link(vpbx_id)
    )
    caption = texts(
        "record_caption",
        when=moment(details.start_time, svc.settings.zone, texts.lang, now),
        caller=format_for_people(details.clid),
        dialled=format_for_people(details.dnid),
    )
    if not audited:
        _audit_listened(caller, vpbx_id)
    sent = await send(caption, link=link)
    if (became := recordings.kept_file(sent)) is not None:
        try:  # the next /record of it is at once, past New-Tel's 24 hours too
            svc.storage.recordings.keep(vpbx_id, became, now=int(time.time()))
        except sqlite3.Error as error:  # the recording went out; a later /record asks New-Tel again
            log.warning("Recording of %s not kept: %s", vpbx_id, error)


def _audit_listened(caller: Caller, vpbx_id: str) -> None:
    caller.services.storage.audit.log(
        "record.fetch", actor_id=caller.user.telegram_id, target=vpbx_id, details=None, now=int(time.time())
    )
