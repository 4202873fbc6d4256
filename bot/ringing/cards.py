"""Ringing cards: while an inbound call rings a user's desk phone, a private card says who is calling (the number as
people write it, the name and story from the archive, the number they dialled); it is edited as the call goes on
(answered by you or by a colleague, missed with a Call back button) and left alone once the call is over.

New-Tel tells which internal numbers ring, not which call rings which of them: when several inbound calls ring at
once, a ringing user's card lists them all; nothing is guessed. A card is written to storage before it is sent,
and marked as tried before the request, so a restart or a failed send never sends a second one. The live check
only records what rings; each user's cards go out in the user's own lane (``bot.alerts.lanes``).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, TelegramError

from bot import callback_data as cd
from bot import ratelimit
from bot.alerts.lanes import Lanes, Urgency
from bot.calllog.story import story
from bot.formatting import duration, format_for_people
from bot.services import Services
from bot.texts import Html, Texts
from storage import CallRecord, Card, User

log = logging.getLogger(__name__)

KEEP_FINAL = 86_400  # seconds a finished card's row is kept (its calls' cards are never edited again)
MAX_CALLS = 5  # calls one card lists at most (more ringing at once: the next ones get a card of their own)


def is_ringing(call: CallRecord) -> bool:
    return call.direction == "in" and call.active and call.status != "answered"


class RingingCards:
    def __init__(self, svc: Services, lanes: Lanes) -> None:
        self._svc = svc
        self._lanes = lanes
        # The one cache here: each call's story line, per language and whether it was answered (it is the story of the
        # calls *before* this one, so nothing else changes it while the call goes on); dropped with the call's last
        # card. A story the archive cannot tell yet is not kept: the next edit tells it.
        self._stories: dict[tuple[str, str, bool], Html] = {}

    def update(self, bot: Bot, ringing: Sequence[CallRecord], numbers: Collection[str]) -> None:
        """One live check's news: the inbound calls ringing now, and the internal numbers that ring. Recorded here
        (a new card claimed, a call joining a card that still rings); each user's cards are sent and edited in the
        user's lane (``bot.alerts.lanes``), so a private chat Telegram holds back delays neither the next look at
        New-Tel nor anybody else's card."""
        storage, now = self._svc.storage, int(time.time())
        open_cards = storage.cards.open()
        calls = [call.vpbx_id for call in ringing]
        for user in storage.users.ringing(numbers) if calls and numbers else []:
            mine = [card for card in open_cards if card.user_id == user.telegram_id]
            shown = {vpbx_id for card in mine for vpbx_id in card.calls}
            fresh = [vpbx_id for vpbx_id in calls if vpbx_id not in shown]
            if not fresh:
                continue
            # A call that starts ringing while the user's card still rings joins it (which of them rings whom is
            # not told); a full card, or none ringing, makes a new card.
            ringing_card = next(
                (card for card in mine if len(card.calls) < MAX_CALLS and _kept_up(card) and self._still_rings(card)),
                None,
            )
            if ringing_card is not None:
                room = MAX_CALLS - len(ringing_card.calls)
                joined, fresh = fresh[:room], fresh[room:]
                storage.cards.join(ringing_card, (*ringing_card.calls, *joined), now)
            if fresh:
                storage.cards.claim(fresh[0], user.telegram_id, fresh[:MAX_CALLS], now)
        for card in open_cards:  # tried, fate unknown: nothing to edit, so done with once its calls are over
            if not _kept_up(card) and not any(call.active for call in self._calls(card.calls)):
                storage.cards.shown_as(card, card.shown, True, now)
        # Every user with a card to send or edit.
        owed = {card.user_id for card in storage.cards.open() if _kept_up(card)}
        for user_id in sorted(owed):
            self._lanes.kick(user_id, Urgency.RINGING, functools.partial(self._bring_up_to_date, bot, user_id))
        storage.cards.forget_before(now - KEEP_FINAL)

    def _still_rings(self, card: Card) -> bool:
        return any(call is not None and is_ringing(call) for call in map(self._svc.storage.calls.get, card.calls))

    async def _bring_up_to_date(self, bot: Bot, user_id: int) -> bool:
        """In the user's lane: their cards claimed and not sent yet are sent, the others edited to show their calls as
        they are now. False when Telegram failed (the next check kicks again)."""
        storage, now = self._svc.storage, int(time.time())
        owner = storage.users.get(user_id)
        if owner is None:
            return True
        for card in storage.cards.open():
            if card.user_id != user_id:
                continue
            if card.message_id is not None:
                done = await self._edit(bot, owner, card, now)
            elif not card.shown:  # claimed, never tried
                done = await self._send(bot, owner, card, now)
            else:
                continue
            if not done:
                return False
        return True

    async def _send(self, bot: Bot, user: User, card: Card, now: int) -> bool:
        found = self._calls(card.calls)
        if not found:  # nothing to show: done with, rather than owed for ever
            self._svc.storage.cards.shown_as(card, card.shown, True, now)
            return True
        texts = self._texts(user)
        text, keyboard, _ = self.render(found, user, texts)
        shown = _digest(text, keyboard)
        if not self._svc.storage.cards.shown_as(card, shown, False, now):  # tried: whatever happens, never again
            return True  # calls joined it meanwhile: the join's kick sends it with them
        try:
            message = await bot.send_message(user.telegram_id, text, reply_markup=keyboard)
        except TelegramError as error:
            if ratelimit.not_taken(error):  # a 429, a 5xx, or it never left: the next check may send it
                log.info("Ringing card for %s not taken (%s); the next check tries again", user.telegram_id, error)
                self._svc.storage.cards.unclaim(card.vpbx_id, user.telegram_id)
                return False
            # May or may not have arrived: never a second card, and nothing here to retry (the lane goes on).
            log.warning("Ringing card for %s not sent (%s)", user.telegram_id, error)
            return True
        self._svc.storage.cards.sent(card.vpbx_id, user.telegram_id, message.message_id, shown, now)
        return True

    async def _edit(self, bot: Bot, user: User, card: Card, now: int) -> bool:
        """False when Telegram failed on the way (an edit is safe to repeat: the next check does)."""
        found = self._calls(card.calls)
        if not found:
            self._svc.storage.cards.shown_as(card, card.shown, True, now)
            return True
        text, keyboard, final = self.render(found, user, self._texts(user))
        shown = _digest(text, keyboard)
        if shown != card.shown:
            assert card.message_id is not None
            try:
                await bot.edit_message_text(text, user.telegram_id, card.message_id, reply_markup=keyboard)
            except BadRequest as error:
                if "not modified" not in str(error).lower():
                    log.warning("Ringing card %s of %s not edited (%s)", card.vpbx_id, user.telegram_id, error)
                    self._svc.storage.cards.shown_as(card, shown, True, now)  # gone: never edited again
                    return True
            except Forbidden as error:
                log.info("Ringing card of %s not edited: %s", user.telegram_id, error)
                self._svc.storage.cards.shown_as(card, shown, True, now)
                return True
            except TelegramError as error:
                log.warning("Ringing card %s of %s not edited yet (%s)", card.vpbx_id, user.telegram_id, error)
                return False
        if shown == card.shown and not final:
            return True
        # Recorded only if no call joined the card meanwhile: the join's kick edits it again, to show that call too.
        if self._svc.storage.cards.shown_as(card, shown, final, now) and final:
            for key in [key for key in self._stories if key[0] in card.calls]:
                del self._stories[key]
        return True

    def _calls(self, vpbx_ids: Sequence[str]) -> list[CallRecord]:
        calls = self._svc.storage.calls
        return [call for call in map(calls.get, vpbx_ids) if call is not None]

    def _texts(self, user: User) -> Texts:
        return Texts(user.language or self._svc.settings.bot_language)

    def _story(self, call: CallRecord, texts: Texts) -> Html:
        answered = call.status == "answered"
        key = (call.vpbx_id, texts.lang, answered)
        if key in self._stories:
            return self._stories[key]
        told = story(self._svc, call.customer, before=call.started_at, answered=answered)
        line = told.line(texts, self._svc.settings.zone)
        if told.summary is not None:
            self._stories[key] = line
        return line

    def render(
        self, calls: Sequence[CallRecord], user: User, texts: Texts
    ) -> tuple[Html, InlineKeyboardMarkup | None, bool]:
        """The card's text, its buttons (Call back for each missed call) and whether it is final."""
        zone = self._svc.settings.zone
        blocks = [self._block(call, user, texts, zone) for call in calls]
        text = (
            blocks[0]
            if len(blocks) == 1
            else Html("\n\n".join([texts("card_ringing_many", count=len(calls)), *blocks]))
        )
        missed = [call for call in calls if call.is_missed]
        buttons = [
            [
                InlineKeyboardButton(
                    texts.plain("card_call_back") if len(calls) == 1
                    else texts.plain("card_call_back") + " " + format_for_people(call.customer),
                    callback_data=cd.pack(cd.CardCall(call.customer, user.telegram_id)),
                )
            ]
            for call in missed
        ]  # fmt: skip
        return text, InlineKeyboardMarkup(buttons) if buttons else None, all(not call.active for call in calls)

    def _block(self, call: CallRecord, user: User, texts: Texts, zone: ZoneInfo) -> Html:
        customer = format_for_people(call.customer)
        mine = call.member is not None and call.member == user.internal_number
        who = call.member_name or call.member
        if is_ringing(call):
            title = texts("card_ringing", customer=customer)
        elif call.active:  # answered, still talking
            if mine:
                title = texts("card_you_answered", customer=customer)
            elif who:
                title = texts("card_answered_by", customer=customer, name=who)
            else:
                title = texts("card_answered", customer=customer)
        elif call.is_missed:
            ended = datetime.fromtimestamp(call.ended_at or call.started_at, UTC).astimezone(zone).strftime("%H:%M")
            title = texts("card_missed", customer=customer, when=ended)
        else:
            talk = duration(call.talk_seconds)
            if mine:
                title = texts("card_you_talked", customer=customer, talk=talk)
            elif who:
                title = texts("card_talked_by", customer=customer, name=who, talk=talk)
            else:
                title = texts("card_talked", customer=customer, talk=talk)
        lines = [title, texts("alert_dialled", number=format_for_people(call.dnid)), self._story(call, texts)]
        return Html("\n".join(line for line in lines if line))


def _kept_up(card: Card) -> bool:
    """Whether the lane keeps the card up to date: sent (edited) or not tried yet (sent); not when a send was tried
    and its fate is unknown (never sent again nor edited), so no call joins it."""
    return card.message_id is not None or not card.shown


def _digest(text: str, keyboard: InlineKeyboardMarkup | None) -> str:
    payload = text + "|" + ("" if keyboard is None else str(keyboard.to_dict()))
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
