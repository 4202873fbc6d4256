"""The composition root: builds the Application, registers every handler in one visible list, and
creates the services in post_init."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from telegram import BotCommand, BotCommandScopeDefault, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    Defaults,
    MessageHandler,
    filters,
)

from bot import backups, errors, interpreter, web
from bot import callback_data as cd
from bot.access import admin, checks, requests
from bot.alerts import board, buttons, deadlines, digest, held, reminders, schedule, subscriptions
from bot.calls import commands as calls
from bot.company import commands as company
from bot.config import Settings
from bot.contacts import commands as contacts
from bot.contacts import forget
from bot.context import CONTEXT_TYPES, App
from bot.health import sip
from bot.miniapp import ways_in
from bot.miniapp.server import make_miniapp
from bot.monitor import Monitor
from bot.monitor import status as monitor_status
from bot.profile import commands as profile
from bot.profile import unknown
from bot.ratelimit import PatientRateLimiter
from bot.reports import commands as reports
from bot.reports import lost
from bot.ringing import commands as ringing
from bot.services import Services
from bot.texts import CATALOGS, Texts
from bot.watch import poller

log = logging.getLogger(__name__)

# (command, catalog key of its menu description); the menu shows what managers use, admins see more in /help.
MENU = [
    ("balance", "menu_balance"),
    ("app", "menu_app"),
    ("calls", "menu_calls"),
    ("call", "menu_call"),
    ("record", "menu_record"),
    ("report", "menu_report"),
    ("lost", "menu_lost"),
    ("name", "menu_name"),
    ("contacts", "menu_contacts"),
    ("members", "menu_members"),
    ("numbers", "menu_numbers"),
    ("whoami", "menu_whoami"),
    ("phone", "menu_phone"),
    ("notify", "menu_notify"),
    ("lang", "menu_lang"),
    ("help", "menu_help"),
]


def command(names: str | list[str], callback: Any) -> CommandHandler[Any, Any]:
    """A command from a new message only: editing an old "/call …" must not place the call again."""
    return CommandHandler(names, callback, filters=filters.UpdateType.MESSAGE)


def handlers() -> dict[int, Sequence[Any]]:
    """Every handler, in the order PTB tries them (first match wins within a group; lower groups run first)."""
    guards = [
        # A button press counts only for the message that carries that button (forged payloads stop here).
        CallbackQueryHandler(checks.refuse_foreign_press),
    ]
    features = [
        # Access: strangers ask, admins decide.
        command("start", requests.start),
        MessageHandler(filters.CONTACT, requests.contact_shared),
        CallbackQueryHandler(requests.request_access, pattern=cd.matches(cd.RequestAccess)),
        CallbackQueryHandler(requests.decide, pattern=cd.matches(cd.Approve, cd.Reject)),
        command("allow", admin.allow),
        command("deny", admin.deny),
        command("users", admin.users),
        command("status", monitor_status.status),  # version, uptime, the watchers, the database, the last backup
        # The company.
        command("balance", company.balance),
        command("members", company.members),
        command("numbers", company.numbers),
        # Calls.
        command("calls", calls.calls),
        CallbackQueryHandler(calls.calls_page, pattern=cd.matches(cd.CallsPage)),
        command("call", calls.call),
        command("record", calls.record),
        # The customer book (a contact a manager passes on is offered by requests.contact_shared).
        command("name", contacts.name),
        CallbackQueryHandler(contacts.card_call, pattern=cd.matches(cd.CardCall)),
        CallbackQueryHandler(contacts.card_rename, pattern=cd.matches(cd.CardRename)),
        CallbackQueryHandler(contacts.card_remove, pattern=cd.matches(cd.CardRemove)),
        CallbackQueryHandler(contacts.card_restore, pattern=cd.matches(cd.CardRestore)),
        CallbackQueryHandler(contacts.offer_decided, pattern=cd.matches(cd.SaveShared, cd.SkipShared)),
        command("contacts", contacts.contacts),
        command("import", contacts.import_command),
        MessageHandler(contacts.IMPORT_FILE, contacts.import_file),
        CallbackQueryHandler(contacts.import_decided, pattern=cd.matches(cd.ImportApply, cd.ImportCancel)),
        command("forget", forget.forget),  # a customer forgotten on their request, once the admin confirms
        CallbackQueryHandler(forget.forget_decided, pattern=cd.matches(cd.Forget, cd.ForgetCancel)),
        # The user's own.
        command("whoami", profile.whoami),
        command("phone", profile.phone),
        command(["lang", "language"], profile.language),
        command("help", profile.help_command),
        command("app", ways_in.app_command),  # the Mini App (bot.miniapp)
        command("notify", ringing.notify),
        # Alerts in the team groups.
        command("subscribe", subscriptions.subscribe),
        command("unsubscribe", subscriptions.unsubscribe),
        MessageHandler(filters.StatusUpdate.MIGRATE, subscriptions.chat_migrated),
        command("digest", digest.digest_command),
        command("sla", schedule.sla),  # the chat's callback deadline
        command("hours", schedule.hours),  # the chat's business hours
        command("board", board.board_command),  # the pinned list of open alerts, posted anew
        # Reports from the archive (the digest above sends the same report on a schedule).
        command("report", reports.report),
        command("export", reports.export_calls),
        command("lost", lost.lost_command),
        CallbackQueryHandler(buttons.call_back, pattern=cd.matches(cd.CallBack)),
        CallbackQueryHandler(buttons.done, pattern=cd.matches(cd.Done)),
        # The alert's owner, and the private reminder after a call back nobody answered.
        CallbackQueryHandler(buttons.take, pattern=cd.matches(cd.Take)),
        CallbackQueryHandler(buttons.release, pattern=cd.matches(cd.Release)),
        CallbackQueryHandler(buttons.remind_me, pattern=cd.matches(cd.RemindMe)),
        CallbackQueryHandler(reminders.remind_call, pattern=cd.matches(cd.RemindCall)),
        CallbackQueryHandler(reminders.remind_done, pattern=cd.matches(cd.RemindDone)),
        # Last: a message none of the above took gets a hint in private (a group only when it addresses the bot).
        MessageHandler(unknown.LEFT_OVER, unknown.left_over),
    ]
    return {-1: guards, 0: features}


async def post_init(application: App) -> None:
    data = application.bot_data
    assert data.settings is not None
    data.services = await Services.create(data.settings, data.monitor)
    await register_menu(application)
    await ways_in.set_menu_button(application)
    poller.start(application)
    deadlines.start(application)  # reminders past a deadline, then the admins (stored: a restart repeats none)
    reminders.start(application)  # "Remind me": the presser's private reminder (stored, sent once)
    held.start(application)  # the summary of misses outside business hours, when they begin
    settings, live = data.settings, data.live
    if not settings.webhook_url:  # webhook mode: bot.__main__ serves these beside Telegram's webhook
        doorbell = None
        if settings.newtel_events_secret is not None:
            if live is None:
                log.warning("NEWTEL_EVENTS_SECRET is set but LIVE_INTERVAL is 0: the doorbell has nothing to ring")
            else:
                doorbell = (settings.newtel_events_secret.get_secret_value(), live.ring)
        miniapp = make_miniapp(application) if settings.miniapp_url else None
        if doorbell is not None or miniapp is not None:
            served = web.make_app(doorbell=doorbell, miniapp=miniapp)
            data.web = await web.serve(served, settings.newtel_events_listen, settings.newtel_events_port)
    monitor = data.services.monitor
    monitor.start(data)  # the event loop's lag; the poller's and live watch's rounds are read from here on
    if settings.monitor_port:  # in webhook mode too (bot.__main__ calls post_init the same way)
        data.monitoring = await web.serve(web.make_app(monitor=monitor), settings.monitor_listen, settings.monitor_port)
    sip.start(application)  # the desk phones' registration, beside the poll (SIP_OFFLINE_ALERT=0: not at all)
    data.backups = backups.start(application)  # scheduled, into BACKUP_DIR (unset: none)
    digest.schedule_all(application)
    assert application.job_queue is not None
    application.job_queue.run_repeating(contacts.tidy, interval=contacts.TIDY_EVERY, first=60, name="tidy-contacts")
    interpreter.settle()  # last: what start-up built is out of the collector's sight (bot.interpreter)


async def post_shutdown(application: App) -> None:
    data = application.bot_data
    if data.backups is not None:  # before the storage closes: a backup under way is given up
        await data.backups.stop()
        data.backups = None
    for runner in (data.web, data.monitoring):
        if runner is not None:
            await runner.cleanup()
    data.web = data.monitoring = None
    if data.monitor is not None:
        await data.monitor.stop()
    if data.live is not None:
        await data.live.stop()
        data.live = None
    if data.poller is not None:
        await data.poller.lanes.stop()
    found, application.bot_data.services = application.bot_data.services, None
    if found is not None:
        await found.close()
    interpreter.restore()


async def register_menu(application: App) -> None:
    """setMyCommands in both languages (and the default for everyone else); a failure is not fatal."""
    settings = application.bot_data.need_services().settings
    for language in (None, *CATALOGS):
        texts = Texts(language or settings.bot_language)
        commands = [BotCommand(name, texts.plain(key)) for name, key in MENU]
        try:
            await application.bot.set_my_commands(commands, scope=BotCommandScopeDefault(), language_code=language)
        except TelegramError as error:
            log.warning("could not register the command menu (%s): %s", language or "default", error)


def build_application(settings: Settings) -> App:
    token = settings.telegram_bot_token.get_secret_value()
    monitor = Monitor()  # the rate limiter's requests to Telegram are counted from the first
    application = (
        ApplicationBuilder()
        .token(token)
        .base_url(f"{settings.telegram_api_url}/bot")
        .base_file_url(f"{settings.telegram_api_url}/file/bot")
        .context_types(CONTEXT_TYPES)
        .defaults(Defaults(parse_mode=ParseMode.HTML, link_preview_options=None))
        # Groups are held to Telegram's ~20 messages a minute and a 429 is waited out when it fits the request's
        # budget (bot/ratelimit.py).
        # No preemptive overall cap: 30/s is Telegram's figure for broadcasts, and replies to 100 people
        # asking at once must not queue behind it; Telegram's 429 is the real limit and it is honoured.
        .rate_limiter(PatientRateLimiter(monitor, overall_max_rate=0))
        .concurrent_updates(32)  # one slow New-Tel answer must not hold up everyone else
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .build()
    )
    application.bot_data.settings, application.bot_data.monitor = settings, monitor
    application.add_handlers(handlers())
    application.add_error_handler(errors.on_error)
    return application


@contextlib.asynccontextmanager
async def running(application: App) -> AsyncIterator[Services]:
    """Run in an already running event loop (tests, the demo, benchmarks): what run_polling does, by hand."""
    await application.initialize()
    try:
        if application.post_init is not None:
            await application.post_init(application)
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0.0, timeout=10, allowed_updates=Update.ALL_TYPES)
        await application.start()
        try:
            yield application.bot_data.need_services()
        finally:
            if application.updater.running:
                await application.updater.stop()
            if application.running:
                await application.stop()
            if application.post_shutdown is not None:
                await application.post_shutdown(application)
    finally:
        await application.shutdown()
