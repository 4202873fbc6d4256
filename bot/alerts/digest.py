"""A chat's digests from the call archive, each the report of ``/report`` (a chart with its figures as the caption):
``/digest HH:MM`` every day, of yesterday; ``/digest weekly HH:MM`` on Mondays, of the past week (Monday to
Sunday), with the week's lost customers. Both in the bot's time zone, of the calls through the chat's company
numbers."""

from __future__ import annotations

import logging
import re
import time
from datetime import datetime, timedelta
from datetime import time as clock
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from telegram import InputFile, Update
from telegram.error import TelegramError

from bot.access.checks import Caller, requires
from bot.calls import periods
from bot.context import Context
from bot.reports.commands import Report, make
from bot.services import Services
from storage import Chat

if TYPE_CHECKING:
    from bot.context import App

log = logging.getLogger(__name__)

_HH_MM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_OFF = ("off", "выкл", "нет")
_WEEKLY = ("weekly", "неделя", "еженедельно")
MONDAY = 1  # PTB numbers the days of the week from Sunday (0)


def job_name(chat_id: int, weekly: bool = False) -> str:
    return f"digest_weekly:{chat_id}" if weekly else f"digest:{chat_id}"


def schedule(application: App, chat_id: int, at: str | None, *, weekly: bool = False) -> None:
    """(Re)schedule one chat's daily or weekly digest; ``at`` None removes it."""
    queue = application.job_queue
    assert queue is not None  # the job-queue extra is a dependency
    name = job_name(chat_id, weekly)
    for job in queue.get_jobs_by_name(name):
        job.schedule_removal()
    if at is None:
        return
    hours, minutes = (int(part) for part in at.split(":"))
    zone = application.bot_data.need_services().settings.zone
    when = clock(hours, minutes, tzinfo=zone)
    if weekly:
        queue.run_daily(send_weekly, time=when, days=(MONDAY,), chat_id=chat_id, name=name)
    else:
        queue.run_daily(send_daily, time=when, chat_id=chat_id, name=name)


def schedule_all(application: App) -> None:
    for chat in application.bot_data.need_services().storage.chats.subscribed():
        if chat.digest_time:
            schedule(application, chat.chat_id, chat.digest_time)
        if chat.digest_weekly:
            schedule(application, chat.chat_id, chat.digest_weekly, weekly=True)


@requires("admin", group_only=True)
async def digest_command(update: Update, context: Context, caller: Caller) -> None:
    message, chat, texts, svc = update.effective_message, update.effective_chat, caller.texts, caller.services
    assert message is not None and chat is not None
    words = [arg.strip().lower() for arg in context.args or []]
    weekly = bool(words) and words[0] in _WEEKLY
    wanted = (words[1:] if weekly else words) or [""]
    stored = svc.storage.chats.get(chat.id)
    if stored is None or not stored.subscribed:
        await message.reply_text(texts("not_subscribed_yet"))
        return
    match = _HH_MM.match(wanted[0]) if len(wanted) == 1 else None
    if match is None and (len(wanted) != 1 or wanted[0] not in _OFF):
        await message.reply_text(texts("digest_usage"))
        return
    at = None if match is None else f"{int(match[1]):02d}:{match[2]}"
    now = int(time.time())
    if weekly:
        svc.storage.chats.set_weekly_digest(chat.id, at, now=now)
    else:
        svc.storage.chats.set_digest(chat.id, at, now=now)
    schedule(context.application, chat.id, at, weekly=weekly)
    if at is None:
        await message.reply_text(texts("digest_weekly_off" if weekly else "digest_off"))
    else:
        await message.reply_text(
            texts("digest_weekly_set" if weekly else "digest_set", time=at, zone=svc.settings.timezone)
        )


def window(now: datetime, zone: ZoneInfo, weekly: bool) -> tuple[int, int]:
    """[start, end) of the digest sent at ``now``: yesterday, or the week (Monday to Sunday) before the day it is
    sent on. They are /report's "1d" and "7d" asked yesterday (whole days, up to yesterday's end)."""
    # A day back on the local clock: yesterday's date, however long the day (23 or 25 hours around a clock change).
    yesterday = now.astimezone(zone) - timedelta(days=1)
    found = periods.bounds("7d" if weekly else "1d", zone, yesterday)
    assert found is not None  # a number of days always is a period
    return found


async def prepare(svc: Services, chat: Chat, now: datetime, weekly: bool = False) -> Report:
    """The chat's digest as of ``now``, in its language, of its company numbers' calls (off the event loop); the
    weekly one names the week's lost customers too."""
    start, end = window(now, svc.settings.zone, weekly)
    texts = svc.chat_texts(chat.chat_id)
    title = "digest_weekly_title" if weekly else "digest_title"
    return await make(svc, start, end, texts, title, chat.numbers, chat=chat, with_lost=weekly)


async def send_daily(context: Context) -> None:
    await _send(context, weekly=False)


async def send_weekly(context: Context) -> None:
    await _send(context, weekly=True)


async def _send(context: Context, weekly: bool) -> None:
    job = context.job
    assert job is not None and job.chat_id is not None
    svc = context.services
    chat = svc.storage.chats.get(job.chat_id)
    if chat is None or not chat.subscribed:
        return
    made = await prepare(svc, chat, datetime.now(svc.settings.zone), weekly)
    try:
        if made.png is None:  # a day without calls, in words
            await context.bot.send_message(chat.chat_id, made.caption)
        else:
            await context.bot.send_photo(chat.chat_id, InputFile(made.png, filename="digest.png"), caption=made.caption)
    except TelegramError as error:
        log.warning("Digest for chat %s not delivered: %s", chat.chat_id, error)
