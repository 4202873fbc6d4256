"""Which group chats get the alerts: /subscribe and /unsubscribe (admins, in the group), and a move to a supergroup."""

from __future__ import annotations

import time

from telegram import Update

from bot.access.checks import Caller, requires
from bot.context import Context
from bot.formatting import format_for_people
from bot.texts import Html, Texts, echo
from newtel import phones
from storage import Chat

_BALANCE_WORDS = ("balance", "баланс")
_RECORDS_WORDS = ("records", "записи")  # each answered call's recording posted here
_SIP_WORDS = ("sip", "телефоны")  # a desk phone going offline and coming back (bot/health/sip.py)
_MIN_WORDS = ("min", "мин")  # "min 5": misses that rang under 5 seconds are not alerted here
MIN_RING_RANGE = range(1, 121)  # seconds
_OPTIONS = (("balance_alerts", "balance"), ("records", "records"), ("sip", "sip"))  # a Chat's field, /subscribe's word


def min_ring(words: list[str]) -> tuple[list[str], int | None, str | None]:
    """Takes "min <seconds>" out of ``words``: (the other words, the seconds or None when not asked, what was typed
    after "min" when it is not a number of seconds in ``MIN_RING_RANGE``, else None)."""
    for at, word in enumerate(words):
        if word.lower() in _MIN_WORDS:
            typed = words[at + 1] if at + 1 < len(words) else ""
            rest = words[:at] + words[at + 2 :]
            if typed.isdecimal() and int(typed) in MIN_RING_RANGE:
                return rest, int(typed), None
            return rest, None, typed
    return words, None, None


def company_numbers(words: list[str], company: list[str]) -> tuple[list[str], str | None]:
    """The company numbers typed as people write them, spaces and all ("+7 495 532-55-85 8 800 051 32 14"):
    the longest run of words that is one of ``company`` at a time. Returns (numbers, the first words that
    are not a company number, or None)."""
    chosen: list[str] = []
    start = 0
    while start < len(words):
        for end in range(len(words), start, -1):
            number = phones.normalize(" ".join(words[start:end]))
            if number is not None and number in company:
                if number not in chosen:
                    chosen.append(number)
                start = end
                break
        else:
            return chosen, " ".join(words[start:])
    return chosen, None


@requires("admin", group_only=True)
async def subscribe(update: Update, context: Context, caller: Caller) -> None:
    message, chat, texts, svc = update.effective_message, update.effective_chat, caller.texts, caller.services
    assert message is not None and chat is not None
    words = [a for a in " ".join(context.args or []).replace(",", " ").split()]
    words, shortest, bad_min = min_ring(words)
    if bad_min is not None:
        bad = texts("subscribe_bad_min", typed=echo(bad_min)) if bad_min else texts("subscribe_min_missing")
        await message.reply_text(bad)
        return
    balance = any(a.lower() in _BALANCE_WORDS for a in words)
    records = any(a.lower() in _RECORDS_WORDS for a in words)
    sip = any(a.lower() in _SIP_WORDS for a in words)
    company = (await svc.directory.numbers()).external
    options = (*_BALANCE_WORDS, *_RECORDS_WORDS, *_SIP_WORDS)
    chosen, unknown = company_numbers([a for a in words if a.lower() not in options], company)
    if unknown is not None:
        listed = ", ".join(format_for_people(n) for n in company)
        await message.reply_text(texts("subscribe_unknown_number", number=echo(unknown), numbers=listed))
        return
    now = int(time.time())
    before = svc.storage.chats.get(chat.id)
    after = svc.storage.chats.subscribe(
        chat.id, chat.title, chosen, balance, now=now, records=records, sip=sip, min_ring=shortest or 0
    )
    details: dict[str, object] = {"numbers": chosen, "balance": balance}
    if records:
        details["records"] = True
    if sip:
        details["sip"] = True
    if shortest:
        details["min_ring"] = shortest
    svc.storage.audit.log(
        "chat.subscribe", actor_id=caller.user.telegram_id, target=str(chat.id), details=details, now=now
    )
    scope = ", ".join(format_for_people(n) for n in chosen) if chosen else texts("all_numbers")
    text = texts("subscribed", numbers=scope)
    if balance:
        text = Html(text + "\n" + texts("subscribed_balance"))
    if records:
        text = Html(text + "\n" + texts("subscribed_records"))
    if sip:
        text = Html(text + "\n" + texts("subscribed_sip"))
    if shortest:
        text = Html(text + "\n" + texts("subscribed_min_ring", seconds=shortest))
    if before is not None and before.subscribed and (off := turned_off(before, after, texts)) is not None:
        text = Html(text + "\n" + off)
    await message.reply_text(text)


def turned_off(before: Chat, after: Chat, texts: Texts) -> Html | None:
    """The line that names what the chat had and this /subscribe, not naming it, turned off, with the /subscribe
    that keeps it too; None when nothing was."""
    had = [(word, getattr(before, field), getattr(after, field)) for field, word in _OPTIONS]
    dropped = [texts(f"option_{word}") for word, was, now in had if was and not now]
    if before.min_ring and not after.min_ring:
        dropped.append(texts("option_min_ring", seconds=before.min_ring))
    if not dropped:
        return None
    words = [format_for_people(n) for n in after.numbers]
    words += [word for word, was, now in had if was or now]
    if minimum := after.min_ring or before.min_ring:
        words.append(f"min {minimum}")
    return texts("subscribed_off", what=Html(", ".join(dropped)), command=" ".join(["/subscribe", *words]))


@requires("admin", group_only=True)
async def unsubscribe(update: Update, context: Context, caller: Caller) -> None:
    message, chat, texts, svc = update.effective_message, update.effective_chat, caller.texts, caller.services
    assert message is not None and chat is not None
    stored = svc.storage.chats.get(chat.id)
    if stored is None or not stored.subscribed:
        await message.reply_text(texts("not_subscribed"))
        return
    now = int(time.time())
    svc.storage.chats.unsubscribe(chat.id, now=now)
    svc.storage.audit.log("chat.unsubscribe", actor_id=caller.user.telegram_id, target=str(chat.id), now=now)
    await message.reply_text(texts("unsubscribed"))


async def chat_migrated(update: Update, context: Context) -> None:
    """Telegram's notice that a group became a supergroup (a new chat id): its subscription follows."""
    message = update.effective_message
    if message is None or message.migrate_to_chat_id is None:
        return
    context.services.storage.chats.move(message.chat.id, message.migrate_to_chat_id, now=int(time.time()))
