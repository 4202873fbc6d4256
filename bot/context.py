"""The typed context of every handler and job (like python-telegram-bot's ``contexttypesbot.py``): what the bot
depends on is ``context.services`` and ``context.delivery``, not ``bot_data["…"]`` lookups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot

from bot.config import Settings
from bot.services import Services

if TYPE_CHECKING:
    from aiohttp.web import AppRunner

    from bot.alerts.delivery import Delivery
    from bot.backups import Backups
    from bot.monitor import Monitor
    from bot.watch.live import LiveWatch
    from bot.watch.poller import Poller


@dataclass
class BotData:
    """The application's ``bot_data``. PTB makes it empty; each part is set once, in this order."""

    settings: Settings | None = None  # by build_application
    monitor: Monitor | None = None  # by build_application: metrics and health (bot.monitor)
    services: Services | None = None  # in post_init, closed in post_shutdown
    poller: Poller | None = None  # in post_init: the missed-call poll, its delivery and balance watch
    live: LiveWatch | None = None  # in post_init, unless LIVE_INTERVAL is 0; stopped in post_shutdown
    web: AppRunner | None = None  # the doorbell's and the Mini App's server when polling Telegram (bot.web)
    backups: Backups | None = None  # in post_init when BACKUP_DIR is set; stopped in post_shutdown
    monitoring: AppRunner | None = None  # in post_init unless MONITOR_PORT is 0: /healthz and /metrics (bot.web)

    def need_services(self) -> Services:
        if self.services is None:
            raise RuntimeError("services are created in post_init")
        return self.services

    def need_poller(self) -> Poller:
        if self.poller is None:
            raise RuntimeError("the poller is created in post_init")
        return self.poller


class Context(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotData]):
    @property
    def services(self) -> Services:
        return self.bot_data.need_services()

    @property
    def delivery(self) -> Delivery:
        """Where every alert message is sent and edited."""
        return self.bot_data.need_poller().delivery


CONTEXT_TYPES = ContextTypes(context=Context, bot_data=BotData)
# The application as the bot builds it (its bot and job queue types are left to PTB).
App = Application[Any, Any, Any, Any, BotData, Any]
