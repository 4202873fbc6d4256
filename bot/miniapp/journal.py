"""The journal: ``GET /app/api/me`` (who asks, their texts, the members) and ``GET /app/api/journal`` (the archive,
newest first, searched and filtered)."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()  # paths relative to /app (bot.miniapp.server mounts it)
