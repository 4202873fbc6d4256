"""/start for strangers: ask for access (optionally sharing one's phone), and the admins' approve/reject buttons."""

from __future__ import annotations

import logging
import time
from typing import Literal

from telegram import (
    InlineKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.constants import ChatType
from telegram.error import TelegramError

from bot import callback_data as cd
from bot import keyboards
from bot.access.checks import Caller, admit, allowed, enabled_in, refuse_member_gone, requires, texts_for
from bot.contacts import commands as contacts
from bot.context import Context
from bot.formatting import format_for_people
from bot.services import Services
from bot.texts import Html, Texts
from newtel import Member, phones
from storage import AccessRequest, Role

log = logging.getLogger(__name__)

REQUEST_COOLDOWN = 24 * 3600  # seconds a rejected or revoked user waits before asking the admins again
MAX_MEMBER_BUTTONS = 8  # keep the admin's message short; /allow covers the rest


async def start(update: Update, context: Context) -> None:
    svc = context.services
    sender, message, chat = update.effective_user, update.effective_message, update.effective_chat
    if sender is None or message is None or chat is None:
        return
    verdict = await admit(svc, context.bot, sender.id, "manager", sender)
    user = verdict.user
    texts = texts_for(update, svc, user)
    if verdict.refusal != "stranger":
        assert user is not None
        if verdict.refusal == "member_gone":
            await refuse_member_gone(update, texts, user)
        else:
            await message.reply_text(texts("start_known", name=user.member_name or sender.first_name))
        return
    if chat.type != ChatType.PRIVATE:
        return  # strangers get nothing in groups
    await message.reply_text(texts("start_stranger"), reply_markup=keyboards.request_access(texts))
    await message.reply_text(texts("share_contact_hint"), reply_markup=keyboards.share_contact(texts))


async def request_access(update: Update, context: Context) -> None:
    """The stranger's "Request access" button."""
    press, sender = update.callback_query, update.effective_user
    if press is None or sender is None:
        return
    svc = context.services
    texts = texts_for(update, svc)
    if allowed(svc.storage.users.get(sender.id), "manager"):
        await press.answer(texts.plain("already_allowed"))
        return
    if recently_refused(svc, sender.id):
        await press.answer(texts.plain("request_cooldown"), show_alert=True)
        return
    request, created = svc.storage.access_requests.create_or_get_pending(
        sender.id, sender.first_name, sender.username, now=int(time.time())
    )
    if created and not await _tell_admins(context, svc, request, await svc.directory.members_for_strangers()):
        # Nobody could be told: say so rather than "sent", and let them ask again later.
        svc.storage.access_requests.withdraw(request.id)
        await press.answer(texts.plain("request_not_delivered"), show_alert=True)
        return
    await press.answer(texts.plain("request_sent_short" if created else "request_pending_short"))
    if press.message is not None:
        await context.bot.send_message(sender.id, texts("request_sent" if created else "request_pending"))


async def contact_shared(update: Update, context: Context) -> None:
    """A stranger shares their phone: matched against the members' personal numbers for the admins. A manager
    who shares or forwards someone else's contact is offered to save that customer instead."""
    message, sender, chat = update.effective_message, update.effective_user, update.effective_chat
    if message is None or sender is None or message.contact is None or chat is None:
        return
    svc = context.services
    if message.contact.user_id != sender.id and allowed(svc.storage.users.get(sender.id), "manager"):
        # Where commands are answered only: a team group the bot is not enabled in hears nothing.
        if chat.type == ChatType.PRIVATE or enabled_in(chat, svc):
            await contacts.offer_shared(update, context)
        return
    if chat.type != ChatType.PRIVATE:
        return  # a contact shared in a group is the group's business, not an access request
    texts = texts_for(update, svc)
    if allowed(svc.storage.users.get(sender.id), "manager"):
        await message.reply_text(texts("already_allowed"), reply_markup=ReplyKeyboardRemove())
        return
    if message.contact.user_id != sender.id:
        await message.reply_text(texts("contact_not_own"))
        return
    if recently_refused(svc, sender.id):
        await message.reply_text(texts("request_cooldown"), reply_markup=ReplyKeyboardRemove())
        return
    number = phones.normalize(message.contact.phone_number) or ""
    members = await svc.directory.members_for_strangers()
    match = next((m for m in members or () if m.personal_number and m.personal_number == number), None)
    request, created = svc.storage.access_requests.create_or_get_pending(
        sender.id, sender.first_name, sender.username, now=int(time.time())
    )
    updated = svc.storage.access_requests.attach_phone(request.id, number, str(match.id) if match else None)
    if updated is not None and created and not await _tell_admins(context, svc, updated, members):
        svc.storage.access_requests.withdraw(updated.id)
        await message.reply_text(texts("request_not_delivered"), reply_markup=ReplyKeyboardRemove())
        return
    await message.reply_text(texts("request_sent"), reply_markup=ReplyKeyboardRemove())
    if updated is not None and not created and members is not None:  # without the list, the buttons would go
        await _refresh_admin_messages(context, svc, updated, members)


def recently_refused(svc: Services, telegram_id: int) -> bool:
    """A user the admins turned down (or revoked) within the cooldown: asking again would only pester them."""
    user = svc.storage.users.get(telegram_id)
    return (
        user is not None and user.status in ("denied", "revoked") and time.time() - user.updated_at < REQUEST_COOLDOWN
    )


async def _tell_admins(context: Context, svc: Services, request: AccessRequest, members: list[Member] | None) -> int:
    """Show the request to every admin (``members`` None: New-Tel's list is unavailable, they get it without the
    member buttons). Returns how many admins Telegram reached."""
    told = 0
    for admin in svc.storage.users.list(active_only=True):
        if not admin.is_admin:
            continue
        text, keyboard = _request_view(_texts_of(svc, admin.telegram_id), request, members)
        try:
            sent = await context.bot.send_message(admin.telegram_id, text, reply_markup=keyboard)
        except TelegramError as error:
            log.warning("could not tell admin %s about an access request: %s", admin.telegram_id, error)
            continue
        told += 1
        svc.storage.access_requests.add_admin_message(request.id, sent.chat_id, sent.message_id)
    return told


async def _refresh_admin_messages(
    context: Context, svc: Services, request: AccessRequest, members: list[Member] | None
) -> None:
    for chat_id, message_id in request.admin_messages:
        text, keyboard = _request_view(_texts_of(svc, chat_id), request, members)
        try:
            await context.bot.edit_message_text(text, chat_id=chat_id, message_id=message_id, reply_markup=keyboard)
        except TelegramError as error:
            log.info("could not refresh an access request message: %s", error)


def _texts_of(svc: Services, telegram_id: int) -> Texts:
    """The language a known user (an admin's private chat) chose, else the bot's."""
    user = svc.storage.users.get(telegram_id)
    return Texts(user.language if user is not None and user.language else svc.settings.bot_language)


def _request_view(
    texts: Texts, request: AccessRequest, members: list[Member] | None
) -> tuple[Html, InlineKeyboardMarkup]:
    matched = next((m for m in members or () if str(m.id) == request.matched_member_id), None)
    lines = [
        texts(
            "admin_request",
            name=request.first_name or "—",
            username=f"@{request.username}" if request.username else "—",
            telegram_id=request.telegram_id,
        )
    ]
    if request.phone:
        lines.append(texts("admin_request_phone", phone=format_for_people(request.phone)))
    if matched is not None:
        lines.append(texts("admin_request_match", member=matched.name))
    if members is None:
        lines.append(texts("admin_request_no_members", telegram_id=request.telegram_id))
    candidates = [matched] if matched is not None else (members or [])[:MAX_MEMBER_BUTTONS]
    return Html("\n".join(lines)), keyboards.access_decision(texts, request.id, candidates)


@requires("admin")
async def decide(update: Update, context: Context, caller: Caller) -> None:
    """An admin's Approve/Reject button; two admins pressing at once: the first decision wins."""
    approve, reject = cd.pressed(update, cd.Approve), cd.pressed(update, cd.Reject)
    found = approve or reject
    if found is None:
        return
    press, payload = found
    svc, texts, now = caller.services, caller.texts, int(time.time())
    request = svc.storage.access_requests.get(payload.request_id)
    if request is None:
        await press.answer(texts.plain("request_gone"), show_alert=True)
        return
    shown = press.message
    if shown is not None and request.admin_messages and (shown.chat.id, shown.message_id) not in request.admin_messages:
        await press.answer(texts.plain("button_foreign"), show_alert=True)  # another request's message
        return
    member = None
    if isinstance(payload, cd.Approve):
        member = next((m for m in await svc.directory.members() if str(m.id) == payload.member_id), None)
        if member is None:
            await press.answer(texts.plain("member_gone"), show_alert=True)
            return
    decision: Literal["approved", "denied"] = "approved" if member is not None else "denied"
    if not svc.storage.access_requests.decide(request.id, decision, by=caller.user.telegram_id, now=now):
        await press.answer(texts.plain("request_decided_already"), show_alert=True)
        return
    if member is not None:
        grant(svc, request.telegram_id, member, caller, display_name=request.first_name, username=request.username)
        notice = Texts(svc.settings.bot_language)("you_are_approved", member=member.name)
    else:
        await revoke(context, svc, request.telegram_id, caller)
        notice = Texts(svc.settings.bot_language)("you_are_rejected")
    await press.answer()
    shown_at = request.admin_messages
    if not shown_at and press.message is not None:
        shown_at = ((press.message.chat.id, press.message.message_id),)
    await _announce(context, svc, request, shown_at, member, caller, press.from_user.full_name)
    try:
        await context.bot.send_message(request.telegram_id, notice)
    except TelegramError as error:
        log.warning("could not tell user %s about the decision: %s", request.telegram_id, error)


async def settle_pending(context: Context, svc: Services, telegram_id: int, member: Member | None, by: Caller) -> None:
    """/allow or /deny decided what a pending request asked: it is settled, and its buttons go."""
    request = next((r for r in svc.storage.access_requests.pending() if r.telegram_id == telegram_id), None)
    decision: Literal["approved", "denied"] = "approved" if member is not None else "denied"
    if request is None or not svc.storage.access_requests.decide(
        request.id, decision, by=by.user.telegram_id, now=int(time.time())
    ):
        return
    sender = by.update.effective_user
    name = sender.full_name if sender is not None else str(by.user.telegram_id)
    await _announce(context, svc, request, request.admin_messages, member, by, name)


async def _announce(
    context: Context,
    svc: Services,
    request: AccessRequest,
    shown_at: tuple[tuple[int, int], ...],
    member: Member | None,
    by: Caller,
    fallback_name: str,
) -> None:
    """The decision replaces the request in every admin's message; the buttons go, so nobody decides twice."""
    who = request.first_name or request.telegram_id
    admin_name = by.user.member_name or by.user.display_name or fallback_name
    for chat_id, message_id in shown_at:
        their = _texts_of(svc, chat_id)  # each admin reads it in their own language
        if member is not None:
            outcome = their("request_approved", user=who, member=member.name)
        else:
            outcome = their("request_rejected", user=who)
        try:
            await context.bot.edit_message_text(
                Html(outcome + "\n" + their("decided_by", admin=admin_name)), chat_id=chat_id, message_id=message_id
            )
        except TelegramError as error:
            log.info("could not update an access request message: %s", error)


async def revoke(context: Context, svc: Services, telegram_id: int, by: Caller) -> None:
    """``telegram_id`` may no longer use the bot (/deny, or a request rejected), audited. What they took goes back to
    everyone, shown without them; their reminders would go to nobody. Doing it again redoes both, harmlessly."""
    now = int(time.time())
    svc.storage.users.deny(telegram_id, now=now)
    svc.storage.audit.log("user.deny", actor_id=by.user.telegram_id, target=str(telegram_id), now=now)
    released = svc.storage.alerts.release_all_of(telegram_id, now)
    svc.storage.reminders.cancel_for_user(telegram_id, "callback", now)
    if released:  # shown without them, in each chat's lane
        context.delivery.kick(context.bot)


def grant(
    svc: Services,
    telegram_id: int,
    member: Member,
    by: Caller,
    *,
    display_name: str | None = None,
    username: str | None = None,
) -> None:
    """Let ``telegram_id`` use the bot as ``member`` (an admin keeps their role) and audit it."""
    now = int(time.time())
    existing = svc.storage.users.get(telegram_id)
    role: Role = "admin" if existing is not None and existing.is_admin and existing.is_active else "manager"
    svc.storage.users.allow_member(telegram_id, role, member, display_name=display_name, username=username, now=now)
    svc.storage.audit.log(
        "user.allow",
        actor_id=by.user.telegram_id,
        target=str(telegram_id),
        details={"member": member.id, "role": role},
        now=now,
    )
