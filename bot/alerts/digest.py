"""The optional daily digest per chat (``/digest HH:MM``): yesterday's calls answered, missed, called
back and still unanswered, in one message."""

from __future__ import annotations

import logging
import re
import time
from datetime import datetime, timedelta
from datetime import time as clock
from typing import TYPE_CHECKING

from telegram import Update
from telegram.error import TelegramError

from bot.access.checks import Caller, requires
from bot.context import Context
from bot.services import Services
from bot.texts import Html, Texts
from newtel import NewtelError

if TYPE_CHECKING:
    from bot.context import App

log = logging.getLogger(__name__)

_HH_MM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def job_name(chat_id: int) -> str:
    return f"digest:{chat_id}"


def schedule(application: App, chat_id: int, at: str | None) -> None:
    """(Re)schedule one chat's digest; ``at`` None removes it."""
    queue = application.job_queue
    assert queue is not None  # the job-queue extra is a dependency
    for job in queue.get_jobs_by_name(job_name(chat_id)):
        job.schedule_removal()
    if at is None:
        return
    hours, minutes = (int(part) for part in at.split(":"))
    zone = application.bot_data.need_services().settings.zone
    queue.run_daily(send, time=clock(hours, minutes, tzinfo=zone), chat_id=chat_id, name=job_name(chat_id))


def schedule_all(application: App) -> None:
    for chat in application.bot_data.need_services().storage.chats.subscribed():
        if chat.digest_time:
            schedule(application, chat.chat_id, chat.digest_time)


@requires("admin", group_only=True)
async def digest_command(update: Update, context: Context, caller: Caller) -> None:
    message, chat, texts, svc = update.effective_message, update.effective_chat, caller.texts, caller.services
    assert message is not None and chat is not None
    wanted = (context.args or [""])[0].strip().lower()
    stored = svc.storage.chats.get(chat.id)
    if stored is None or not stored.subscribed:
        await message.reply_text(texts("not_subscribed"))
        return
    now = int(time.time())
    if wanted in ("off", "выкл", "нет"):
        svc.storage.chats.set_digest(chat.id, None, now=now)
        schedule(context.application, chat.id, None)
        await message.reply_text(texts("digest_off"))
        return
    match = _HH_MM.match(wanted)
    if match is None:
        await message.reply_text(texts("digest_usage"))
        return
    at = f"{int(match[1]):02d}:{match[2]}"
    svc.storage.chats.set_digest(chat.id, at, now=now)
    schedule(context.application, chat.id, at)
    await message.reply_text(texts("digest_set", time=at, zone=svc.settings.timezone))


async def send(context: Context) -> None:
    assert context.job is not None and context.job.chat_id is not None
    chat_id = context.job.chat_id
    svc = context.services
    chat = svc.storage.chats.get(chat_id)
    if chat is None or not chat.subscribed:
        return
    texts = Texts(chat.language or svc.settings.bot_language)
    try:
        text = await render(svc, chat_id, chat.numbers, texts, datetime.now(svc.settings.zone))
        await context.bot.send_message(chat_id, text)
    except TelegramError as error:
        log.warning("Digest for chat %s not delivered: %s", chat_id, error)


async def render(svc: Services, chat_id: int, numbers: tuple[str, ...], texts: Texts, now: datetime) -> Html:
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    start, end = today - timedelta(days=1), today
    try:
        calls = await svc.background.vpbx.get_calls()
    except NewtelError as error:  # the day's other figures are the bot's own: send them anyway
        log.warning("Digest for chat %s without New-Tel's answered count: %s", chat_id, error)
        calls = None
    answered: int | str = (
        "—"
        if calls is None
        else sum(
            1
            for call in calls
            if call.is_inbound
            and call.is_answered
            and start <= call.start_time < end
            and (not numbers or call.dnid in numbers)
        )
    )
    counts = svc.storage.alerts.digest(chat_id, int(start.timestamp()), int(end.timestamp()))
    text = texts(
        "digest",
        day=start.strftime("%d.%m.%Y"),
        answered=answered,
        missed=counts.missed_calls,
        customers=counts.customers,
        called_back=counts.called_back,
        answered_later=counts.answered_later,
        done=counts.done,
        unanswered=counts.unanswered,
    )
    if start < now - timedelta(hours=24):
        text = Html(text + "\n" + texts("digest_partial"))
    return text
