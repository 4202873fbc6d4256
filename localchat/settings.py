"""The bot's settings for a run on this machine (the demo, tests, benchmarks): everything on loopback, and taken
from the code only, so a developer's shell environment or ``.env`` (``LOW_BALANCE_THRESHOLD=9999``, a real
token) never leaks into them."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from bot.config import Settings

TOKEN = "123456:LOCAL-token-for-the-fake-bot-api"  # the shape BotFather gives; only the fake API sees it


class Endpoint(Protocol):
    """Where a local server listens (the fake Bot API's ``url``)."""

    @property
    def url(self) -> str: ...


class NewtelEndpoint(Endpoint, Protocol):
    """A New-Tel sandbox, in this process or another: where it listens and its keys."""

    @property
    def access_key(self) -> str: ...
    @property
    def signing_key(self) -> str: ...


class _CodeOnly(Settings):
    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource, *_: Any, **__: Any
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def local_settings(newtel: NewtelEndpoint, telegram: Endpoint, database: Path, **overrides: Any) -> Settings:
    """Settings for the bot between a sandbox and a fake Bot API; ``overrides`` as the fields' names."""
    values: dict[str, Any] = {
        "telegram_bot_token": TOKEN,
        "telegram_api_url": telegram.url,
        "newtel_api_url": newtel.url,
        "newtel_access_key": newtel.access_key,
        "newtel_signing_key": newtel.signing_key,
        "newtel_recording_hosts": (newtel.url,),  # the sandbox serves its recordings itself, over plain http
        "database_path": database,
        "monitor_port": 0,  # no /healthz and /metrics: demos and tests running at once must not fight over 8082
        **overrides,
    }
    return _CodeOnly(**values)
