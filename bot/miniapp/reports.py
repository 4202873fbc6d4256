"""The reports: ``GET /app/api/report`` (figures, text, chart) and ``POST /app/api/export``."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()  # paths relative to /app (bot.miniapp.server mounts it)
