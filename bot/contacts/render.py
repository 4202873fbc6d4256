"""The customer book as people see it: a customer's card, a list of customers, an import's preview, and their
buttons. Pure: every state is checked without Telegram."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import callback_data as cd
from bot.contacts.importing import MAX_NAME, Parsed
from bot.formatting import duration, format_for_people, moment
from bot.texts import Html, Texts
from storage import Contact, CustomerSummary

BAD_ROWS_SHOWN = 20  # unreadable lines listed in a preview; the rest are counted


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


def card_buttons(number: str, named: bool, asker: int, texts: Texts) -> InlineKeyboardMarkup:
    """Call (only for ``asker``, who opened the card), rename and remove; "name" for a number not in the book."""
    call = _button(texts.plain("button_card_call"), cd.CardCall(number, asker))
    if not named:
        return InlineKeyboardMarkup([[call, _button(texts.plain("button_card_name"), cd.CardRename(number))]])
    return InlineKeyboardMarkup(
        [
            [call, _button(texts.plain("button_card_rename"), cd.CardRename(number))],
            [_button(texts.plain("button_card_remove"), cd.CardRemove(number, asker))],
        ]
    )


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


def offer_buttons(number: str, texts: Texts) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                _button(texts.plain("button_save_contact"), cd.SaveShared(number)),
                _button(texts.plain("button_skip_contact"), cd.SkipShared(number)),
            ]
        ]
    )


def preview(
    filename: str, parsed: Parsed, added: int, renamed: int, unchanged: int, texts: Texts, *, final: bool
) -> Html:
    """What an import would change, and the lines it could not read (the first BAD_ROWS_SHOWN, the rest
    counted): under Telegram's 4096 characters whatever the file. ``final``: nothing to confirm (no button)."""
    lines: list[str] = [texts("import_preview", file=_echo(filename), lines=parsed.lines)]
    lines.append(texts("import_counts", added=added, renamed=renamed, unchanged=unchanged))
    if parsed.repeated:
        lines.append(texts("import_repeated", count=parsed.repeated))
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
    lines.append(texts("import_nothing") if final else texts("import_confirm", count=added + renamed))
    return Html("\n".join(lines))


def import_buttons(import_id: int, count: int, texts: Texts) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                _button(texts.plain("button_import_apply").format(count=count), cd.ImportApply(import_id)),
                _button(texts.plain("button_import_cancel"), cd.ImportCancel(import_id)),
            ]
        ]
    )


def _echo(filename: str) -> str:
    return filename if len(filename) <= 60 else filename[:59] + "…"


def _button(label: str, payload: cd.Payload) -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=cd.pack(payload))
