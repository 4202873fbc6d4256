"""Messages sent at most once: the reminders, the escalations and the morning summaries. Each is marked sent in
storage before it goes; what became of the send says whether it may go again. Telegram surely did not take it: due
again at the next look. It may have landed, or Telegram refused it for good: it stays sent, never a second copy (a
reminder lost is a smaller harm than a flood of them). A group that became a supergroup is moved here, so the next
try goes to its new id."""

from __future__ import annotations

import enum
import logging
import time

from telegram import Bot, InlineKeyboardMarkup, Message, ReplyParameters
from telegram.error import ChatMigrated, Forbidden, TelegramError

from bot.ratelimit import not_taken
from bot.services import Services

log = logging.getLogger(__name__)


class Unsent(enum.Enum):
    AGAIN = "again"  # Telegram surely did not take it: worth another try
    NEVER = "never"  # it may have landed, or it never will: not repeated
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
) -> Message | Unsent:
    """``bot.send_message``, its failure told apart; ``what`` names it in the log."""
    try:
        return await bot.send_message(chat_id, text, reply_markup=reply_markup, reply_parameters=reply_parameters)
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
        log.warning("%s for %s may not have arrived, or was refused; not sent again (%s)", what, chat_id, error)
        return Unsent.NEVER
