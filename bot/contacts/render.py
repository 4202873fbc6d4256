"""The customer book as people see it: a customer's card, a list of customers, an import's preview (their
buttons are in ``bot.keyboards``). Pure: every state is checked without Telegram."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.contacts.importing import MAX_NAME, Parsed
from bot.formatting import duration, format_for_people, moment
from bot.texts import Html, Texts, echo
from storage import Contact, CustomerSummary, ImportResult

BAD_ROWS_SHOWN = 20  # unreadable lines listed in a preview; the rest are counted
FILENAME_SHOWN = 60  # characters of the file's name a preview quotes


def card(
    number: str,
    contact: Contact | None,
    summary: CustomerSummary,
    alert_open: bool,
    texts: Texts,
    zone: ZoneInfo,
    now: datetime,
    days: int,
) -> Html:
    """Who the customer is and what the archive knows of them (``summary.recent``: its calls of the last ``days``)."""
    shown = format_for_people(number)
    lines = [
        texts("card_title", name=contact.name, number=shown)
        if contact is not None
        else texts("card_title_unnamed", number=shown, digits=number)
    ]
    if summary.is_new:
        lines.append(texts("card_no_calls"))
    else:
        lines.append(
            texts(
                "card_calls", calls_in=summary.calls_in, calls_out=summary.calls_out, recent=summary.recent, days=days
            )
        )
        talk = summary.last_talk
        if talk is None:
            lines.append(texts("card_no_talk"))
        else:
            lines.append(
                texts(
                    "card_last_talk",
                    when=moment(datetime.fromtimestamp(talk.started_at, UTC), zone, texts.lang, now),
                    direction=texts(f"card_direction_{talk.direction}"),
                    member=talk.member_name or talk.member or texts("card_member_unknown"),
                    talk=duration(talk.talk_seconds),
                )
            )
    if summary.unreturned or alert_open:
        misses = texts("card_misses", count=summary.unreturned)
        lines.append(Html(misses + texts("card_alert_open")) if alert_open else misses)
    return Html("\n".join(lines))


def listing(found: Sequence[Contact], texts: Texts, *, query: str, limit: int) -> Html:
    """Customers found by ``query`` ("" for the latest named); ``found`` may hold one more than ``limit``."""
    if not found:
        return texts("contacts_none", query=query) if query else texts("contacts_empty")
    shown = found[:limit]
    lines = [
        texts("contacts_found", query=query, count=len(shown)) if query else texts("contacts_recent", count=len(shown))
    ]
    lines += [texts("contacts_row", name=c.name, number=format_for_people(c.number)) for c in shown]
    if len(found) > limit:
        lines.append(texts("contacts_more", limit=limit))
    lines.append(texts("contacts_footer"))
    return Html("\n".join(lines))


def preview(filename: str, parsed: Parsed, counts: ImportResult, texts: Texts, *, final: bool) -> Html:
    """What an import would change (``counts``: what applying it would write), and the lines it could not read
    (the first BAD_ROWS_SHOWN, the rest counted): under Telegram's 4096 characters whatever the file. ``final``:
    nothing to confirm (no button)."""
    lines: list[str] = [texts("import_preview", file=echo(filename, FILENAME_SHOWN), lines=parsed.lines)]
    lines.append(texts("import_counts", added=counts.added, renamed=counts.updated, unchanged=counts.unchanged))
    if parsed.repeated:
        lines.append(texts("import_repeated", count=parsed.repeated))
    if parsed.extensions:
        lines.append(texts("import_extensions", count=len(parsed.extensions)))
        for kept in parsed.extensions[:BAD_ROWS_SHOWN]:
            number = format_for_people(kept.number)
            lines.append(texts("import_extension_row", line=kept.line, number=number, extension=kept.extension))
        if len(parsed.extensions) > BAD_ROWS_SHOWN:
            lines.append(texts("import_more_bad", count=len(parsed.extensions) - BAD_ROWS_SHOWN))
    bad = parsed.unreadable
    if bad:
        lines.append(texts("import_unreadable", count=len(bad)))
        for row in bad[:BAD_ROWS_SHOWN]:
            reason = texts(f"import_reason_{row.reason}", limit=MAX_NAME)
            value = texts("import_bad_value", value=row.value) if row.value else ""
            lines.append(texts("import_bad_row", line=row.line, reason=reason, value=Html(value)))
        if len(bad) > BAD_ROWS_SHOWN:
            lines.append(texts("import_more_bad", count=len(bad) - BAD_ROWS_SHOWN))
    lines.append("")
    lines.append(texts("import_nothing") if final else texts("import_confirm", count=counts.added + counts.updated))
    return Html("\n".join(lines))
