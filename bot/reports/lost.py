"""/lost [period]: the customers nobody got back to and who never called again once the deadline passed
(``storage.reports``: in a subscribed chat its own, else the company's), the most attempts first; one message, cut
under Telegram's limit with "…and N more". It says how many misses are not lost although nobody called back: closed
by hand, or still within the deadline."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from telegram import Update
from telegram.constants import ChatAction

from bot.access.checks import MESSAGE_LIMIT, Caller, requires
from bot.context import Context
from bot.formatting import format_for_people, moment
from bot.reports.caption import period_label, visible_length, wait
from bot.reports.commands import Standards, asked_period, off_the_loop, showing
from bot.texts import Html, Texts, echo
from storage import reports

DEFAULT_PERIOD = "7d"  # a lead lost today may still call again: a week is the useful look back
NAME_LIMIT = 60  # characters of a customer's name from the book


@dataclass(frozen=True, slots=True)
class Lost:
    customers: list[reports.LostCustomer]
    done: int  # episodes nobody called back, closed by hand
    open: int  # episodes nobody called back yet, still within their deadline


def render_lost(found: Lost, texts: Texts, zone: ZoneInfo, now: datetime, period: str, deadline: Html) -> Html:
    """The list as one message: a line per customer, as many as fit, then "…and N more"."""
    parts = [texts("lost_done", count=found.done)] if found.done else []
    parts += [texts("lost_open", count=found.open)] if found.open else []
    note = "\n" + texts("lost_not_counted", parts=Html(", ".join(parts))) if parts else ""
    if not found.customers:
        return Html(texts("lost_none", period=period) + note)
    text = Html(texts("lost_title", period=period, count=len(found.customers), deadline=deadline) + note)
    customers = found.customers
    for shown, customer in enumerate(customers):
        line = texts(
            "lost_line",
            place=shown + 1,
            customer=format_for_people(customer.customer),
            name=" · " + echo(customer.name, NAME_LIMIT) if customer.name else "",
            attempts=customer.attempts,
            last=moment(datetime.fromtimestamp(customer.last_at, UTC), zone, texts.lang, now),
        )
        rest = len(customers) - shown - 1
        more = "\n" + texts("and_more", count=rest) if rest else ""
        # Room is kept for the "…and N more" line that would follow if the next customer did not fit.
        if visible_length(text + "\n" + line + more) > MESSAGE_LIMIT:
            return Html(text + "\n" + texts("and_more", count=len(customers) - shown))
        text = Html(text + "\n" + line)
    return text


def _lost(database: Path, start: int, end: int, numbers: Sequence[str], standards: Standards, zone: ZoneInfo) -> Lost:
    open_after = standards.open_after(int(time.time()), zone)
    with reports.reading(database) as conn:
        found = reports.episodes(conn, start, end, numbers, open_after=open_after)
        outcomes = [episode.outcome for episode in found]
        return Lost(reports.lost_of(conn, found), outcomes.count("done"), outcomes.count("open"))


@requires("manager")
async def lost_command(update: Update, context: Context, caller: Caller) -> None:
    chat = update.effective_chat
    assert chat is not None
    if (asked := await asked_period(caller, context.args, DEFAULT_PERIOD)) is None:
        return
    _, start, end = asked
    svc = caller.services
    zone = svc.settings.zone
    # In a subscribed chat, its numbers by its deadline (and hours), as its alerts and reports are (and no other
    # department's customers shown to it); elsewhere the company's.
    here = svc.storage.chats.get(chat.id)
    ours = here if here is not None and here.subscribed else None
    standards, numbers = Standards.of(svc.settings, ours), ours.numbers if ours is not None else ()
    async with showing(context.bot, chat.id, ChatAction.TYPING):
        found = await off_the_loop(
            svc.report_workers, _lost, svc.settings.database_path, start, end, numbers, standards, zone
        )
    label = period_label(datetime.fromtimestamp(start, zone), datetime.fromtimestamp(end, zone))
    deadline = wait(standards.lost_after, caller.texts)
    await caller.reply(render_lost(found, caller.texts, zone, datetime.now(UTC), label, deadline))
