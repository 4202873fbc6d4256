"""The bot's settings: read once at the entry point from the environment or ``.env``, nowhere else."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

import newtel
from newtel import phones
from storage import Language

_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]{20,}$")
# Telegram allows 1-256 of these characters; fewer than 16 could be guessed by anyone who can reach the port.
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{16,256}")
S = TypeVar("S", bound="DatabaseSettings")


class DatabaseSettings(BaseSettings):
    """The settings of the database alone: all that ``python -m bot backup`` and ``restore`` read, so that they run
    without the Telegram and New-Tel keys."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True)

    database_path: Path = Path("bot.db")
    # Scheduled backups of the running bot go here (unset: none); a migration's own backup too (unset: beside it).
    backup_dir: Path | None = None
    backup_every_hours: float = Field(
        default=24, gt=0, le=24 * 366, description="hours between the scheduled backups"
    )  # fractions of an hour are for tests
    backup_keep: int = Field(default=7, ge=1, le=10_000, description="scheduled backups kept in BACKUP_DIR")

    @field_validator("database_path", "backup_dir")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        # Relative paths are read from the directory the bot starts in (systemd's WorkingDirectory=): said and used
        # whole from then on, so that a command run from elsewhere names the file it looked for.
        return None if value is None else value.absolute()


class Settings(DatabaseSettings):
    telegram_bot_token: SecretStr
    telegram_api_url: str = "https://api.telegram.org"
    newtel_api_url: str = "https://api.new-tel.net"
    newtel_access_key: SecretStr
    newtel_signing_key: SecretStr
    # Where New-Tel's links to recordings may lead, redirects included: https on these hosts (``host[:port]``) and
    # on NEWTEL_API_URL's; plain http only to an origin named whole (``http://127.0.0.1:8080``, the sandbox).
    newtel_recording_hosts: Annotated[tuple[str, ...], NoDecode] = newtel.DEFAULT_LINK_HOSTS
    newtel_timeout: float = Field(default=10.0, gt=0, le=120, description="seconds to wait for one New-Tel answer")
    newtel_command_deadline: float = Field(
        default=12.0, gt=0, le=120, description="seconds a person's command waits for New-Tel in all, retries included"
    )
    admin_ids: Annotated[tuple[int, ...], NoDecode] = ()
    # The reconcile: New-Tel's day of call ids, and what the live watch did not see (default from bench/live.py).
    poll_interval: float = Field(default=60.0, ge=0.2, le=3600)
    live_interval: float = Field(default=3.0, ge=0, le=60, description="seconds between live checks; 0: off")
    newtel_max_rps: float = Field(
        default=10.0, gt=0, le=1000, description="New-Tel requests a second at most, all in all"
    )
    newtel_events_secret: SecretStr | None = None  # set: POST /newtel/<secret> rings the live watch's doorbell
    newtel_events_port: int = Field(
        default=8081, ge=1, le=65535, description="the doorbell's port when polling Telegram"
    )
    # Loopback unless told otherwise: in front of the bot's server goes a TLS reverse proxy (see the README).
    newtel_events_listen: str = "127.0.0.1"  # the doorbell's address when polling Telegram
    sip_check_interval: float = Field(
        default=60, ge=5, le=3600, description="seconds between looks at which desk phones are registered"
    )
    sip_offline_alert: float = Field(
        default=300, ge=0, le=86400, description="seconds unregistered before it is reported; 0 off"
    )
    default_caller_id: str | None = None
    timezone: str = "Europe/Moscow"
    bot_language: Language = "ru"
    low_balance_threshold: Decimal = Decimal("500")
    call_retention_days: int = Field(default=365, ge=1, le=3650, description="days the call archive keeps a call")
    alert_max_age: float = Field(default=24 * 3600, gt=0, description="seconds; older missed calls are not alerted")
    alert_remind_minutes: float = Field(
        default=30, gt=0, le=24 * 60, description="minutes from a Remind me press to the private reminder"
    )  # fractions of a minute are for tests
    alert_sla_minutes: float = Field(
        default=15, ge=0, le=7 * 24 * 60, description="minutes (business time) to call a miss back; 0: no deadline"
    )  # a chat's /sla overrides it; fractions of a minute are for tests
    short_ring_seconds: int = Field(
        default=0, ge=0, le=120, description="misses that rang under this count as short in reports; 0: none"
    )
    alert_board: bool = True  # every subscribed chat gets the pinned board of its open alerts (False: on /board)
    webhook_url: str | None = None
    # Loopback: a reverse proxy on this host forwards WEBHOOK_URL here. On a platform, or with the proxy in another
    # container, 0.0.0.0 (a name is listened on at each of its addresses; "::" is every IPv6 and IPv4 address).
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = Field(default=8443, ge=1, le=65535)
    webhook_secret: SecretStr | None = None
    # GET /healthz and /metrics, on a listener of their own apart from the webhook and the doorbell (which may face the
    # internet): loopback, for a healthcheck and a Prometheus on this host; 0.0.0.0 for one in another container.
    monitor_listen: str = "127.0.0.1"
    monitor_port: int = Field(default=8082, ge=0, le=65535, description="/healthz and /metrics' port; 0: off")
    # The Mini App (bot.miniapp): its public https address, BotFather's "Web App URL" (unset: off). The bot serves it
    # at /app/ on the webhook's server, or on NEWTEL_EVENTS_PORT's when polling.
    miniapp_url: str | None = None
    miniapp_auth_max_age: int = Field(
        default=3600, ge=10, le=7 * 24 * 3600, description="seconds the page's Telegram sign-in is accepted"
    )
    miniapp_short_name: str | None = None  # BotFather's short name of the app: groups' alerts link to it (t.me/bot/app)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("telegram_bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        if not _TOKEN.match(value.get_secret_value()):
            raise ValueError("must look like 123456789:AA… (the token BotFather gave)")
        return value

    @field_validator("webhook_secret", "newtel_events_secret")
    @classmethod
    def _webhook_secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _WEBHOOK_SECRET.fullmatch(value.get_secret_value()):
            raise ValueError(
                "must be 16 to 256 characters, each A-Z, a-z, 0-9, _ or - (or leave it empty for a random one)"
            )
        return value

    @field_validator("newtel_access_key", "newtel_signing_key")
    @classmethod
    def _key_shape(cls, value: SecretStr) -> SecretStr:
        if not newtel.is_key(value.get_secret_value()):
            raise ValueError("must be 48 lowercase hexadecimal digits")
        return value

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [part.strip() for part in value.split(",") if part.strip()]
            if not all(part.lstrip("-").isdigit() for part in parts):
                raise ValueError("must be Telegram user ids separated by commas, e.g. 12345,67890")
            return tuple(int(part) for part in parts)
        return value

    @field_validator("newtel_recording_hosts", mode="before")
    @classmethod
    def _link_hosts(cls, value: object) -> object:
        hosts = newtel.parse_link_hosts(value) if isinstance(value, str) else value
        if isinstance(hosts, list | tuple) and not all(isinstance(h, str) and newtel.is_link_host(h) for h in hosts):
            raise ValueError("must be host names (web.new-tel.net), host:port or http(s)://host[:port], by commas")
        return hosts

    @field_validator("default_caller_id")
    @classmethod
    def _caller_id(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        digits = phones.caller_id(value)
        if digits is None:
            raise ValueError("must be one of the company's phone numbers, e.g. +7 495 123-45-67")
        return digits

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone such as Europe/Moscow") from None
        return value

    @field_validator("telegram_api_url", "newtel_api_url", "webhook_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/") if value else value

    @field_validator("miniapp_url")
    @classmethod
    def _miniapp_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", value):
            raise ValueError("must be the page's address, https://your.host/app/")
        return value.rstrip("/") + "/"  # the page's base: its files and API are beside it

    @field_validator("miniapp_short_name")
    @classmethod
    def _short_name(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not re.fullmatch(r"[A-Za-z0-9_]{3,30}", value):  # as BotFather allows them
            raise ValueError("must be the app's short name from BotFather: 3-30 letters, digits or _")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class SettingsError(Exception):
    """The settings cannot be used; the message (a line per problem, never a value) is for the operator."""


def load(kind: type[S]) -> S:
    """``kind`` filled from the environment and ``.env`` (in the current directory), or ``SettingsError``."""
    try:
        return kind()
    except ValidationError as error:
        raise SettingsError(describe_errors(error)) from None
    except UnicodeDecodeError as error:  # saved by an editor in cp1251, say
        raise SettingsError(
            f"Cannot read {Path('.env').absolute()}: it is not UTF-8 text (byte {error.object[error.start]:#04x} at "
            f"position {error.start}); save it as UTF-8"
        ) from None
    except OSError as error:  # a directory the user may not read (sudo -u from another user's home)
        raise SettingsError(
            f"Cannot read {Path('.env').absolute()}: {error.strerror} (the settings come from the environment and "
            ".env in the current directory)"
        ) from None


def describe_errors(error: ValidationError) -> str:
    """One line per bad setting, named as in the environment; never the value (it may be a secret)."""
    lines = []
    for problem in error.errors(include_url=False, include_input=False):
        name = str(problem["loc"][0]).upper() if problem["loc"] else "settings"
        reason = "is required" if problem["type"] == "missing" else problem["msg"].removeprefix("Value error, ")
        lines.append(f"  {name} {reason}")
    return "Invalid settings (environment or .env):\n" + "\n".join(lines)
