"""The bot's settings for a benchmark: everything on loopback, quiet logs."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from bot.config import Settings
from bot.localchat import FakeBotAPI

TOKEN = "123456:BENCH-token-for-the-local-fake-api"  # the shape BotFather gives; only the fake API sees it


class NewtelEndpoint(Protocol):
    """A sandbox, in this process or another: where it listens and its keys."""

    @property
    def url(self) -> str: ...
    @property
    def access_key(self) -> str: ...
    @property
    def signing_key(self) -> str: ...


def local_settings(newtel: NewtelEndpoint, tg: FakeBotAPI, database: Path, poll_interval: float) -> Settings:
    return Settings(
        _env_file=None,
        telegram_bot_token=TOKEN,
        telegram_api_url=tg.url,
        newtel_api_url=newtel.url,
        newtel_access_key=newtel.access_key,
        newtel_signing_key=newtel.signing_key,
        database_path=database,
        poll_interval=poll_interval,
        log_level="WARNING",
    )
