"""A chat's deadline and business hours (admins, in the group): ``/sla <minutes>`` (``off``: no deadline) and
``/hours 09:00-19:00 mon-fri`` (``off``: always). Without an argument each shows what is set."""

from __future__ import annotations

import re
import time

from telegram import Update

from bot.access.checks import Caller, requires
from bot.alerts import hours as business
from bot.alerts.hours import Hours
from bot.context import Context
from bot.texts import Html, Texts, echo
from storage import Chat

SLA_MAX = 7 * 24 * 60  # minutes: a week
_OFF = ("off", "выкл", "нет")
_SLA_OFF = (*_OFF, "0")
_MINUTES = re.compile(r"^(\d{1,6})\s*(?:m|min|мин|м)?\.?$")


def parse_sla(typed: str) -> int | None:
    """Minutes 1…SLA_MAX (``30``, ``30 мин``), 0 for off; None for anything else."""
    text = typed.strip().lower()
    if text in _SLA_OFF:
        return 0
    match = _MINUTES.match(text)
    if match is None or not 1 <= int(match[1]) <= SLA_MAX:
        return None
    return int(match[1])


def _minutes(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _hours_shown(chat: Chat, texts: Texts) -> str | None:
    found = Hours.of(chat)
    return None if found is None else _described(found, texts)


def _described(hours: Hours, texts: Texts) -> str:
    return hours.describe(texts.plain("hours_day_names").split(","), texts.plain("hours_every_day"))


async def _subscribed(caller: Caller, chat_id: int) -> Chat | None:
    """The chat's settings, or None (and it is told to subscribe first): they live with its subscription."""
    stored = caller.services.storage.chats.get(chat_id)
    if stored is None or not stored.subscribed:
        await caller.reply(caller.texts("schedule_not_subscribed"))
        return None
    return stored


@requires("admin", group_only=True)
async def sla(update: Update, context: Context, caller: Caller) -> None:
    chat, texts, svc = update.effective_chat, caller.texts, caller.services
    assert chat is not None
    stored = await _subscribed(caller, chat.id)
    if stored is None:
        return
    typed = " ".join(context.args or []).strip()
    if not typed:
        await caller.reply(_sla_now(stored, caller))
        return
    minutes = parse_sla(typed)
    if minutes is None:
        await caller.reply(texts("sla_usage", typed=echo(typed), max=SLA_MAX))
        return
    now = int(time.time())
    svc.storage.chats.set_sla(chat.id, minutes, now=now)
    svc.storage.audit.log(
        "chat.sla", actor_id=caller.user.telegram_id, target=str(chat.id), details={"minutes": minutes}, now=now
    )
    if minutes == 0:
        await caller.reply(texts("sla_off"))
        return
    await caller.reply(_with_hours(texts("sla_set", minutes=minutes), stored, texts))


def _sla_now(chat: Chat, caller: Caller) -> Html:
    texts, default = caller.texts, caller.services.settings.alert_sla_minutes
    minutes = default if chat.sla_minutes is None else chat.sla_minutes
    if minutes <= 0:
        return texts("sla_is_off")
    key = "sla_is_default" if chat.sla_minutes is None else "sla_is"
    return _with_hours(texts(key, minutes=_minutes(minutes)), chat, texts)


def _with_hours(text: Html, chat: Chat, texts: Texts) -> Html:
    shown = _hours_shown(chat, texts)
    return text if shown is None else Html(text + "\n" + texts("sla_business_hours", hours=shown))


@requires("admin", group_only=True)
async def hours(update: Update, context: Context, caller: Caller) -> None:
    chat, texts, svc = update.effective_chat, caller.texts, caller.services
    assert chat is not None
    stored = await _subscribed(caller, chat.id)
    if stored is None:
        return
    typed, zone = " ".join(context.args or []).strip(), svc.settings.timezone
    if not typed:
        shown = _hours_shown(stored, texts)
        await caller.reply(texts("hours_is_always") if shown is None else texts("hours_is", hours=shown, zone=zone))
        return
    now = int(time.time())
    if typed.lower() in _OFF:
        svc.storage.chats.set_hours(chat.id, None, now=now)
        svc.storage.audit.log("chat.hours", actor_id=caller.user.telegram_id, target=str(chat.id), now=now)
        await caller.reply(texts("hours_off"))
        return
    parsed = business.parse(typed)
    if parsed is None:
        await caller.reply(texts("hours_usage", typed=echo(typed)))
        return
    svc.storage.chats.set_hours(chat.id, parsed.to_json(), now=now)
    svc.storage.audit.log(
        "chat.hours", actor_id=caller.user.telegram_id, target=str(chat.id), details=parsed.to_json(), now=now
    )
    await caller.reply(texts("hours_set", hours=_described(parsed, texts), zone=zone))
