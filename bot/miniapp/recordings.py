"""A call's recording, streamed through the bot with range requests: ``GET /app/api/recording/<call id>?t=``."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()  # paths relative to /app (bot.miniapp.server mounts it)
