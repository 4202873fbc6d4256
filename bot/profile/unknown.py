"""A message no other handler took. In a private chat it gets a short hint: the closest command to a mistyped one,
/help, and for a file, how to import it. In a group the bot stays quiet unless addressed: an unknown command
``/…@bot`` or ``@bot`` in the text; the rest of the talk there (replies to its alerts included) is the team's."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from telegram import Message, MessageEntity, Update
from telegram.constants import ChatType
from telegram.ext import BaseHandler, CommandHandler, filters

from bot.access.checks import Caller, requires
from bot.context import Context
from bot.texts import echo

# Registered last: every new message the handlers before it left (service messages are nobody's to answer).
LEFT_OVER = filters.UpdateType.MESSAGE & ~filters.StatusUpdate.ALL
# What a Russian speaker may type for a command ("/баланс"): Telegram takes Latin letters only.
RUSSIAN = {
    "баланс": "balance", "звонки": "calls", "позвонить": "call", "звонок": "call", "запись": "record",
    "отчёт": "report", "отчет": "report", "потерянные": "lost", "клиент": "name", "имя": "name",
    "клиенты": "contacts", "контакты": "contacts", "сотрудники": "members", "номера": "numbers", "кто": "whoami",
    "телефон": "phone", "уведомления": "notify", "язык": "lang", "помощь": "help", "справка": "help",
    "старт": "start", "подписка": "subscribe", "подписать": "subscribe", "отписать": "unsubscribe",
    "сводка": "digest", "срок": "sla", "часы": "hours", "доска": "board", "выгрузка": "export", "импорт": "import",
}  # fmt: skip


async def left_over(update: Update, context: Context) -> None:
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    if chat.type != ChatType.PRIVATE and not addressed(message, context.bot.username):
        return
    await _hint(update, context)


@requires("manager", any_chat=True)  # a stranger is told how to ask for access (in private; nothing in a group)
async def _hint(update: Update, context: Context, caller: Caller) -> None:
    message, texts = update.effective_message, caller.texts
    assert message is not None
    typed = (message.text or "").split(maxsplit=1)[0] if (message.text or "").startswith("/") else None
    if typed is not None:
        command = typed.partition("@")[0]
        suggestion = closest(command[1:], commands(context.application.handlers.values()))
        if suggestion is None:
            await caller.reply(texts("unknown_command", command=echo(command, 40)))
        else:
            await caller.reply(texts("unknown_command_closest", command=echo(command, 40), closest=f"/{suggestion}"))
    elif message.document is not None:
        await caller.reply(texts("unknown_file" if caller.user.is_admin else "unknown_file_manager"))
    else:
        await caller.reply(texts("unknown_text"))


def addressed(message: Message, username: str | None) -> bool:
    """Whether a group message speaks to this bot: a command ``/…@bot`` or a mention ``@bot``."""
    if not username:
        return False
    mine = f"@{username}".lower()
    text = message.text or ""
    if text.startswith("/") and text.split(maxsplit=1)[0].lower().endswith(mine):
        return True
    mentions = message.parse_entities([MessageEntity.MENTION]).values()
    return any(mention.lower() == mine for mention in mentions)


def commands(groups: Iterable[Iterable[BaseHandler[Any, Any, Any]]]) -> list[str]:
    """Every command the application answers, as its handlers list them."""
    return sorted({name for group in groups for h in group if isinstance(h, CommandHandler) for name in h.commands})


def closest(typed: str, known: list[str]) -> str | None:
    """The command ``typed`` most likely meant: its Russian name, else the nearest spelling of one (difflib)."""
    word = typed.lower()
    if word in RUSSIAN:
        return RUSSIAN[word]
    found = difflib.get_close_matches(word, [*known, *RUSSIAN], n=1, cutoff=0.7)
    return RUSSIAN.get(found[0], found[0]) if found else None
