"""The admins' /status: the bot's version and uptime, how Telegram is heard, what /healthz would answer and why, when
the live check and the reconcile last went through, New-Tel's errors in the last hour, the database's size and the
last backup. In private only: it says what the operator needs, not what a group should read."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from telegram import Update

from bot import __version__
from bot.access.checks import Caller, requires
from bot.context import Context
from bot.formatting import elapsed, moment, size
from bot.monitor.monitor import Freshness, Health, Monitor
from bot.texts import Html, Texts


@requires("admin", private_only=True)
async def status(update: Update, context: Context, caller: Caller) -> None:
    svc, texts = caller.services, caller.texts
    monitor = svc.monitor
    health = await monitor.health()
    by_name = {fresh.name: fresh for fresh in health.newtel}
    live = by_name.get("live_check")
    file_bytes, wal_bytes = monitor.database_bytes()
    lines: list[str] = [
        texts(
            "status_header",
            version=__version__,
            uptime=elapsed(monitor.uptime, texts.lang),
            mode=texts("status_webhook" if svc.settings.webhook_url else "status_polling"),
        ),
        _verdict(health, texts),
        texts("status_live_check", when=_when(live, texts)) if live else texts("status_live_off"),
        texts("status_reconcile", when=_when(by_name.get("reconcile"), texts)),
        texts("status_newtel_errors", count=monitor.newtel_errors_last_hour()),
        texts("status_database", file=size(file_bytes, texts.lang), wal=size(wal_bytes, texts.lang)),
        _backup(monitor, svc.settings.zone, texts),
    ]
    await caller.reply_lines(lines)


def _verdict(health: Health, texts: Texts) -> Html:
    if health.healthy:
        return texts("status_healthy")
    problems = []
    if health.stale:
        problems.append(texts("status_stale", what=", ".join(texts.plain(f"status_name_{n}") for n in health.stale)))
    if health.database != "writable":
        problems.append(texts(f"status_database_{health.database}"))
    return texts("status_unhealthy", problems=Html("; ".join(problems)))


def _when(fresh: Freshness | None, texts: Texts) -> Html:
    if fresh is None or fresh.age is None:
        return texts("status_never")
    return texts("status_ago", age=elapsed(fresh.age, texts.lang))


def _backup(monitor: Monitor, zone: ZoneInfo, texts: Texts) -> Html:
    backup = monitor.last_backup()
    if backup is None:
        return texts("status_backup_none" if monitor.backups_on else "status_backup_off")
    now = datetime.now(UTC)
    return texts(
        "status_backup",
        when=moment(datetime.fromtimestamp(backup.at, UTC), zone, texts.lang, now),
        age=elapsed(time.time() - backup.at, texts.lang),
        size=size(backup.size, texts.lang),
    )
