"""/lost [period]: the customers nobody got back to and who never called again (``storage.reports.lost``), the most
attempts first; one message, cut under Telegram's limit with "…and N more"."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from telegram import Update
from telegram.constants import ChatAction

from bot.access.checks import MESSAGE_LIMIT, Caller, requires
from bot.context import Context
from bot.formatting import format_for_people, moment
from bot.reports.caption import period_label, visible_length
from bot.reports.commands import asked_period, off_the_loop, showing
from bot.texts import Html, Texts, echo
from storage import reports

DEFAULT_PERIOD = "7d"  # a lead lost today may still call again: a week is the useful look back
NAME_LIMIT = 60  # characters of a customer's name from the book


def render_lost(
    found: Sequence[reports.LostCustomer], texts: Texts, zone: ZoneInfo, now: datetime, period: str
) -> Html:
    """The list as one message: a line per customer, as many as fit, then "…and N more"."""
    if not found:
        return texts("lost_none", period=period)
    text = texts("lost_title", period=period, count=len(found))
    for shown, customer in enumerate(found):
        line = texts(
            "lost_line",
            place=shown + 1,
            customer=format_for_people(customer.customer),
            name=" · " + echo(customer.name, NAME_LIMIT) if customer.name else "",
            attempts=customer.attempts,
            last=moment(datetime.fromtimestamp(customer.last_at, UTC), zone, texts.lang, now),
        )
        rest = len(found) - shown - 1
        more = "\n" + texts("and_more", count=rest) if rest else ""
        # Room is kept for the "…and N more" line that would follow if the next customer did not fit.
        if visible_length(text + "\n" + line + more) > MESSAGE_LIMIT:
            return Html(text + "\n" + texts("and_more", count=len(found) - shown))
        text = Html(text + "\n" + line)
    return text


def _lost(database: Path, start: int, end: int) -> list[reports.LostCustomer]:
    with reports.reading(database) as conn:
        return reports.lost(conn, start, end)


@requires("manager")
async def lost_command(update: Update, context: Context, caller: Caller) -> None:
    chat = update.effective_chat
    assert chat is not None
    if (asked := await asked_period(caller, context.args, DEFAULT_PERIOD)) is None:
        return
    _, start, end = asked
    svc = caller.services
    zone = svc.settings.zone
    async with showing(context, chat.id, ChatAction.TYPING):
        found = await off_the_loop(svc.report_workers, _lost, svc.settings.database_path, start, end)
    label = period_label(datetime.fromtimestamp(start, zone), datetime.fromtimestamp(end, zone))
    await caller.reply(render_lost(found, caller.texts, zone, datetime.now(UTC), label))
