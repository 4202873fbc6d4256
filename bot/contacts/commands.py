"""The customer book: /name names a customer or shows their card, /contacts searches, a contact a manager passes
on is offered for saving, and an admin's file with the caption /import is previewed and applied on confirm."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from telegram import CallbackQuery, Document, File, InlineKeyboardMarkup, Message, Update
from telegram.error import TelegramError
from telegram.ext import filters

from bot import callback_data as cd
from bot import keyboards
from bot.access.checks import Caller, requires, show_typing
from bot.calls import calling
from bot.contacts import importing, names, render
from bot.context import Context
from bot.formatting import format_for_people
from bot.texts import Html, Texts, echo
from newtel import phones
from storage import Contact, ImportResult
from storage.contacts import apply_import, known_names, stage_import

log = logging.getLogger(__name__)

RECENT_DAYS = 30  # the card counts the calls of these last days apart
SEARCH_LIMIT = 30  # customers listed by /contacts
IMPORT_MAX_BYTES = 5 * 1024 * 1024  # refused by the size Telegram states, else the download stops past it
IMPORT_DOWNLOAD_TIMEOUT = 60  # seconds for the whole file
PREVIEW_TTL = 24 * 3600  # seconds a preview may be confirmed: later, the book may have moved on
CALL_PAUSE = 60  # seconds: another press on one card's call button within them places nothing
OFFER_TTL = 24 * 3600  # seconds a contact's save offer may be pressed; then it is forgotten
UNDO_TTL = 24 * 3600  # seconds a removal may be undone from the card it left
TIDY_EVERY = 3600  # seconds between looks for stale offers, card presses, undos and previews
_CARD_CALL, _OFFER, _REMOVED = "card_call:", "contact_offer:", "contact_removed:"  # kv key prefixes

# A document whose caption is the /import command (captions are not commands to CommandHandler).
IMPORT_FILE = (
    filters.UpdateType.MESSAGE & filters.Document.ALL & filters.CaptionRegex(re.compile(r"^/import(@\w+)?(\s|$)", re.I))
)


def number_and_name(args: list[str]) -> tuple[str | None, str | None, str, str]:
    """(international digits or None, the extension typed after them or None, the words typed as the number, the rest
    as the name) of "/name 8 916 123 45 67 Иван Петров": as ``phones.leading_number_and_extension`` reads them."""
    digits, extension, taken = phones.leading_number_and_extension(args)
    if digits is None:
        return None, None, " ".join(args[: max(taken, 1)]), ""
    return digits, extension, " ".join(args[:taken]), " ".join(args[taken:])


def clean_name(typed: str) -> str:
    return " ".join(typed.split())


# --- /name and the card --------------------------------------------------------------------------------------


@requires("manager")
async def name(update: Update, context: Context, caller: Caller) -> None:
    texts, args = caller.texts, context.args or []
    if not args:
        await caller.reply(texts("name_usage"))
        return
    number, extension, typed, rest = number_and_name(args)
    if number is None:
        await caller.reply(texts("bad_number", value=echo(typed)))
        return
    given = clean_name(rest)
    notes: list[Html] = []
    if extension is not None:
        notes.append(texts("extension_left_out", extension=extension, number=format_for_people(number)))
    if given:
        if len(given) > importing.MAX_NAME:
            await caller.reply(texts("name_too_long", limit=importing.MAX_NAME))
            return
        if (hidden := names.hidden_character(given)) is not None:
            await caller.reply(texts("name_hidden_char", code=names.code_point(hidden)))
            return
        notes.append(_named(caller, number, given, origin="command"))
    text, keyboard = _card(caller, number, caller.user.telegram_id, Html("\n".join(notes)) if notes else None)
    await caller.reply(text, reply_markup=keyboard)


def _named(caller: Caller, number: str, given: str, *, origin: str) -> Html:
    """Name (or rename) the customer, audited; the line that says what changed (a name they already have changes
    nothing, and is not written)."""
    svc, texts, now = caller.services, caller.texts, int(time.time())
    shown = format_for_people(number)
    before, _ = svc.storage.contacts.set(number, given, by=caller.user.telegram_id, now=now)
    if before is not None and before.name == given:  # ``set`` left it as it was
        return texts("contact_offer_same", name=given, number=shown)
    svc.storage.audit.log(
        "contact.set",
        actor_id=caller.user.telegram_id,
        target=number,
        details={"name": given, "before": before.name if before else None, "origin": origin},
        now=now,
    )
    if before is None:
        return texts("contact_saved", name=given, number=shown)
    return texts("contact_renamed", before=before.name, name=given, number=shown)


def _card(
    caller: Caller, number: str, asker: int, note: Html | None = None, *, undo: bool = False
) -> tuple[Html, InlineKeyboardMarkup]:
    svc, now = caller.services, datetime.now(UTC)
    contact = svc.storage.contacts.get(number)
    summary = svc.storage.calls.customer(number, since=int(now.timestamp()) - RECENT_DAYS * 86_400)
    alert_open = number in svc.storage.alerts.live_customers([number])
    text = render.card(number, contact, summary, alert_open, caller.texts, svc.settings.zone, now, RECENT_DAYS)
    keyboard = keyboards.contact_card(caller.texts, number, contact is not None, asker, undo=undo)
    return (Html(note + "\n\n" + text) if note else text), keyboard


@requires("manager")
async def card_call(update: Update, context: Context, caller: Caller) -> None:
    """The card's call button (and a ``/call`` abroad's): a press of the manager who asked for it, placed once (never
    repeated)."""
    found = cd.pressed(update, cd.CardCall)
    if found is None or not isinstance(found[0].message, Message):
        return
    press, payload = found
    message, texts, svc = found[0].message, caller.texts, caller.services
    if press.from_user.id != payload.asker:
        await press.answer(Texts.strip(texts("card_not_yours", digits=payload.number)), show_alert=True)
        return
    key, now = f"{_CARD_CALL}{message.chat.id}:{message.message_id}", int(time.time())
    if _called_lately(caller, key, now):
        await press.answer(texts.plain("card_call_again"), show_alert=True)
        return
    plan = await calling.prepare(svc, caller.user, payload.number)
    if isinstance(plan, calling.Confirm):
        await press.answer(Texts.strip(calling.question(plan, texts, popup=True)), show_alert=True)
        return
    if isinstance(plan, calling.CannotCall):
        await press.answer(Texts.strip(calling.why_not(plan, texts)), show_alert=True)
        return
    if _called_lately(caller, key, now):  # a second press while New-Tel was asked
        await press.answer(texts.plain("card_call_again"), show_alert=True)
        return
    svc.storage.kv.set(key, now, now=now)
    try:
        # Answered before anything rings: a press Telegram no longer takes an answer for (queued while the bot
        # was down) has nobody waiting for its call. When in doubt, no call.
        await press.answer(texts.plain("card_calling"))
    except TelegramError as error:
        log.info("Card call press not confirmed to its presser (%s): no call placed", error)
        return
    outcome = await calling.place(svc, caller.user, plan, origin="card")
    await message.reply_text(calling.said(outcome, texts))


def _called_lately(caller: Caller, key: str, now: int) -> bool:
    last = caller.services.storage.kv.get(key)
    return isinstance(last, int) and now - last < CALL_PAUSE


@requires("manager")
async def card_rename(update: Update, context: Context, caller: Caller) -> None:
    found = cd.pressed(update, cd.CardRename)
    if found is None or not isinstance(found[0].message, Message):
        return
    press, payload = found
    await press.answer()
    await found[0].message.reply_text(caller.texts("rename_hint", digits=payload.number))


@requires("manager")
async def card_remove(update: Update, context: Context, caller: Caller) -> None:
    """Remove at once, and leave an Undo on the card for a day (the name is kept for it until then)."""
    found = cd.pressed(update, cd.CardRemove)
    if found is None or not isinstance(found[0].message, Message):
        return
    press, payload = found
    message, svc, texts, now = found[0].message, caller.services, caller.texts, int(time.time())
    removed = svc.storage.contacts.remove(payload.number)
    note = None
    if removed is not None:
        svc.storage.audit.log(
            "contact.remove",
            actor_id=caller.user.telegram_id,
            target=payload.number,
            details={"name": removed.name},
            now=now,
        )
        svc.storage.kv.set(_removed_key(message), dataclasses.asdict(removed), now=now)
        note = texts("contact_removed", name=removed.name, number=format_for_people(payload.number))
    await press.answer(texts.plain("contact_removed_short" if removed else "contact_removed_already"))
    await _show_card(press, caller, payload.number, payload.asker, note, undo=removed is not None)


@requires("manager")
async def card_restore(update: Update, context: Context, caller: Caller) -> None:
    """Undo a removal from the card it left: once, and not over a name given meanwhile."""
    found = cd.pressed(update, cd.CardRestore)
    if found is None or not isinstance(found[0].message, Message):
        return
    press, payload = found
    message, svc, texts, now = found[0].message, caller.services, caller.texts, int(time.time())
    kept = svc.storage.kv.get(_removed_key(message))
    if (
        not isinstance(kept, dict)
        or kept.get("number") != payload.number
        or not svc.storage.kv.delete(_removed_key(message))
    ):
        await press.answer(texts.plain("contact_restore_gone"), show_alert=True)
        return
    removed = Contact(**kept)
    if not svc.storage.contacts.restore(removed, by=caller.user.telegram_id, now=now):
        current = svc.storage.contacts.get(payload.number)
        named = texts("contact_restore_named", name=current.name if current else "—")
        await press.answer(Texts.strip(named), show_alert=True)
        await _show_card(press, caller, payload.number, payload.asker)
        return
    svc.storage.audit.log(
        "contact.restore",
        actor_id=caller.user.telegram_id,
        target=payload.number,
        details={"name": removed.name},
        now=now,
    )
    await press.answer(texts.plain("contact_restored_short"))
    note = texts("contact_restored", name=removed.name, number=format_for_people(payload.number))
    await _show_card(press, caller, payload.number, payload.asker, note)


def _removed_key(message: Message) -> str:
    return f"{_REMOVED}{message.chat.id}:{message.message_id}"


async def _show_card(
    press: CallbackQuery, caller: Caller, number: str, asker: int, note: Html | None = None, *, undo: bool = False
) -> None:
    """The card its button was pressed on, as it is now."""
    text, keyboard = _card(caller, number, asker, note, undo=undo)
    try:
        await press.edit_message_text(text, reply_markup=keyboard)
    except TelegramError as error:  # "not modified": another press got there first
        log.info("Card not updated after a press: %s", error)


# --- /contacts -----------------------------------------------------------------------------------------------


@requires("manager")
async def contacts(update: Update, context: Context, caller: Caller) -> None:
    query = echo(" ".join(context.args or []).strip())
    book = caller.services.storage.contacts
    if query:
        text, digits = needles(query)
        found = book.search(text, SEARCH_LIMIT + 1, digits=digits)
    else:
        found = book.recent(SEARCH_LIMIT + 1)
    await caller.reply(render.listing(found, caller.texts, query=query, limit=SEARCH_LIMIT))


def needles(query: str) -> tuple[str, tuple[str, ...]]:
    """(the text searched, other digits a number may hold): a whole number typed any way is searched as stored;
    part of one as typed and, when it starts with 8, as a Russian "8 916…" start ("7916…") too — "8005" is in
    78005553535 as typed, "8 916 123" in 79161234567 as rewritten."""
    digits = phones.destination(query)
    if digits is not None:
        return digits, ()
    if phones.TYPED_CHARS.fullmatch(query):
        typed = re.sub(r"\D", "", query)
        return typed, (("7" + typed[1:],) if typed.startswith("8") and len(typed) > 1 else ())
    return query, ()


# --- a contact passed on -------------------------------------------------------------------------------------


@requires("manager")
async def offer_shared(update: Update, context: Context, caller: Caller) -> None:
    """A manager shared or forwarded someone's contact (not their own): save that customer?"""
    message = update.effective_message
    if message is None or message.contact is None:
        return
    texts, svc, contact = caller.texts, caller.services, message.contact
    number = phones.destination(contact.phone_number)
    if number is None:
        await message.reply_text(texts("contact_offer_bad_number", value=echo(contact.phone_number)))
        return
    given = clean_name(f"{contact.first_name or ''} {contact.last_name or ''}")[: importing.MAX_NAME]
    if not given:
        await message.reply_text(texts("contact_offer_no_name", digits=number))
        return
    if (hidden := names.hidden_character(given)) is not None:
        await message.reply_text(texts("contact_offer_hidden_char", code=names.code_point(hidden), digits=number))
        return
    known, shown = svc.storage.contacts.get(number), format_for_people(number)
    if known is not None and known.name == given:
        await message.reply_text(texts("contact_offer_same", name=given, number=shown))
        return
    text = (
        texts("contact_offer", name=given, number=shown)
        if known is None
        else texts("contact_offer_rename", before=known.name, name=given, number=shown)
    )
    sent = await message.reply_text(text, reply_markup=keyboards.contact_offer(texts, number))
    now = int(time.time())
    svc.storage.kv.set(_offer_key(sent), {"number": number, "name": given}, now=now)


def _offer_key(message: Message) -> str:
    return f"{_OFFER}{message.chat.id}:{message.message_id}"


@requires("manager")
async def offer_decided(update: Update, context: Context, caller: Caller) -> None:
    """Save or skip, once: the offer is taken from storage by the first press."""
    save, skip = cd.pressed(update, cd.SaveShared), cd.pressed(update, cd.SkipShared)
    found = save or skip
    if found is None or not isinstance(found[0].message, Message):
        return
    press, payload = found
    message, texts, kv = found[0].message, caller.texts, caller.services.storage.kv
    offer = kv.get(_offer_key(message))
    if not isinstance(offer, dict) or offer.get("number") != payload.number or not kv.delete(_offer_key(message)):
        await press.answer(texts.plain("contact_offer_gone"), show_alert=True)
        return
    if isinstance(payload, cd.SaveShared):
        text = _named(caller, payload.number, str(offer["name"]), origin="shared")
    else:
        text = texts("contact_offer_skipped", number=format_for_people(payload.number))
    await press.answer()
    await press.edit_message_text(text)


# --- /import -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Read:
    parsed: importing.Parsed
    changes: list[tuple[str, str]]  # the rows that add or rename someone
    counts: ImportResult  # what applying ``changes`` would do, as the book is now


def _read(database: Path, filename: str, data: bytes) -> _Read:
    """In a worker thread: parse, and compare with the book through a connection of its own."""
    parsed = importing.parse(filename, data)
    known = known_names(database, (number for number, _ in parsed.rows))
    changes = [(number, given) for number, given in parsed.rows if known.get(number) != given]
    added = sum(1 for number, _ in changes if number not in known)
    return _Read(parsed, changes, ImportResult(added, len(changes) - added, len(parsed.rows) - len(changes)))


@requires("admin")
async def import_file(update: Update, context: Context, caller: Caller) -> None:
    """A document with the caption /import."""
    message = update.effective_message
    if message is None or message.document is None:
        return
    command = (message.caption or "").split(maxsplit=1)[0]
    addressed = command.partition("@")[2]
    if addressed and addressed.lower() != (context.bot.username or "").lower():
        return  # "/import@another_bot"
    await _import(update, context, caller, message.document)


@requires("admin")
async def import_command(update: Update, context: Context, caller: Caller) -> None:
    """/import alone says how; sent in reply to a file, imports that file."""
    message = update.effective_message
    replied = message.reply_to_message if message is not None else None
    if replied is not None and replied.document is not None:
        await _import(update, context, caller, replied.document)
        return
    await caller.reply(caller.texts("import_usage", **_limits()))


def _limits() -> dict[str, object]:
    return {
        "megabytes": IMPORT_MAX_BYTES // (1024 * 1024),
        "rows": importing.MAX_ROWS,
        "cells": importing.MAX_CELLS,
        "unpacked": importing.MAX_UNPACKED // (1024 * 1024),
        "seconds": importing.MAX_SECONDS,
    }


async def _import(update: Update, context: Context, caller: Caller, document: Document) -> None:
    texts, svc = caller.texts, caller.services
    filename = document.file_name or ""
    shown = echo(filename or "—")
    if importing.kind_of(filename) is None:
        await caller.reply(texts("import_format", file=shown))
        return
    if document.file_size is not None and document.file_size > IMPORT_MAX_BYTES:
        await caller.reply(texts("import_too_big", file=shown, **_limits()))
        return
    await show_typing(update, context)
    try:
        data = await _download(svc.http, await document.get_file())
    except (TelegramError, aiohttp.ClientError, TimeoutError) as error:
        # Only the kind: aiohttp's errors quote the file's URL, and the URL holds the bot's token.
        log.info("Import file not downloaded: %s", type(error).__name__)
        await caller.reply(texts("import_download_failed", file=shown))
        return
    if data is None:
        await caller.reply(texts("import_too_big", file=shown, **_limits()))
        return
    try:
        read = await asyncio.to_thread(_read, svc.settings.database_path, filename, data)
    except importing.Unusable as error:
        await caller.reply(texts(f"import_{error.reason}", file=shown, **_limits()))
        return
    if not read.changes:
        await caller.reply(render.preview(filename, read.parsed, read.counts, texts, final=True))
        return
    chat = update.effective_chat
    assert chat is not None
    by, path = caller.user.telegram_id, svc.settings.database_path
    staged = await asyncio.to_thread(stage_import, path, by, chat.id, read.changes, int(time.time()))
    sent = await caller.reply(
        render.preview(filename, read.parsed, read.counts, texts, final=False),
        reply_markup=keyboards.import_decision(texts, staged.id, len(read.changes)),
    )
    svc.storage.contacts.imports.shown(staged.id, sent.message_id)


async def _download(session: aiohttp.ClientSession, file: File) -> bytes | None:
    """The file, or None past IMPORT_MAX_BYTES: by the size getFile states, then by the bytes that come, read no
    further (PTB's own download would hold the whole file, however big, before anyone could look)."""
    if file.file_size is not None and file.file_size > IMPORT_MAX_BYTES:
        return None
    if not file.file_path:
        raise aiohttp.InvalidURL("getFile gave no file_path")
    timeout = aiohttp.ClientTimeout(total=IMPORT_DOWNLOAD_TIMEOUT)
    async with session.get(file.file_path, timeout=timeout, allow_redirects=False) as response:
        if response.status != 200:  # a redirect (not followed) or a part: its body is not the file
            raise aiohttp.ClientResponseError(response.request_info, (), status=response.status)
        if (response.content_length or 0) > IMPORT_MAX_BYTES:
            return None
        data = bytearray()
        async for chunk in response.content.iter_chunked(64 * 1024):
            data += chunk
            if len(data) > IMPORT_MAX_BYTES:
                return None
        return bytes(data)


@requires("admin")
async def import_decided(update: Update, context: Context, caller: Caller) -> None:
    """Apply or cancel a preview: only its admin, only on its message, only once."""
    confirm, cancel = cd.pressed(update, cd.ImportApply), cd.pressed(update, cd.ImportCancel)
    found = confirm or cancel
    if found is None:
        return
    press, payload = found
    svc, texts, now = caller.services, caller.texts, int(time.time())
    imports = svc.storage.contacts.imports
    staged, message = imports.get(payload.import_id), press.message
    if (
        staged is None
        or not isinstance(message, Message)
        or (message.chat.id, message.message_id) != (staged.chat_id, staged.message_id)
    ):
        await press.answer(texts.plain("button_foreign"), show_alert=True)
        return
    if staged.by != caller.user.telegram_id:
        await press.answer(texts.plain("import_not_yours"), show_alert=True)
        return
    if staged.state != "previewed":
        await press.answer(texts.plain(f"import_already_{staged.state}"), show_alert=True)
        return
    if isinstance(payload, cd.ImportCancel) or now - staged.created_at > PREVIEW_TTL:
        expired = isinstance(payload, cd.ImportApply)
        if not imports.cancel(staged.id, now):
            await press.answer(texts.plain("import_already_applied"), show_alert=True)
            return
        outcome = texts("import_expired" if expired else "import_cancelled")
    else:
        # One transaction writes the book and marks the import applied, in a worker thread (20,000 rows: a few
        # hundred milliseconds nobody else should wait for); a second press finds it applied.
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(None, apply_import, svc.settings.database_path, staged.id, now)
        if result is None:
            await press.answer(texts.plain("import_already_applied"), show_alert=True)
            return
        svc.storage.audit.log(
            "contact.import",
            actor_id=caller.user.telegram_id,
            target=str(staged.id),
            details={"added": result.added, "updated": result.updated, "unchanged": result.unchanged},
            now=now,
        )
        outcome = texts("import_applied", added=result.added, renamed=result.updated)
    await press.answer()
    # The preview stays, its question replaced by what became of it.
    preview = message.text_html.rsplit("\n\n", 1)[0]
    await press.edit_message_text(Html(preview + "\n\n" + outcome))


async def tidy(context: Context) -> None:
    """The hourly job: what nobody can press any more is forgotten (offers, card presses past their pause, undos and
    previews past their day), so the database does not grow with them."""
    storage, now = context.services.storage, int(time.time())
    storage.kv.forget_older(_OFFER, now - OFFER_TTL)
    storage.kv.forget_older(_CARD_CALL, now - CALL_PAUSE)
    storage.kv.forget_older(_REMOVED, now - UNDO_TTL)
    storage.contacts.imports.expire(now - PREVIEW_TTL, now)
