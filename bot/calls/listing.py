"""The /calls list: which calls, in what order, cut into pages that fit one Telegram message."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardMarkup

from bot import arguments, keyboards
from bot.calls import periods
from bot.formatting import duration, format_for_people, moment
from bot.texts import Html, Texts
from newtel import Call, phones

KINDS = ("all", "missed", "in", "out", "active")
KIND_WORDS = {
    "missed": "missed", "пропущенные": "missed", "пропущенные звонки": "missed",
    "in": "in", "входящие": "in", "incoming": "in",
    "out": "out", "исходящие": "out", "outgoing": "out",
    "active": "active", "активные": "active", "now": "active", "сейчас": "active",
    "all": "all", "все": "all",
}  # fmt: skip
DEFAULT_LIMIT, MAX_LIMIT = 10, 100
ROWS_PER_PAGE = 10
MAX_TEXT = 2400  # Telegram allows 4096; the margin covers the header and a story line (≤ 120) under each row


@dataclass(frozen=True)
class Query:
    kind: str = "all"
    limit: int = DEFAULT_LIMIT
    number: str = ""  # a customer's whole history (from the archive) instead of New-Tel's last 24 hours
    period: str = ""  # e.g. "7d" or "25.11-28.11" (``periods.canonical``): those days, from the archive
    # The calls started by then (Unix seconds; 0: up to now): the list as its first page showed it, so that its next
    # pages do not shift by the calls that came meanwhile.
    until: int = 0

    @property
    def from_archive(self) -> bool:
        return bool(self.number or self.period)


def parse_query(args: Sequence[str]) -> Query | None:
    """``[missed|in|out|active] [period] [N | number]`` in any order, the number as people type it; None when
    something else was given."""
    args = periods.words(list(args))
    found = [periods.canonical(arg) for arg in args]
    period = next((p for p in found if p is not None), "")
    if sum(p is not None for p in found) > 1:
        return None
    args = [arg for arg, p in zip(args, found, strict=True) if p is None]
    rest = [arg for arg in args if arg.lower() not in KIND_WORDS]
    # A history is searched by the number alone: an extension ("доб. 5") is no part of what New-Tel records.
    if rest and (number := phones.destination(phones.split_extension(" ".join(rest))[0])) is not None:
        kinds = [KIND_WORDS[arg.lower()] for arg in args if arg.lower() in KIND_WORDS]
        return Query(kinds[-1] if kinds else "all", MAX_LIMIT, number, period)
    kind, limit = "all", MAX_LIMIT if period else DEFAULT_LIMIT
    for arg in args:
        word = arg.lower()
        if (count := arguments.whole_number(word, 1, MAX_LIMIT)) is not None:
            limit = count
        elif word in KIND_WORDS:
            kind = KIND_WORDS[word]
        else:
            return None
    return Query(kind, limit, period=period)


def select(calls: Sequence[Call], query: Query) -> list[Call]:
    """Newest first, filtered by kind, started by ``until``, at most ``limit``."""
    chosen = [
        call
        for call in calls
        if (not query.until or call.start_time.timestamp() <= query.until)
        and (
            query.kind == "all"
            or (query.kind == "missed" and call.is_missed)
            or (query.kind == "active" and call.active)
            or (query.kind == "in" and call.is_inbound)
            or (query.kind == "out" and call.is_outbound)
        )
    ]
    chosen.sort(key=lambda call: call.start_time, reverse=True)
    return chosen[: query.limit]


def row(index: int, call: Call, texts: Texts, zone: ZoneInfo, now: datetime) -> Html:
    if call.active:
        icon, state = "🔴", texts("call_active")
    elif call.is_missed:
        icon, state = "❌", texts("call_missed", ring=duration(call.ring_seconds))
    elif call.is_answered:
        icon, state = ("⬅️" if call.is_inbound else "➡️"), Html(duration(call.talk_seconds))
    else:
        icon, state = "➡️", texts("call_not_answered")
    return texts(
        "calls_row",
        index=index,
        when=moment(call.start_time, zone, texts.lang, now),
        icon=icon,
        caller=format_for_people(call.clid),
        dialled=format_for_people(call.dnid),
        state=state,
    )


def pages(rows: Sequence[Html]) -> list[list[int]]:
    """Row indexes per page: at most ROWS_PER_PAGE rows and MAX_TEXT characters each."""
    result: list[list[int]] = []
    current: list[int] = []
    size = 0
    for index, text in enumerate(rows):
        if current and (len(current) >= ROWS_PER_PAGE or size + len(text) + 1 > MAX_TEXT):
            result.append(current)
            current, size = [], 0
        current.append(index)
        size += len(text) + 1
    if current:
        result.append(current)
    return result


def render(
    calls: Sequence[Call],
    query: Query,
    page: int,
    texts: Texts,
    zone: ZoneInfo,
    now: datetime,
    story: Callable[[Call], Html] | None = None,
    about: Html | None = None,
) -> tuple[Html, InlineKeyboardMarkup | None]:
    """The text of one page and its ‹ › buttons; ``story`` gives the shown rows the caller's story (a second
    line, asked only for the rows of this page), ``about`` is a line under the header (a customer's list)."""
    if not calls:
        return texts("calls_empty", kind=texts(f"kind_{query.kind}")), None
    rows = [row(number, call, texts, zone, now) for number, call in enumerate(calls, start=1)]
    layout = pages(rows)
    page = min(max(page, 0), len(layout) - 1)
    shown = layout[page]
    header = texts(
        "calls_header", kind=texts(f"kind_{query.kind}"), first=shown[0] + 1, last=shown[-1] + 1, total=len(calls)
    )
    if about:
        header = Html(header + "\n" + about)
    told = {i: story(calls[i]) if story is not None else "" for i in shown}
    lines = [Html(rows[i] + "\n      " + told[i]) if told[i] else rows[i] for i in shown]
    text = Html(header + "\n" + "\n".join(lines) + "\n" + texts("calls_footer"))
    return text, keyboards.calls_pages(texts, query, page, len(layout))
