"""Messages sent at most once: the reminders, the escalations, and the first message of each morning summary and
board. Each is marked sent in storage before it goes; what became of the send says whether it may go again. Telegram
surely did not take it: due again at the next look. It may have landed, or Telegram refused it for good: it stays
sent, never a second copy (a reminder lost is a smaller harm than a flood of them). A group that became a supergroup
is moved here, so the next try goes to its new id."""

from __future__ import annotations

import enum
import logging
import time

from telegram import Bot, InlineKeyboardMarkup, Message, ReplyParameters
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, TelegramError

from bot.ratelimit import not_taken
from bot.services import Services

log = logging.getLogger(__name__)


class Unsent(enum.Enum):
    AGAIN = "again"  # Telegram surely did not take it: worth another try
    MAYBE = "maybe"  # the connection broke or timed out after the request left: it may have landed
    NEVER = "never"  # Telegram refused it: it never will
    FORBIDDEN = "forbidden"  # the bot may not write there (blocked, never started in private, removed)


async def send_once(
    svc: Services,
    bot: Bot,
    chat_id: int,
    text: str,
    what: str,
    *,
    reply_markup: InlineKeyboardMarkup | None = None,
    reply_parameters: ReplyParameters | None = None,
    disable_notification: bool | None = None,
) -> Message | Unsent:
    """``bot.send_message``, its failure told apart; ``what`` names it in the log."""
    try:
        return await bot.send_message(
            chat_id,
            text,
            reply_markup=reply_markup,
            reply_parameters=reply_parameters,
            disable_notification=disable_notification,
        )
    except ChatMigrated as error:
        log.info("Chat %s moved to %s; %s goes there next", chat_id, error.new_chat_id, what)
        svc.storage.chats.move(chat_id, error.new_chat_id, now=int(time.time()))
        return Unsent.AGAIN
    except Forbidden as error:
        log.info("%s cannot reach %s: %s", what, chat_id, error)
        return Unsent.FORBIDDEN
    except TelegramError as error:
        if not_taken(error):
            log.warning("%s for %s waits for the next look (%s)", what, chat_id, error)
            return Unsent.AGAIN
        if isinstance(error, NetworkError) and not isinstance(error, BadRequest):  # broke or timed out on the way
            log.warning("%s for %s may have arrived; not sent again (%s)", what, chat_id, error)
            return Unsent.MAYBE
        log.warning("%s for %s was refused; not sent again (%s)", what, chat_id, error)
        return Unsent.NEVER
