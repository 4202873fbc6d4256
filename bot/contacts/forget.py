"""/forget <number>: an admin forgets a customer on their request (152-ФЗ, GDPR), in a private chat, once they have
seen what goes and pressed Forget. ``storage.erasure`` does the forgetting, in a worker thread; the answer says what
stays outside the bot (messages already posted, New-Tel's own records, earlier backups)."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from telegram import Message, Update
from telegram.error import TelegramError

from bot import callback_data as cd
from bot import keyboards
from bot.access.checks import Caller, requires
from bot.context import Context
from bot.formatting import format_for_people
from bot.texts import Html, Texts, echo
from newtel import phones
from storage import DatabaseBusy
from storage.erasure import Footprint, company_side, erase, footprint

log = logging.getLogger(__name__)

CONFIRM_WITHIN = 15 * 60  # seconds the question may be answered: later, what it counted may be out of date


@requires("admin", private_only=True)
async def forget(update: Update, context: Context, caller: Caller) -> None:
    texts, svc = caller.texts, caller.services
    typed = " ".join(context.args or [])
    if not typed:
        await caller.reply(texts("forget_usage"))
        return
    # The customer is the number alone: an extension ("доб. 5") is no part of what New-Tel records.
    number = phones.destination(phones.split_extension(typed)[0])
    if number is None:
        await caller.reply(texts("bad_number", value=echo(typed)))
        return
    side = await asyncio.to_thread(company_side, svc.settings.database_path, number)
    if side is not None:  # not a customer's: the company's own records are not /forget's to rewrite
        shown = format_for_people(number)
        if side.staff is None:
            await caller.reply(texts("forget_company_number", number=shown))
        else:
            await caller.reply(texts("forget_staff_number", number=shown, name=side.staff))
        return
    found = await asyncio.to_thread(footprint, svc.settings.database_path, number)
    if found.empty:
        await caller.reply(texts("forget_nothing", number=format_for_people(number)))
        return
    question = _question(found, number, texts, svc.settings.zone)
    await caller.reply(question, reply_markup=keyboards.forget_decision(texts, number))


def _question(found: Footprint, number: str, texts: Texts, zone: ZoneInfo) -> Html:
    """What goes, for the admin to see before pressing Forget."""
    lines = [texts("forget_question", number=format_for_people(number))]
    if found.name is not None:
        lines.append(texts("forget_name", name=found.name))
    if found.noted:
        lines.append(texts("forget_note"))
    if found.first_at is not None and found.last_at is not None:
        first, last = (datetime.fromtimestamp(at, zone).strftime("%d.%m.%Y") for at in (found.first_at, found.last_at))
        lines.append(texts("forget_calls", count=found.calls, period=first if first == last else f"{first} – {last}"))
    else:
        lines.append(texts("forget_no_calls"))
    if found.recordings:
        lines.append(texts("forget_recordings", count=found.recordings))
    if found.alerts:
        lines.append(texts("forget_alerts", count=found.alerts, open=found.open_alerts))
    if found.reminders:
        lines.append(texts("forget_reminders", count=found.reminders))
    if found.mentions:
        lines.append(texts("forget_mentions", count=found.mentions))
    return Html("\n".join([*lines, "", texts("forget_warning")]))


@requires("admin", private_only=True)
async def forget_decided(update: Update, context: Context, caller: Caller) -> None:
    """Forget or Cancel, pressed on the question (``checks.refuse_foreign_press`` has seen it is one of its buttons)."""
    confirm, cancel = cd.pressed(update, cd.Forget), cd.pressed(update, cd.ForgetCancel)
    found = confirm or cancel
    if found is None or not isinstance(found[0].message, Message):
        return
    press, payload = found
    message, texts, svc = found[0].message, caller.texts, caller.services
    if isinstance(payload, cd.ForgetCancel):
        await press.answer()
        await press.edit_message_text(texts("forget_cancelled"))
        return
    if time.time() - message.date.timestamp() > CONFIRM_WITHIN:
        await press.answer()
        await press.edit_message_text(texts("forget_expired", minutes=CONFIRM_WITHIN // 60))
        return
    # Answered first: the busiest customer takes seconds, and Telegram does not wait that long for a press's answer.
    await press.answer(texts.plain("forget_working"))
    try:
        gone = await asyncio.to_thread(
            erase, svc.settings.database_path, payload.number, by=caller.user.telegram_id, now=int(time.time())
        )
    except DatabaseBusy:  # what was forgotten by then stays so; the question keeps its buttons for another press
        await message.reply_text(texts("forget_busy"))
        return
    if gone.empty:  # forgotten already (a second press, another admin)
        await press.edit_message_text(texts("forget_nothing_left"))
        return
    log.info("A customer was forgotten by %s (%d calls)", caller.user.telegram_id, gone.calls)
    # The boards of the chats that listed the customer are written anew now, not at the next miss.
    context.bot_data.need_poller().board.kick(context.bot)
    done = texts(
        "forget_done", calls=gone.calls, recordings=gone.recordings, alerts=gone.alerts, reminders=gone.reminders,
        mentions=gone.mentions, name=texts("forget_done_name") if gone.name is not None else Html(""),
        note=texts("forget_done_note") if gone.noted else Html(""),
    )  # fmt: skip
    try:
        await press.edit_message_text(Html(done + "\n\n" + texts("forget_done_elsewhere")))
    except TelegramError as error:  # forgotten all the same
        log.info("The answer to /forget not shown: %s", error)
