"""The admins' /allow, /deny and /users: who may use the bot, as which company member."""

from __future__ import annotations

import html

from telegram import Update

from bot import arguments
from bot.access.checks import Caller, requires
from bot.access.requests import grant, revoke, settle_pending
from bot.context import Context
from bot.texts import Html, echo
from newtel import Member
from storage import User


def find_members(members: list[Member], query: str) -> list[Member]:
    """Members matching an internal number, an email or a name: exactly, else by a whole word of the name
    ("Попов" is Попов Сергей even when there is a Попова), else by the start of one."""
    wanted = " ".join(query.split()).casefold()
    if not wanted:
        return []
    exact = [
        m
        for m in members
        if wanted in {(m.internal_number or "").casefold(), (m.email or "").casefold(), m.name.casefold()}
    ]
    words = [m for m in members if wanted in m.name.casefold().split()]
    starts = [m for m in members if any(word.startswith(wanted) for word in m.name.casefold().split())]
    return exact or words or starts


@requires("admin")
async def allow(update: Update, context: Context, caller: Caller) -> None:
    message, texts, svc = update.effective_message, caller.texts, caller.services
    assert message is not None
    args = context.args or []
    telegram_id = arguments.user_id(args[0]) if len(args) >= 2 else None
    if telegram_id is None:
        bad = len(args) >= 2 and arguments.looks_like_a_number(args[0])
        await message.reply_text(texts("bad_user_id", value=echo(args[0])) if bad else texts("allow_usage"))
        return
    query = " ".join(args[1:])
    found = find_members(await svc.directory.members(), query)
    if not found:
        await message.reply_text(texts("member_not_found", query=echo(query)))
        return
    if len(found) > 1:
        names = ", ".join(f"{m.name} ({m.internal_number or '—'})" for m in found)
        await message.reply_text(texts("member_ambiguous", query=echo(query), names=names))
        return
    member = found[0]
    grant(svc, telegram_id, member, caller)
    await settle_pending(context, svc, telegram_id, member, caller)
    await message.reply_text(
        texts("allow_done", telegram_id=telegram_id, member=member.name, internal=member.internal_number or "—")
    )


@requires("admin")
async def deny(update: Update, context: Context, caller: Caller) -> None:
    message, texts, svc = update.effective_message, caller.texts, caller.services
    assert message is not None
    args = context.args or []
    telegram_id = arguments.user_id(args[0]) if len(args) == 1 else None
    if telegram_id is None:
        bad = len(args) == 1 and arguments.looks_like_a_number(args[0])
        await message.reply_text(texts("bad_user_id", value=echo(args[0])) if bad else texts("deny_usage"))
        return
    if telegram_id in svc.settings.admin_ids:
        await message.reply_text(texts("deny_configured_admin"))
        return
    known = svc.storage.users.get(telegram_id)
    if known is not None and not known.is_active:  # nothing to revoke (a request they made since is settled)
        await settle_pending(context, svc, telegram_id, None, caller)
        await message.reply_text(texts("deny_already", telegram_id=telegram_id))
        return
    await revoke(context, svc, telegram_id, caller)
    await settle_pending(context, svc, telegram_id, None, caller)
    await message.reply_text(texts("deny_unknown" if known is None else "deny_done", telegram_id=telegram_id))


def _who(user: User) -> Html:
    """ " Eve @eve": what Telegram told us of the user, each part escaped, each after a space."""
    parts = (user.display_name, f"@{user.username}" if user.username else None)
    return Html("".join(" " + html.escape(part) for part in parts if part))


@requires("admin")
async def users(update: Update, context: Context, caller: Caller) -> None:
    texts, svc = caller.texts, caller.services
    rows = [
        texts(
            "user_row",
            telegram_id=user.telegram_id,
            name=_who(user),
            role=texts(f"role_{user.role}"),
            status=texts(f"user_{user.status}"),
            member=texts("user_member", member=user.member_name, internal=user.internal_number or "—")
            if user.member_name
            else Html(""),
        )
        for user in svc.storage.users.list()
    ]
    pending = svc.storage.access_requests.pending()
    footer = ["", texts("users_pending", count=len(pending))] if pending else []
    await caller.reply_lines([texts("users_header"), *rows, *footer])
