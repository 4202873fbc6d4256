"""Who may do what. Every handler is wrapped here, so each command and each button press re-checks
the sender against storage before anything reaches New-Tel, and a manager against New-Tel's member list."""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal

from telegram import Bot, Chat, Message, Update
from telegram import User as TelegramUser
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop

from bot import callback_data as cd
from bot.context import Context
from bot.services import Services
from bot.texts import Texts
from newtel import Member
from storage import User

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 4000  # Telegram's is 4096 characters of text; HTML tags do not count, the margin covers them
_TOLD_GONE = "member_gone:"  # kv key prefix: the admins were told that this user's member is gone
Level = Literal["manager", "admin"]
Refusal = Literal["stranger", "admins_only", "member_gone"]


@dataclass(frozen=True)
class Caller:
    """The checked sender of an update and the language to answer them in."""

    user: User
    texts: Texts
    services: Services
    update: Update

    async def reply(self, text: str, **options: Any) -> Message:
        """Answer in the chat the update came from."""
        message = self.update.effective_message
        if message is None:
            raise RuntimeError("this update has no message to answer")
        return await message.reply_text(text, **options)

    async def reply_lines(self, lines: list[str]) -> None:
        """A long list in as many messages as it takes, each under Telegram's 4096 characters."""
        chunk: list[str] = []
        for line in lines:
            if chunk and sum(len(part) + 1 for part in chunk) + len(line) > MESSAGE_LIMIT:
                await self.reply("\n".join(chunk))
                chunk = []
            chunk.append(line)
        if chunk:
            await self.reply("\n".join(chunk))


Handler = Callable[[Update, Context, Caller], Awaitable[None]]


def texts_for(update: Update, svc: Services, user: User | None = None) -> Texts:
    """The language of every answer to an update: in a group, the group's (as its alerts and board are: everyone there
    reads one language, whoever asked); in a private chat, the sender's choice; else the bot's default."""
    chat = update.effective_chat
    if chat is not None and chat.type != ChatType.PRIVATE:
        return svc.chat_texts(chat.id)
    return Texts(user.language if user is not None and user.language else svc.settings.bot_language)


def allowed(user: User | None, level: Level) -> bool:
    return user is not None and user.is_active and (level == "manager" or user.is_admin)


def current_member(user: User, members: list[Member]) -> Member | None:
    """The company member the user acts as, as New-Tel describes it now (None: the member was deleted)."""
    return next((m for m in members if user.member_id is not None and str(m.id) == user.member_id), None)


@dataclass(frozen=True)
class Admission:
    """What access says of a Telegram user: the user as stored (None: never let in) and, when refused, why."""

    user: User | None
    refusal: Refusal | None


def standing(svc: Services, telegram_id: int, level: Level) -> Admission:
    """What storage alone says of Telegram user ``telegram_id`` at ``level``: let in, a stranger, or a manager
    asking for an admin's. ``admit`` adds whether their member is still at New-Tel; ``requires`` asks that last,
    once the chat is one it answers in (a group nobody enabled costs New-Tel nothing)."""
    user = svc.storage.users.get(telegram_id)
    if not allowed(user, level):
        return Admission(user, "admins_only" if allowed(user, "manager") else "stranger")
    return Admission(user, None)


async def admit(
    svc: Services, bot: Bot, telegram_id: int, level: Level, sender: TelegramUser | None = None
) -> Admission:
    """Whether Telegram user ``telegram_id`` may use what ``level`` allows, decided from who they are alone (the
    chat is the caller's to check): ``standing``, then ``member_gone``, as every command and button (``requires``)
    and the Mini App's API (``bot.miniapp``) decide it. ``sender``: how Telegram names them now, for the admins
    should their member be gone."""
    found = standing(svc, telegram_id, level)
    if found.refusal is None and found.user is not None and await member_gone(svc, bot, found.user, sender):
        return Admission(found.user, "member_gone")
    return found


async def member_gone(svc: Services, bot: Bot, user: User, sender: TelegramUser | None) -> bool:
    """Whether the member a manager acts as is gone from New-Tel's list (as ``Directory.known_member_ids`` has it:
    at most its ``ttl`` old, the last one while New-Tel fails). The first time, the admins are told. Admins are never
    held to it: ADMIN_IDS makes them, and they are the ones to put it right."""
    if user.is_admin or user.member_id is None:
        return False
    members = await svc.directory.known_member_ids()
    if members is None or user.member_id in members:
        return False
    await _tell_admins_once(svc, bot, user, sender)
    return True


async def _tell_admins_once(svc: Services, bot: Bot, user: User, sender: TelegramUser | None) -> None:
    now = int(time.time())
    try:
        if not svc.storage.kv.set_if_absent(f"{_TOLD_GONE}{user.telegram_id}:{user.member_id}", now, now=now):
            return
        svc.storage.audit.log(
            "user.member_gone", actor_id=None, target=str(user.telegram_id), details={"member": user.member_id}, now=now
        )
    except sqlite3.Error as error:  # the user is refused all the same; the admins hear of it on a later refusal
        log.warning("Could not record that user %s's member is gone: %s", user.telegram_id, error)
        return
    log.warning(
        "User %s acts as member %s, gone from New-Tel: refused until it is back", user.telegram_id, user.member_id
    )
    # A Mini App link (no initData) knows only the user's id: the name is then the stored one.
    who = user.name if sender is None or not sender.full_name else sender.full_name
    who += f" @{sender.username}" if sender is not None and sender.username else ""
    for admin in svc.storage.users.list(active_only=True):
        if not admin.is_admin:
            continue
        texts = Texts(admin.language or svc.settings.bot_language)
        text = texts("member_gone_admin", member=user.member_name or "—", user=who, telegram_id=user.telegram_id)
        try:
            await bot.send_message(admin.telegram_id, text)
        except TelegramError as error:
            log.warning("Could not tell admin %s that a member is gone: %s", admin.telegram_id, error)


def enabled_in(chat: Chat | None, svc: Services) -> bool:
    """Commands are answered in private chats and in groups an admin enabled (subscribed) only."""
    if chat is None or chat.type == ChatType.PRIVATE:
        return True
    stored = svc.storage.chats.get(chat.id)
    return stored is not None and stored.subscribed


def requires(
    level: Level, *, group_only: bool = False, private_only: bool = False, any_chat: bool = False
) -> Callable[[Handler], Callable[[Update, Context], Coroutine[Any, Any, None]]]:
    """Run the handler only for an allowed sender; with ``group_only`` only in a group chat, with ``private_only``
    (what no group should hold, such as the whole customer list) only in a private one, with ``any_chat`` (commands
    that show no company data) anywhere, else only where ``enabled_in``."""

    def decorate(handler: Handler) -> Callable[[Update, Context], Coroutine[Any, Any, None]]:
        @functools.wraps(handler)
        async def checked(update: Update, context: Context) -> None:
            svc = context.services
            sender = update.effective_user
            found = Admission(None, "stranger") if sender is None else standing(svc, sender.id, level)
            user = found.user
            texts = texts_for(update, svc, user)
            if found.refusal is not None:
                await refuse(update, texts, known=found.refusal == "admins_only")
                return
            assert user is not None
            chat, message = update.effective_chat, update.effective_message
            if group_only and chat is not None and chat.type == ChatType.PRIVATE:
                if message is not None:
                    await message.reply_text(texts("group_only"))
                return
            if private_only and chat is not None and chat.type != ChatType.PRIVATE:
                if message is not None:
                    await message.reply_text(texts("private_only"))
                return
            if not (group_only or any_chat) and not enabled_in(chat, svc):
                # Others in the group may be nobody the admins allowed: company data stays out of it.
                if update.callback_query is not None:
                    await update.callback_query.answer(texts.plain("group_not_enabled"), show_alert=True)
                elif message is not None:
                    await message.reply_text(texts("group_not_enabled"))
                return
            if await member_gone(svc, context.bot, user, sender):
                await refuse_member_gone(update, texts, user)
                return
            await handler(update, context, Caller(user, texts, svc, update))

        return checked

    return decorate


async def refuse_foreign_press(update: Update, context: Context) -> None:
    """Runs before every button handler: a press whose data its message never offered stops here."""
    press = update.callback_query
    if press is None or cd.on_its_message(press):
        return
    svc = context.services
    user = svc.storage.users.get(press.from_user.id)
    log.info("Refused a press by %s: its data is not a button of that message", press.from_user.id)
    try:
        await press.answer(texts_for(update, svc, user).plain("button_foreign"), show_alert=True)
    except TelegramError as error:
        log.info("could not answer a refused press: %s", error)
    raise ApplicationHandlerStop


async def refuse(update: Update, texts: Texts, *, known: bool = False) -> None:
    """A short polite refusal: in the button's answer, or in private chat; strangers in groups get nothing."""
    key = "admins_only" if known else "refused"
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(texts.plain(key + "_short"), show_alert=True)
            return
        message, chat = update.effective_message, update.effective_chat
        # Strangers in groups get nothing; a known manager asking for an admin command is told why.
        if message is not None and chat is not None and (known or chat.type == ChatType.PRIVATE):
            await message.reply_text(texts(key))
    except TelegramError as error:
        log.warning("could not send a refusal: %s", error)


async def refuse_member_gone(update: Update, texts: Texts, user: User) -> None:
    """A user whose member is gone hears why, in the button's answer or in the chat they asked in."""
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(texts.plain("member_gone_access_short"), show_alert=True)
        elif update.effective_message is not None:
            await update.effective_message.reply_text(texts("member_gone_access", member=user.member_name or "—"))
    except TelegramError as error:
        log.warning("could not send a refusal: %s", error)


# Telegram advises "typing…" only when an answer takes noticeably long: a quicker one goes without it. At 100
# people asking /balance at once, those requests were half the bot's CPU (bench/bot_latency.py).
TYPING_AFTER = 0.5  # seconds


async def show_typing(update: Update, context: Context) -> None:
    """Shows "typing…" when the update is still being answered ``TYPING_AFTER`` from now. Sent in the background:
    the answer never waits for it."""
    handling = asyncio.current_task()  # the update's own task (concurrent updates): done once it is answered
    if update.effective_chat is not None and handling is not None:
        context.application.create_task(_typing(context, update.effective_chat.id, handling))


async def _typing(context: Context, chat_id: int, handling: asyncio.Task[Any]) -> None:
    done, _ = await asyncio.wait([handling], timeout=TYPING_AFTER)
    if done:
        return
    try:
        await context.bot.send_chat_action(chat_id, "typing")
    except TelegramError as error:  # a failure here must not cost the answer
        log.debug("chat action failed: %s", error)
