"""``python -m bot``: the Telegram bot (the Procfile's worker), by long polling or a webhook."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import resource
import secrets
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from telegram import Update
from telegram.error import InvalidToken, RetryAfter, TelegramError

from bot import cli, logs, web
from bot.app import build_application
from bot.config import Settings, SettingsError, load
from bot.miniapp.server import make_miniapp
from bot.ratelimit import transient, wait_asked
from storage.backup import BackupFailed

log = logging.getLogger("bot.main")

# Start-up calls that fail transiently are retried after 1 s, then 2, 4… up to 60 s (each with jitter), forever.
RETRY_FIRST, RETRY_MAX = 1.0, 60.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
WEBHOOK_CHECK_SECONDS = 60.0  # after listening, when Telegram has tried to deliver whatever came meanwhile

Step = tuple[str, Callable[[], Awaitable[Any]]]  # a start-up call: the Bot API method it makes, and how
NO_ADMINS = (
    "Invalid settings (environment or .env):\n  ADMIN_IDS is required: your Telegram user id (e.g. 123456789, from "
    "@userinfobot); without an admin nobody could ever be let in"
)


def main(argv: list[str] | None = None) -> int:
    args = cli.parser().parse_args(argv)
    if args.command is not None:  # backup, restore
        return int(args.run(args))
    try:
        settings = load(Settings)
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    if not settings.admin_ids:  # a bot nobody could ever let anyone into
        print(NO_ADMINS, file=sys.stderr)
        return 2
    # One bot per database, before anything else is done: two would each answer every command.
    lock = cli.hold(settings.database_path)
    if lock is None:
        return 2
    try:
        return serve(settings)
    finally:
        lock.release()


def serve(settings: Settings) -> int:
    """The bot, until SIGINT or SIGTERM; the exit status."""
    hidden = [
        settings.telegram_bot_token.get_secret_value(),
        settings.newtel_access_key.get_secret_value(),
        settings.newtel_signing_key.get_secret_value(),
    ]
    webhook_secret = None
    if settings.webhook_url:
        # Never a webhook without authentication: whoever reaches the port could post updates "from" an admin.
        if settings.webhook_secret is not None:
            webhook_secret = settings.webhook_secret.get_secret_value()
        else:
            webhook_secret = secrets.token_urlsafe(32)  # 43 characters of A-Z a-z 0-9 _ -, as Telegram allows
        hidden.append(webhook_secret)
    if settings.newtel_events_secret is not None:
        hidden.append(settings.newtel_events_secret.get_secret_value())  # it is in the doorbell's URL
    logs.configure(settings.log_level, hidden)
    log.info("%s", starting(settings))
    raise_open_files_limit()  # room for the bot's own connections, whatever holds descriptors
    if settings.webhook_url and settings.webhook_secret is None:
        log.info("WEBHOOK_SECRET is not set: Telegram gets a random secret for this run")
    application = build_application(settings)
    try:
        run(application, settings, webhook_secret)
    except InvalidToken:
        print("Telegram refused TELEGRAM_BOT_TOKEN: check it with @BotFather.", file=sys.stderr)
        return 2
    except BackupFailed as error:  # a migration's: none without the way back
        log.error("The database was left unmigrated: its backup failed (%s)", error)
        return 1
    return 0


def starting(settings: Settings) -> str:
    """The one line that says how this run is set up: how Telegram is heard, where the state is, the intervals."""
    mode = f"webhook {settings.webhook_url} on port {settings.webhook_port}" if settings.webhook_url else "long polling"
    live = f"every {settings.live_interval:g} s" if settings.live_interval else "off"
    admins = len(settings.admin_ids)
    return (
        f"Starting: {mode}; database {settings.database_path.resolve()}; {admins} admin{'s' if admins != 1 else ''}; "
        f"live watch {live}, reconcile every {settings.poll_interval:g} s, desk phones every "
        f"{settings.sip_check_interval:g} s"
    )


def raise_open_files_limit() -> None:
    """The soft limit on open files up to the hard one (often 1024 of 4096 or more), so that the bot's own connections
    have room beside whatever its HTTP server holds (``bot.web`` sizes its cap by it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as error:  # some platforms cap it lower than they say (macOS: OPEN_MAX)
            log.info("The limit on open files stays at %d (%s)", soft, error)


def run(application: Any, settings: Settings, webhook_secret: str | None) -> None:
    """Start up (getMe, then deleteWebhook or setWebhook) retrying while Telegram is unavailable, then hand
    over to PTB's run_polling/run_webhook, which go on in the same event loop (asyncio.get_event_loop())
    and skip the initialize() already done."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    steps: list[Step] = [("getMe", application.initialize)]
    if settings.webhook_url:
        url = settings.webhook_url

        async def set_webhook() -> None:
            await application.bot.set_webhook(url, allowed_updates=Update.ALL_TYPES, secret_token=webhook_secret)

        steps.append(("setWebhook", set_webhook))
    else:
        steps.append(("deleteWebhook", application.bot.delete_webhook))
    if not started(loop, application, steps):
        return
    if settings.webhook_url:
        assert webhook_secret is not None
        loop.run_until_complete(serve_webhook(application, settings, webhook_secret))
        loop.close()
    else:
        # PTB repeats the (idempotent) bootstrap call; should Telegram fail just then, it retries (-1: forever).
        application.run_polling(allowed_updates=Update.ALL_TYPES, bootstrap_retries=-1)


async def serve_webhook(application: Any, settings: Settings, webhook_secret: str) -> None:
    """Webhook mode: the bot's own aiohttp server (``bot.web``) takes Telegram's updates into PTB's queue, and the
    doorbell beside them on the same port, until SIGINT or SIGTERM; the webhook itself is already set."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    if application.post_init is not None:
        await application.post_init(application)
    await application.start()
    live = application.bot_data.live
    events = settings.newtel_events_secret
    doorbell = (events.get_secret_value(), live.ring) if events is not None and live is not None else None
    path = urlsplit(str(settings.webhook_url)).path
    miniapp = make_miniapp(application) if settings.miniapp_url else None
    app = web.make_app(doorbell=doorbell, telegram=(path, webhook_secret, application), miniapp=miniapp)
    runner = await web.serve(app, settings.webhook_listen, settings.webhook_port)
    since = int(time.time())  # Telegram dates its errors in whole seconds
    checking = asyncio.create_task(check_webhook(application.bot, after=WEBHOOK_CHECK_SECONDS, since=since))
    try:
        await stop.wait()
    finally:
        checking.cancel()
        await runner.cleanup()
        await application.stop()
        if application.post_shutdown is not None:
            await application.post_shutdown(application)
        await application.shutdown()
        await application.bot.shutdown()


async def check_webhook(bot: Any, *, after: float, since: float) -> None:
    """``after`` seconds on, whether Telegram delivers to the webhook: nothing else would say, since setWebhook
    succeeds whether or not Telegram can reach the URL, and then no update ever comes. It cannot if updates wait and
    its last error came after ``since`` (a Unix time: when the bot began listening)."""
    await asyncio.sleep(after)
    try:
        info = await bot.get_webhook_info()
    except TelegramError as error:
        log.warning("Could not ask Telegram whether it delivers to the webhook (%s: %s)", type(error).__name__, error)
        return
    failed = info.last_error_date is not None and info.last_error_date.timestamp() >= since
    if failed and info.pending_update_count:
        log.warning(
            "Telegram cannot deliver updates to WEBHOOK_URL (%d waiting; its last error: %s): check that WEBHOOK_URL "
            "leads, through the reverse proxy, to where the bot listens (logged at start-up)",
            info.pending_update_count,
            info.last_error_message,
        )
    else:
        log.info(
            "Telegram reports no failure to deliver to the webhook (%d updates waiting)", info.pending_update_count
        )


def started(loop: asyncio.AbstractEventLoop, application: Any, steps: list[Step]) -> bool:
    """True once started up; False when SIGINT or SIGTERM came first (everything is then closed)."""
    task = loop.create_task(start_up(steps))
    stopped = False

    def stop() -> None:
        nonlocal stopped
        stopped = True
        task.cancel()

    for sig in STOP_SIGNALS:  # PTB's run_* replace these with their own
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(task)
    except BaseException:  # InvalidToken, or a failure that is not transient
        close(loop, application)
        raise
    if stopped:
        log.info("Stopped during start-up")
        close(loop, application)
        return False
    return True


def close(loop: asyncio.AbstractEventLoop, application: Any) -> None:
    try:
        loop.run_until_complete(application.shutdown())  # nothing to do unless initialize() succeeded
        loop.run_until_complete(application.bot.shutdown())  # the HTTP clients opened before getMe
    finally:
        loop.close()


async def start_up(steps: list[Step]) -> None:
    """Each step in turn (initialize() is getMe); transient failures are retried with capped exponential
    back-off and jitter, one log line each, forever; anything else (InvalidToken first) is raised."""
    backoff, attempt = RETRY_FIRST, 0
    for name, step in steps:
        while True:
            try:
                await step()
                break
            except TelegramError as error:
                if not transient(error):
                    raise
                attempt += 1
                delay = retry_after(error) or backoff * random.uniform(0.5, 1.0)
                log.warning(
                    "Telegram is unavailable at start-up (%s: %s: %s); retrying in %.1f s (start-up attempt %d)",
                    name,
                    type(error).__name__,
                    error,
                    delay,
                    attempt,
                )
                await asyncio.sleep(delay)
                backoff = min(backoff * 2, RETRY_MAX)


def retry_after(error: TelegramError) -> float | None:
    """The wait Telegram asked for (429), plus up to a second so that restarted instances spread out."""
    if not isinstance(error, RetryAfter):
        return None
    return wait_asked(error) + random.uniform(0, 1)


if __name__ == "__main__":
    sys.exit(main())
