"""Every keyboard the bot shows, as pure functions of what it shows (the payloads are packed in ``callback_data``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, KeyboardButton, ReplyKeyboardMarkup, WebAppInfo

from bot import callback_data as cd
from bot.formatting import format_for_people
from bot.texts import Texts
from newtel import Member
from storage import Alert

if TYPE_CHECKING:
    from bot.calls.listing import Query


def _button(label: str, payload: cd.Payload) -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=cd.pack(payload))


def request_access(texts: Texts) -> InlineKeyboardMarkup:
    """A stranger's /start: ask the admins."""
    return InlineKeyboardMarkup([[_button(texts.plain("button_request_access"), cd.RequestAccess())]])


def open_app(texts: Texts, url: str) -> InlineKeyboardMarkup:
    """The Mini App, opened in place (a private chat: Telegram allows no Web App button in a group)."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(texts.plain("open_app_button"), web_app=WebAppInfo(url))]])


def app_link(texts: Texts, link: str) -> InlineKeyboardMarkup:
    """The Mini App by its t.me link (a group's way in)."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(texts.plain("open_app_button"), url=link)]])


def share_contact(texts: Texts) -> ReplyKeyboardMarkup:
    """A stranger's /start: share one's own phone, so the admins can tell who it is."""
    return ReplyKeyboardMarkup(
        [[KeyboardButton(texts.plain("button_share_contact"), request_contact=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


def access_decision(texts: Texts, request_id: int, candidates: Iterable[Member]) -> InlineKeyboardMarkup:
    """An admin's view of a request: approve as one of the candidates, or reject."""
    rows = [
        [
            _button(
                texts.plain("approve_as").format(name=m.name, internal=m.internal_number or "—"),
                cd.Approve(request_id, str(m.id)),
            )
        ]
        for m in candidates
    ]
    rows.append([_button(texts.plain("reject"), cd.Reject(request_id))])
    return InlineKeyboardMarkup(rows)


def calls_pages(texts: Texts, query: Query, page: int, pages: int) -> InlineKeyboardMarkup | None:
    """‹ › between the pages of a /calls list; None for a single page."""

    def to(other: int) -> cd.CallsPage:
        fixed = cd.CallsPage(query.kind, query.limit, other, query.number, query.period, query.until)
        # A 15-digit number with a range of dated days leaves no room for the time: its pages follow "now".
        return fixed if cd.fits(fixed) else dataclasses.replace(fixed, until=0)

    buttons = []
    if page > 0:
        buttons.append(_button(texts.plain("previous"), to(page - 1)))
    if page < pages - 1:
        buttons.append(_button(texts.plain("next"), to(page + 1)))
    return InlineKeyboardMarkup([buttons]) if buttons else None


def alert(alert: Alert, texts: Texts, app: str | None = None) -> InlineKeyboardMarkup | None:
    """Call back and Done, while the alert is open (while someone is calling back, nobody else is offered them);
    under them "I'll take it", or Release once someone has (everyone sees it, only the owner's press counts), and
    after a call back nobody answered, "Remind me". ``app``: the Mini App's t.me address (``miniapp_address``),
    opened on this miss by a last row's link (a URL: Telegram refuses web_app buttons in groups)."""
    if alert.state != "open":
        return None
    rows = [
        [_button(texts.plain("button_call_back"), cd.CallBack(alert.id)), _done(alert, texts)],
        _owner_row(alert, texts),
    ]
    if app is not None:
        opened_on = f"{app}?startapp={cd.startapp(alert.id)}"
        rows.append([InlineKeyboardButton(texts.plain("button_miss_in_app"), url=opened_on)])
    return InlineKeyboardMarkup(rows)


def miniapp_address(short_name: str, bot_username: str) -> str:
    """The Mini App's ``t.me/<bot>/<app>`` address (MINIAPP_SHORT_NAME: its short name at BotFather)."""
    return f"https://t.me/{bot_username}/{short_name}"


def summary(alerts: Sequence[Alert], texts: Texts) -> InlineKeyboardMarkup | None:
    """A business-hours summary's buttons: for each open alert, by its place in the list, Call back naming the
    customer on a row of its own (a number needs the width), then Done and the owner's buttons with that place."""
    rows: list[list[InlineKeyboardButton]] = []
    for place, shown in enumerate(alerts, start=1):
        if shown.state != "open":
            continue
        label = texts.plain("button_call_back_numbered").format(place=place, customer=format_for_people(shown.clid))
        rows.append([_button(label, cd.CallBack(shown.id))])
        # Numbered too: a row above that goes (called back, closed) moves these up under a finger about to tap.
        numbered = [_done(shown, texts), *_owner_row(shown, texts)]
        rows.append(
            [
                InlineKeyboardButton(
                    texts.plain("button_for_place").format(label=button.text, place=place),
                    callback_data=button.callback_data,
                )
                for button in numbered
            ]
        )
    return InlineKeyboardMarkup(rows) if rows else None


def _done(alert: Alert, texts: Texts) -> InlineKeyboardButton:
    return _button(texts.plain("button_done"), cd.Done(alert.id))


def _owner_row(alert: Alert, texts: Texts) -> list[InlineKeyboardButton]:
    owner = (
        _button(texts.plain("button_release"), cd.Release(alert.id))
        if alert.owner_id is not None
        else _button(texts.plain("button_take"), cd.Take(alert.id))
    )
    if alert.callback_outcome == "no answer":
        return [owner, _button(texts.plain("button_remind"), cd.RemindMe(alert.id))]
    return [owner]


def reminder(alert_id: int, texts: Texts) -> InlineKeyboardMarkup:
    """The presser's private reminder: Call back and Done, acting on the alert in its group."""
    return InlineKeyboardMarkup(
        [
            [
                _button(texts.plain("button_call_back"), cd.RemindCall(alert_id)),
                _button(texts.plain("button_done"), cd.RemindDone(alert_id)),
            ]
        ]
    )


# --- the customer book ---------------------------------------------------------------------------------------


def contact_card(texts: Texts, number: str, named: bool, asker: int, *, undo: bool = False) -> InlineKeyboardMarkup:
    """Call (only for ``asker``, who opened the card), rename and remove; "name" for a number not in the book, and
    with ``undo`` (the card a removal left) a way to put the name back."""
    call = _button(texts.plain("button_card_call"), cd.CardCall(number, asker))
    if not named:
        rows = [[call, _button(texts.plain("button_card_name"), cd.CardRename(number))]]
        if undo:
            rows.append([_button(texts.plain("button_card_restore"), cd.CardRestore(number, asker))])
        return InlineKeyboardMarkup(rows)
    return InlineKeyboardMarkup(
        [
            [call, _button(texts.plain("button_card_rename"), cd.CardRename(number))],
            [_button(texts.plain("button_card_remove"), cd.CardRemove(number, asker))],
        ]
    )


def call_confirm(texts: Texts, number: str, asker: int) -> InlineKeyboardMarkup:
    """``/call`` of a number abroad: the call, placed by the card's call button once ``asker`` presses it."""
    return InlineKeyboardMarkup([[_button(texts.plain("button_card_call"), cd.CardCall(number, asker))]])


def contact_offer(texts: Texts, number: str) -> InlineKeyboardMarkup:
    """A contact a manager passed on: save it in the book, or not."""
    return InlineKeyboardMarkup(
        [
            [
                _button(texts.plain("button_save_contact"), cd.SaveShared(number)),
                _button(texts.plain("button_skip_contact"), cd.SkipShared(number)),
            ]
        ]
    )


def forget_decision(texts: Texts, number: str) -> InlineKeyboardMarkup:
    """/forget's question: forget the customer, or not."""
    return InlineKeyboardMarkup(
        [
            [
                _button(texts.plain("button_forget"), cd.Forget(number)),
                _button(texts.plain("button_forget_cancel"), cd.ForgetCancel(number)),
            ]
        ]
    )


def import_decision(texts: Texts, import_id: int, count: int) -> InlineKeyboardMarkup:
    """An import's preview: write its ``count`` changes, or cancel."""
    return InlineKeyboardMarkup(
        [
            [
                _button(texts.plain("button_import_apply").format(count=count), cd.ImportApply(import_id)),
                _button(texts.plain("button_import_cancel"), cd.ImportCancel(import_id)),
            ]
        ]
    )
