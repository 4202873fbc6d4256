"""The one error handler: say what happened in a short message, log it without secrets, go on."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError

import newtel
from bot.access.checks import texts_for
from bot.context import Context
from bot.texts import Html, Texts
from storage import DatabaseBusy

log = logging.getLogger(__name__)


def describe(error: newtel.NewtelError, texts: Texts) -> Html:
    """What a New-Tel failure means to the person who asked."""
    if isinstance(error, newtel.AccountBlocked):
        return texts("newtel_blocked")
    if isinstance(error, newtel.PermissionDenied):
        return texts("newtel_forbidden")
    if isinstance(error, newtel.AuthError):
        return texts("newtel_auth")
    if isinstance(error, newtel.RateLimited):
        return texts("newtel_rate_limited", seconds=int(error.retry_after or 60))
    if isinstance(error, newtel.TransportError | newtel.ServerError | newtel.ResponseError):
        return texts("newtel_unavailable")
    if isinstance(error, newtel.CallNotFound):
        return texts("newtel_call_not_found")
    if isinstance(error, newtel.RecordNotFound):
        return texts("newtel_no_record")
    if isinstance(error, newtel.CallerIdNotAllowed):
        return texts("newtel_caller_id")
    if isinstance(error, newtel.SameSourceAndDestination):
        return texts("call_yourself")
    if isinstance(error, newtel.ValidationError):
        return texts("newtel_invalid", detail=str(error))
    return texts("newtel_error", detail=error.server_message or error.message)


async def on_error(update: object, context: Context) -> None:
    error = context.error
    if isinstance(error, newtel.NewtelError):
        # NewtelError never carries a key; its str names the method and HTTP status.
        log.warning("New-Tel failed: %s: %s", type(error).__name__, error)
    elif isinstance(error, TelegramError):
        log.warning("Telegram failed: %s: %s", type(error).__name__, error)
        return  # answering would most likely fail the same way
    elif isinstance(error, DatabaseBusy):
        log.debug("An update waits for the database: %s", error)  # the storage warns once an episode
    else:
        log.error("Unexpected error while handling an update", exc_info=error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    svc = context.services
    user = svc.storage.users.get(update.effective_user.id) if update.effective_user else None
    texts = texts_for(update, svc, user)
    if isinstance(error, newtel.NewtelError):
        text = describe(error, texts)
    elif isinstance(error, DatabaseBusy):
        text = texts("database_busy")  # nothing was written: the same press or command works once it lets go
    else:
        text = texts("internal_error")
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(Texts.strip(text), show_alert=True)
        elif update.effective_message is not None:
            await update.effective_message.reply_text(text)
    except TelegramError as failure:
        log.warning("could not report an error to the user: %s", failure)
