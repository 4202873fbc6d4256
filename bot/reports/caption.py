"""A period's figures in words: the photo's caption of ``/report`` and the digests."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta

from bot.formatting import duration, format_for_people
from bot.reports.figures import Figures
from bot.texts import Html, Texts, echo

# Telegram's is 1024 characters of a caption once its tags are parsed (counted in UTF-16: an emoji takes two).
CAPTION_LIMIT = 1000
TOP_CALLBACKS = 5  # members named in the "who called back" line; the rest are "…and N more"
TOP_LOST = 3  # lost customers named in the weekly digest
NAME_LIMIT = 30  # characters of a name in those lines: they must leave the caption room for the members


def visible_length(text: str) -> int:
    """How long an HTML caption is as shown, in UTF-16 code units (what Telegram's limit counts)."""
    return len(html.unescape(re.sub(r"<[^>]+>", "", text)).encode("utf-16-le")) // 2


def period_label(start: datetime, end: datetime) -> str:
    """01.12.2026 for a day, 25.11–01.12.2026 for longer (both years when they differ)."""
    last = end - timedelta(seconds=1)
    if start.date() == last.date():
        return start.strftime("%d.%m.%Y")
    first = start.strftime("%d.%m" if start.year == last.year else "%d.%m.%Y")
    return f"{first}–{last.strftime('%d.%m.%Y')}"


def wait(seconds: int, texts: Texts) -> Html:
    """How long a customer waited, in round words: 40 с, 7 мин, 1 ч 5 мин."""
    if seconds < 60:
        return texts("report_seconds", count=seconds)
    minutes = round(seconds / 60)
    if minutes < 60:
        return texts("report_minutes", count=minutes)
    return texts("report_hours", hours=minutes // 60, minutes=minutes % 60)


def customers(count: int, texts: Texts) -> Html:
    """ "от 1 клиента", "от 5 клиентов": Russian wants the singular after 1, 21, 31…; English after 1 only."""
    one = count % 10 == 1 and count % 100 != 11 if texts.lang == "ru" else count == 1
    return texts("report_customers_one" if one else "report_customers_many", count=count)


def _settled_lines(figures: Figures, texts: Texts) -> list[Html]:
    """Within the deadline, who called back how many, and (when asked for) the lost customers: a line each, of
    bounded length (at most a few names, each cut short)."""
    lines: list[Html] = []
    percent = figures.within_deadline_percent
    if percent is not None:
        lines.append(
            texts(
                "report_within_deadline",
                deadline=wait(figures.deadline_seconds, texts),
                within=figures.within_deadline,
                episodes=figures.episodes,
                percent=percent,
            )
        )
    if figures.callbacks:
        shown = figures.callbacks[:TOP_CALLBACKS]
        who = ", ".join(
            texts(
                "report_callbacks_member",
                name=echo(member.name, NAME_LIMIT) if member.name else texts.plain("report_member_unknown"),
                count=member.called_back,
            )
            for member in shown
        )
        rest = len(figures.callbacks) - len(shown)
        more = " " + texts("and_more", count=rest) if rest else ""
        lines.append(texts("report_callbacks", members=Html(who + more)))
    if figures.lost_customers:
        shown_lost = figures.lost_customers[:TOP_LOST]
        named = ", ".join(
            texts(
                "report_lost_customer",
                customer=format_for_people(lost.customer),
                name=" " + echo(lost.name, NAME_LIMIT) if lost.name else "",
                attempts=lost.attempts,
            )
            for lost in shown_lost
        )
        rest = len(figures.lost_customers) - len(shown_lost)
        more = " " + texts("and_more", count=rest) if rest else ""
        lines.append(texts("report_lost", count=len(figures.lost_customers), customers=Html(named + more)))
    return lines


def caption(figures: Figures, texts: Texts, title: Html) -> Html:
    """The title, the period's totals and one line per member, within Telegram's 1024 characters."""
    share = f" ({figures.missed_percent}%)" if figures.missed_percent is not None else ""
    median, p90 = figures.callback_median_seconds, figures.callback_p90_seconds
    waits = ""
    if median is not None and p90 is not None:
        waits = texts("report_median_p90", wait=wait(median, texts), p90=wait(p90, texts))
    short = texts("report_short", seconds=figures.short_under, count=figures.short) if figures.short_under else ""
    lines: list[str] = [
        title,
        texts(
            "report_inbound",
            inbound=figures.inbound,
            answered=figures.answered,
            missed=figures.missed,
            share=share,
            customers=customers(figures.missed_customers, texts),
        )
        + short,
        texts(
            "report_outcomes",
            called_back=figures.called_back,
            median=waits,
            answered_later=figures.answered_later,
            lost=figures.lost,
            unresolved=texts("report_unresolved", count=figures.unresolved) if figures.unresolved else "",
            done=texts("report_done", count=figures.done) if figures.done else "",
            open=texts("report_open", count=figures.open) if figures.open else "",
        ),
        *_settled_lines(figures, texts),
        texts("report_outbound", outbound=figures.outbound, talk=duration(figures.talk_seconds)),
    ]
    people = [
        texts(
            "report_member",
            name=member.name or texts.plain("report_member_unknown"),
            answered=member.answered,
            placed=member.placed,
            talk=duration(member.talk_seconds),
        )
        for member in figures.members
    ]
    if people:
        lines.append("")
    text = "\n".join(lines)
    for shown, line in enumerate(people):
        rest = len(people) - shown - 1
        more = "\n" + texts("and_more", count=rest) if rest else ""
        # Room is kept for the "…and N more" line that would follow if the next member did not fit.
        if visible_length(text + "\n" + line + more) > CAPTION_LIMIT:
            text += "\n" + texts("and_more", count=len(people) - shown)
            break
        text += "\n" + line
    return Html(text)
