"""What the handlers and jobs depend on, created once in ``post_init`` and closed in ``post_shutdown``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiohttp
from telegram.ext import Application, CallbackContext

from bot.config import Settings
from newtel import CompanyNumbers, Member, NewtelClient
from storage import Storage

if TYPE_CHECKING:
    from typing import Any

_DIRECTORY_TTL = 60.0  # seconds; members and numbers change rarely, commands ask often


@dataclass
class Directory:
    """The company's members and numbers, cached briefly so each command costs one New-Tel call less."""

    client: NewtelClient
    _members: tuple[float, list[Member]] | None = field(default=None, repr=False)
    _numbers: tuple[float, CompanyNumbers] | None = field(default=None, repr=False)

    async def members(self) -> list[Member]:
        if self._members is None or time.monotonic() - self._members[0] > _DIRECTORY_TTL:
            self._members = (time.monotonic(), await self.client.company.get_members())
        return self._members[1]

    async def numbers(self) -> CompanyNumbers:
        if self._numbers is None or time.monotonic() - self._numbers[0] > _DIRECTORY_TTL:
            self._numbers = (time.monotonic(), await self.client.company.get_numbers())
        return self._numbers[1]


@dataclass
class Services:
    settings: Settings
    storage: Storage
    newtel: NewtelClient
    http: aiohttp.ClientSession  # one session: New-Tel requests and recording downloads
    directory: Directory

    @classmethod
    async def create(cls, settings: Settings) -> Services:
        storage = Storage.open(settings.database_path)
        storage.users.ensure_admins(settings.admin_ids, now=int(time.time()))
        http = aiohttp.ClientSession()
        client = NewtelClient(
            settings.newtel_access_key,
            settings.newtel_signing_key,
            settings.newtel_api_url,
            session=http,
            timeout=settings.newtel_timeout,
        )
        return cls(settings, storage, client, http, Directory(client))

    async def close(self) -> None:
        await self.newtel.close()
        await self.http.close()
        self.storage.close()


def services(context: CallbackContext[Any, Any, Any, Any] | Application[Any, Any, Any, Any, Any, Any]) -> Services:
    data = context.bot_data
    found = data.get("services")
    if not isinstance(found, Services):
        raise RuntimeError("services are created in post_init")
    return found
