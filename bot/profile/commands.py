"""/whoami, /phone, /lang and /help: who the user is to the bot, and their own settings."""

from __future__ import annotations

import time

from telegram import Update
from telegram.constants import ChatType

from bot.access.checks import Caller, requires
from bot.calls import calling, numbers
from bot.context import Context
from bot.formatting import format_for_people
from bot.texts import Html, Texts, language_named
from newtel import phones


@requires("manager")
async def whoami(update: Update, context: Context, caller: Caller) -> None:
    user, texts, chat = caller.user, caller.texts, update.effective_chat
    if chat is not None and chat.type != ChatType.PRIVATE:  # everyone here would read the numbers and the id
        role = texts(f"role_{user.role}")
        await caller.reply(texts("whoami_group", role=role, member=user.member_name or "—"))
        return
    await caller.reply(
        texts(
            "whoami",
            telegram_id=user.telegram_id,
            role=texts(f"role_{user.role}"),
            member=user.member_name or "—",
            internal=user.internal_number or "—",
            personal=format_for_people(user.personal_number),
            callback=format_for_people(user.callback_phone),
            rings=format_for_people(calling.first_phone(user, None)),
        )
    )


@requires("manager")
async def phone(update: Update, context: Context, caller: Caller) -> None:
    message, texts, svc = update.effective_message, caller.texts, caller.services
    assert message is not None
    typed = " ".join(context.args or []).strip()
    if not typed:
        await message.reply_text(texts("phone_usage", current=format_for_people(caller.user.callback_phone)))
        return
    now = int(time.time())
    if typed.lower() in ("off", "-", "нет", "сброс", "reset"):
        svc.storage.users.set_callback_phone(caller.user.telegram_id, None, now=now)
        await message.reply_text(texts("phone_cleared"))
        return
    typed, extension = phones.split_extension(typed)  # New-Tel rings no extension: the number is kept, and said so
    number = await numbers.first_phone(svc, caller.user, typed)
    if isinstance(number, calling.CannotCall):
        await message.reply_text(calling.why_not(number, texts))
        return
    svc.storage.users.set_callback_phone(caller.user.telegram_id, number, now=now)
    said = texts("phone_set", phone=format_for_people(number))
    if extension is not None:
        said = Html(texts("extension_left_out", extension=extension, number=format_for_people(number)) + "\n" + said)
    await message.reply_text(said)


@requires("manager", any_chat=True)
async def language(update: Update, context: Context, caller: Caller) -> None:
    message, svc = update.effective_message, caller.services
    assert message is not None and update.effective_chat is not None
    wanted = language_named((context.args or [""])[0])
    if wanted is None:
        await message.reply_text(caller.texts("lang_usage"))
        return
    now = int(time.time())
    in_group = update.effective_chat.type != ChatType.PRIVATE
    if in_group and caller.user.is_admin:
        # In a group, an admin sets the group's language: of its alerts, its board and every answer there.
        changed = svc.storage.chats.set_language(update.effective_chat.id, wanted, now=now)
        await message.reply_text(Texts(wanted)("lang_set_chat") if changed else caller.texts("lang_chat_unknown"))
        return
    svc.storage.users.set_language(caller.user.telegram_id, wanted, now=now)
    if in_group:  # the manager's own language is for the private chat; the group keeps its own
        await message.reply_text(caller.texts("lang_set_private", language=caller.texts(f"in_language_{wanted}")))
        return
    await message.reply_text(Texts(wanted)("lang_set"))


@requires("manager", any_chat=True)
async def help_command(update: Update, context: Context, caller: Caller) -> None:
    texts = caller.texts
    text = texts("help_manager")
    if caller.user.is_admin:
        text = Html(text + "\n\n" + texts("help_admin"))
    await caller.reply(text)
