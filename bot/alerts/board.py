"""The open board: one message per subscribed chat naming the customers nobody has called back yet, longest
waiting first, pinned when the bot may pin. It opens with the chat's first alert and is edited after each reaction
(``Poller.react``) only when its text changes: the text says since when each customer waits ("с 10:42"), not for
how long, so it stays still between changes. It goes in the chat's lane (``bot.alerts.lanes``) after the chat's
alerts: it never holds one up, and the changes made while it waits make one edit. The message is kept in
``chats.board_message_id``; one somebody deleted is posted again. Misses held outside the business hours stay off it
until their summary tells them. ``/board`` (admins, in the group) posts it anew and pins it; with ``ALERT_BOARD`` off
a chat has a board only once an admin asked for it there.

One list per chat, whatever crashes: every board is written down in the ledger before it is sent, and sent as a
pointer to the pinned list; its list is written in only once its message is recorded. A kill or a lost answer before
that leaves the pointer, never a list nobody edits. Every board but the chat's own (replaced by ``/board`` or a new
one, with a crash or Telegram in the way of taking it down) is deleted at the next refresh, or emptied into the
pointer and unpinned when Telegram no longer lets it be deleted. The pin is recorded too: a board a kill or Telegram
kept from being pinned is pinned at a later refresh, and one Telegram refuses to pin (no right to) is not asked again
until ``/board`` posts a new one."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import hashlib
import logging
import sqlite3
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from telegram import Bot, Message, Update
from telegram.error import BadRequest, ChatMigrated, Forbidden, TelegramError

from bot.access.checks import Caller, requires
from bot.alerts.lanes import Lanes, Urgency
from bot.alerts.once import Unsent, send_once
from bot.context import Context
from bot.formatting import format_for_people, moment
from bot.ratelimit import transient
from bot.services import Services
from bot.texts import CATALOGS, Html, Texts, echo
from storage import Alert

log = logging.getLogger(__name__)

# How a board begins, in any language (its pointer too): a pinned message of the bot's that does is one.
_BOARD_STARTS = tuple(
    Texts.strip(Texts(lang)(key, count=0)).split(":")[0]
    for lang in CATALOGS
    for key in ("board_title", "board_all_called_back")
)
MAX_LINES = 20  # customers named; the rest are "…and N more" (the message stays far under 4096)
NAME_LIMIT = 40  # characters of a name from the customer book


def render_board(
    alerts: Sequence[Alert], names: Mapping[str, str], texts: Texts, zone: ZoneInfo, now: datetime
) -> Html:
    """The board of a chat's live alerts (``names``: the customer book's, by number)."""
    if not alerts:
        return texts("board_all_called_back")
    waiting = sorted(alerts, key=lambda a: (a.first_at, a.id))
    lines = [texts("board_title", count=len(waiting))]
    for place, alert in enumerate(waiting[:MAX_LINES], start=1):
        name = names.get(alert.clid)
        extras = []
        if alert.missed_count > 1:
            extras.append(texts("board_times", count=alert.missed_count))
        if alert.state == "calling":
            extras.append(texts("board_calling", name=alert.callback_name or "—"))
        elif alert.owner_name:
            extras.append(texts("board_owner", name=alert.owner_name))
        if alert.deadline_at is not None and alert.deadline_at <= now.timestamp():
            extras.append(texts("board_overdue"))
        lines.append(
            texts(
                "board_line",
                place=place,
                customer=format_for_people(alert.clid),
                name=" · " + echo(name, NAME_LIMIT) if name else "",
                since=moment(datetime.fromtimestamp(alert.first_at, UTC), zone, texts.lang, now),
                extras=Html("".join(extras)),
            )
        )
    if len(waiting) > MAX_LINES:
        lines.append(texts("and_more", count=len(waiting) - MAX_LINES))
    return Html("\n".join(lines))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Posted(enum.Enum):
    PINNED = "pinned"  # or to be, at a later refresh: Telegram failed on the way
    UNPINNED = "unpinned"  # the bot may not pin here
    FAILED = "failed"  # Telegram took nothing: a later reaction tries again


class Board:
    """Every chat's board. What Telegram shows of each is remembered (the message and its text's digest) so an
    unchanged board costs no request; after a restart the first edit of each is answered "not modified"."""

    def __init__(self, svc: Services, lanes: Lanes) -> None:
        self._svc = svc
        self._lanes = lanes
        self._shown: dict[int, tuple[int, str]] = {}  # chat id -> (message id, digest of the text it shows)
        # chat id -> (ledger entry, message id): a board Telegram has that storage could not record yet
        self._unrecorded: dict[int, tuple[int, int]] = {}
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)  # one post or edit per chat

    def kick(self, bot: Bot) -> None:
        """Bring every subscribed chat's board up to date in its lane, once none of its alerts waits: at most one edit
        each, none when nothing changed. Neither the alerts nor the next poll wait for it."""
        for chat in self._svc.storage.chats.subscribed():
            self._lanes.kick(chat.chat_id, Urgency.BOARD, functools.partial(self.update, bot, chat.chat_id))

    async def update(self, bot: Bot, chat_id: int) -> bool:
        """The chat's board as its alerts stand now; False when Telegram failed (a later reaction tries again)."""
        async with self._locks[chat_id]:
            message_id = self._message_id(chat_id)
            if message_id is None and not self._svc.settings.alert_board:
                return True  # ALERT_BOARD off: a chat has a board once an admin asked for it (/board)
            alerts = self._live(chat_id)
            if message_id is None and not alerts:
                return True  # the board opens with the chat's first alert
            text = self._text(chat_id, alerts)
            if message_id is None:
                message_id = await self._pinned_board(bot, chat_id)
            shown = None if message_id is None else await self._edit(bot, chat_id, message_id, text)
            if shown is None:  # none yet, or somebody deleted it (or Telegram will not edit it any more): a new one
                shown = await self._post(bot, chat_id, text)
            if shown:
                await self._pin(bot, chat_id)
                await self._retire_stale(bot, chat_id)
            return shown

    async def post_again(self, bot: Bot, chat_id: int) -> Posted:
        """``/board``: the board posted anew at the bottom of the chat and pinned; the old one is taken down."""
        async with self._locks[chat_id]:
            if not await self._post(bot, chat_id, self._text(chat_id, self._live(chat_id))):
                return Posted.FAILED
            pinned = await self._pin(bot, chat_id)
            await self._retire_stale(bot, chat_id)
            return Posted.PINNED if pinned else Posted.UNPINNED

    async def _edit(self, bot: Bot, chat_id: int, message_id: int, text: Html) -> bool | None:
        """The board ``message_id`` made to show ``text``: True when it does, False when Telegram failed (a later
        reaction tries again), None when it is gone (deleted, or Telegram will not edit it any more)."""
        if self._shown.get(chat_id) == (message_id, _digest(text)):
            return True
        try:
            await bot.edit_message_text(text, chat_id=chat_id, message_id=message_id)
        except BadRequest as error:
            reason = error.message.lower()
            if "not found" in reason or "can't be edited" in reason:
                return None
            if "not modified" not in reason:
                log.error("Telegram refused the board of chat %s: %s", chat_id, error.message)
        except ChatMigrated as error:  # a supergroup now: the chat (its board too) follows, edited next time
            self._svc.storage.chats.move(chat_id, error.new_chat_id, now=int(time.time()))
            return False
        except Forbidden as error:  # not in the chat any more; delivery unsubscribes it with its next alert
            log.warning("The board of chat %s cannot be edited (%s)", chat_id, error)
        except TelegramError as error:
            log.warning("The board of chat %s not edited yet (%s: %s)", chat_id, type(error).__name__, error)
            return False
        self._shown[chat_id] = (message_id, _digest(text))
        return True

    async def _pinned_board(self, bot: Bot, chat_id: int) -> int | None:
        """A board of the bot's pinned in the chat that storage does not know (one Telegram took while the database
        could not record it, say): it is taken back rather than a second one posted. Asked of Telegram once per chat,
        only when it has no board."""
        try:
            pinned = (await bot.get_chat(chat_id)).pinned_message
        except TelegramError as error:
            log.info("Could not look for a pinned board in chat %s (%s)", chat_id, error)
            return None
        text = getattr(pinned, "text", None) or ""
        if not isinstance(pinned, Message) or pinned.from_user is None or pinned.from_user.id != bot.id:
            return None
        if not text.startswith(_BOARD_STARTS):
            return None
        log.info("The board of chat %s found pinned: taken back", chat_id)
        self._svc.storage.ledger.adopt_board(chat_id, pinned.message_id, now=int(time.time()))
        return pinned.message_id

    async def _retire_stale(self, bot: Bot, chat_id: int) -> None:
        """Take down every board of the chat's but its own: one a newer board replaced (``/board``, a deleted one
        posted again) whose removal a crash or Telegram cut short. So a chat shows one list, whatever happened."""
        ledger = self._svc.storage.ledger
        for message_id in ledger.stale_boards(chat_id):
            try:
                await bot.delete_message(chat_id, message_id)
            except BadRequest as error:
                if "not found" not in error.message.lower():
                    # Too old to delete (48 hours): emptied into a pointer to the board, and unpinned.
                    await self._empty(bot, chat_id, message_id)
            except TelegramError as error:
                log.info("The old board %s of chat %s not taken down yet (%s)", message_id, chat_id, error)
                continue
            ledger.retired(chat_id, message_id, now=int(time.time()))

    async def _empty(self, bot: Bot, chat_id: int, message_id: int) -> None:
        """An old board that cannot be deleted, made harmless as far as Telegram lets it."""
        with contextlib.suppress(TelegramError):
            await bot.edit_message_text(
                self._svc.chat_texts(chat_id)("board_stub"), chat_id=chat_id, message_id=message_id
            )
        with contextlib.suppress(TelegramError):
            await bot.unpin_chat_message(chat_id, message_id)

    def _live(self, chat_id: int) -> list[Alert]:
        """The chat's live alerts the chat has been told of: not those held for the morning summary."""
        return [alert for alert in self._svc.storage.alerts.open_for(chat_id) if not alert.held]

    def _text(self, chat_id: int, alerts: Sequence[Alert]) -> Html:
        names = self._svc.storage.contacts.names(a.clid for a in alerts) if alerts else {}
        zone = self._svc.settings.zone
        return render_board(alerts, names, self._svc.chat_texts(chat_id), zone, datetime.now(UTC))

    def _message_id(self, chat_id: int) -> int | None:
        """The chat's board: one Telegram has that is not recorded yet (recorded now if storage can), else the
        stored one."""
        if chat_id in self._unrecorded:
            return self._record(chat_id, *self._unrecorded[chat_id])
        chat = self._svc.storage.chats.get(chat_id)
        return None if chat is None else chat.board_message_id

    def _record(self, chat_id: int, entry: int, message_id: int) -> int:
        try:
            self._svc.storage.ledger.landed(entry, message_id, now=int(time.time()))
        except sqlite3.OperationalError as error:
            # Kept in memory meanwhile: the board is edited, never posted twice, while the database is locked.
            log.warning("The board of chat %s is not recorded yet (%s)", chat_id, error)
            self._unrecorded[chat_id] = (entry, message_id)
        else:
            self._unrecorded.pop(chat_id, None)
        return message_id

    async def _post(self, bot: Bot, chat_id: int, text: Html) -> bool:
        """A new board: written down, sent as a pointer to the pinned list (``board_stub``), recorded, and only then
        given its list (the caller pins it). A kill or a lost answer before the record leaves that pointer, never a
        second list nobody edits; the board posted after it is the one pinned. False when it is not (known to be) in
        the chat."""
        ledger = self._svc.storage.ledger
        entry = ledger.intend(chat_id, "board", now=int(time.time()))
        stub = self._svc.chat_texts(chat_id)("board_stub")
        sent = await send_once(self._svc, bot, chat_id, stub, "The board", disable_notification=True)
        if isinstance(sent, Unsent):
            if sent is not Unsent.MAYBE:  # surely not in the chat
                ledger.forget(entry)
            return False
        self._record(chat_id, entry, sent.message_id)
        await self._edit(bot, chat_id, sent.message_id, text)  # failing, the next reaction writes the list in
        return True

    async def _pin(self, bot: Bot, chat_id: int) -> bool:
        """The chat's board pinned, unless it is already or Telegram refused it before; False when Telegram refuses
        now (no right to pin here: the board works unpinned). Failing on the way, it is left to the next refresh (a
        pin that may have been made is asked again: pinning a pinned message is harmless). A board not recorded yet
        is pinned once it is."""
        ledger = self._svc.storage.ledger
        message_id = None if chat_id in self._unrecorded else ledger.board_to_pin(chat_id)
        if message_id is None:
            return True
        try:
            await bot.pin_chat_message(chat_id, message_id, disable_notification=True)
        except TelegramError as error:
            if transient(error):
                log.info("The board of chat %s not pinned yet (%s: %s)", chat_id, type(error).__name__, error)
                return True
            log.info("The board of chat %s may not be pinned (%s)", chat_id, error)
            ledger.pinned(chat_id, message_id, "refused", now=int(time.time()))
            return False
        ledger.pinned(chat_id, message_id, "pinned", now=int(time.time()))
        return True


@requires("admin", group_only=True)
async def board_command(update: Update, context: Context, caller: Caller) -> None:
    chat, texts, svc = update.effective_chat, caller.texts, caller.services
    assert chat is not None
    stored = svc.storage.chats.get(chat.id)
    if stored is None or not stored.subscribed:
        await caller.reply(texts("not_subscribed_yet"))
        return
    posted = await context.application.bot_data.need_poller().board.post_again(context.bot, chat.id)
    if posted is Posted.UNPINNED:
        await caller.reply(texts("board_cannot_pin"))
    elif posted is Posted.FAILED:
        await caller.reply(texts("board_failed"))
