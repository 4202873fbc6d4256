"""The admin's commands: /allow, /deny, /users, and in a group /subscribe, /unsubscribe."""

from __future__ import annotations

import time

from telegram import Update
from telegram.constants import ChatType

from bot.access import Caller, Context, requires
from bot.formatting import format_for_people
from bot.handlers.access_requests import grant
from bot.texts import Html
from newtel import Member, phones


def find_members(members: list[Member], query: str) -> list[Member]:
    """Members matching an internal number, an email or a name (exact first, then a unique prefix)."""
    wanted = query.strip().casefold()
    exact = [
        m
        for m in members
        if wanted in {(m.internal_number or "").casefold(), (m.email or "").casefold(), m.name.casefold()}
    ]
    if exact:
        return exact
    return [m for m in members if m.name.casefold().startswith(wanted) or wanted in m.name.casefold().split()]


@requires("admin")
async def allow(update: Update, context: Context, caller: Caller) -> None:
    message, texts, svc = update.effective_message, caller.texts, caller.services
    assert message is not None
    args = context.args or []
    if len(args) < 2 or not args[0].lstrip("-").isdigit():
        await message.reply_text(texts("allow_usage"))
        return
    telegram_id, query = int(args[0]), " ".join(args[1:])
    found = find_members(await svc.directory.members(), query)
    if not found:
        await message.reply_text(texts("member_not_found", query=query))
        return
    if len(found) > 1:
        names = ", ".join(f"{m.name} ({m.internal_number or '—'})" for m in found)
        await message.reply_text(texts("member_ambiguous", query=query, names=names))
        return
    member = found[0]
    grant(svc, telegram_id, member, caller)
    await message.reply_text(
        texts("allow_done", telegram_id=telegram_id, member=member.name, internal=member.internal_number or "—")
    )


@requires("admin")
async def deny(update: Update, context: Context, caller: Caller) -> None:
    message, texts, svc = update.effective_message, caller.texts, caller.services
    assert message is not None
    args = context.args or []
    if len(args) != 1 or not args[0].lstrip("-").isdigit():
        await message.reply_text(texts("deny_usage"))
        return
    telegram_id = int(args[0])
    if telegram_id in svc.settings.admin_ids:
        await message.reply_text(texts("deny_configured_admin"))
        return
    now = int(time.time())
    existed = svc.storage.users.get(telegram_id) is not None
    svc.storage.users.deny(telegram_id, now=now)
    svc.storage.audit.log("user.deny", actor_id=caller.user.telegram_id, target=str(telegram_id), now=now)
    await message.reply_text(texts("deny_done" if existed else "deny_unknown", telegram_id=telegram_id))


@requires("admin")
async def users(update: Update, context: Context, caller: Caller) -> None:
    texts, svc = caller.texts, caller.services
    rows = [
        texts(
            "user_row",
            telegram_id=user.telegram_id,
            name=user.display_name or (f"@{user.username}" if user.username else "—"),
            role=texts(f"role_{user.role}"),
            status=texts(f"user_{user.status}"),
            member=user.member_name or "—",
            internal=user.internal_number or "—",
        )
        for user in svc.storage.users.list()
    ]
    pending = svc.storage.access_requests.pending()
    text = Html(texts("users_header") + "\n" + "\n".join(rows))
    if pending:
        text = Html(text + "\n\n" + texts("users_pending", count=len(pending)))
    await update.effective_message.reply_text(text)  # type: ignore[union-attr]


@requires("admin")
async def subscribe(update: Update, context: Context, caller: Caller) -> None:
    message, chat, texts, svc = update.effective_message, update.effective_chat, caller.texts, caller.services
    assert message is not None and chat is not None
    if chat.type == ChatType.PRIVATE:
        await message.reply_text(texts("group_only"))
        return
    args = [a for a in (context.args or []) if a.strip()]
    balance = any(a.lower() in ("balance", "баланс") for a in args)
    typed_numbers = [a for a in args if a.lower() not in ("balance", "баланс")]
    company = (await svc.directory.numbers()).external
    chosen: list[str] = []
    for typed in typed_numbers:
        number = phones.normalize(typed)
        if number is None or number not in company:
            listed = ", ".join(format_for_people(n) for n in company)
            await message.reply_text(texts("subscribe_unknown_number", number=typed, numbers=listed))
            return
        chosen.append(number)
    now = int(time.time())
    svc.storage.chats.subscribe(chat.id, chat.title, chosen, balance, now=now)
    svc.storage.audit.log(
        "chat.subscribe", actor_id=caller.user.telegram_id, target=str(chat.id),
        details={"numbers": chosen, "balance": balance}, now=now,
    )  # fmt: skip
    scope = ", ".join(format_for_people(n) for n in chosen) if chosen else texts("all_numbers")
    text = texts("subscribed", numbers=scope)
    if balance:
        text = Html(text + "\n" + texts("subscribed_balance"))
    await message.reply_text(text)


@requires("admin")
async def unsubscribe(update: Update, context: Context, caller: Caller) -> None:
    message, chat, texts, svc = update.effective_message, update.effective_chat, caller.texts, caller.services
    assert message is not None and chat is not None
    if chat.type == ChatType.PRIVATE:
        await message.reply_text(texts("group_only"))
        return
    now = int(time.time())
    changed = svc.storage.chats.unsubscribe(chat.id, now=now)
    svc.storage.audit.log("chat.unsubscribe", actor_id=caller.user.telegram_id, target=str(chat.id), now=now)
    await message.reply_text(texts("unsubscribed" if changed else "not_subscribed"))
