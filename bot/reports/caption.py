"""A period's figures in words: the photo's caption of ``/report`` and the digests."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta

from bot.formatting import duration
from bot.reports.figures import Figures
from bot.texts import Html, Texts

# Telegram's is 1024 characters of a caption once its tags are parsed (counted in UTF-16: an emoji takes two).
CAPTION_LIMIT = 1000


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


def caption(figures: Figures, texts: Texts, title: Html) -> Html:
    """The title, the period's totals and one line per member, within Telegram's 1024 characters."""
    share = f" ({figures.missed_percent}%)" if figures.missed_percent is not None else ""
    median = figures.callback_median_seconds
    lines: list[str] = [
        title,
        texts(
            "report_inbound",
            inbound=figures.inbound,
            answered=figures.answered,
            missed=figures.missed,
            share=share,
            customers=customers(figures.missed_customers, texts),
        ),
        texts(
            "report_outcomes",
            called_back=figures.called_back,
            median=texts("report_median", wait=wait(median, texts)) if median is not None else "",
            answered_later=figures.answered_later,
            lost=figures.lost,
            unresolved=texts("report_unresolved", count=figures.unresolved) if figures.unresolved else "",
        ),
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
        more = "\n" + texts("report_more_members", count=rest) if rest else ""
        # Room is kept for the "…and N more" line that would follow if the next member did not fit.
        if visible_length(text + "\n" + line + more) > CAPTION_LIMIT:
            text += "\n" + texts("report_more_members", count=len(people) - shown)
            break
        text += "\n" + line
    return Html(text)
