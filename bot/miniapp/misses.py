"""The open misses: ``GET /app/api/misses`` and the desk's actions on one (``POST /app/api/misses/<id>/...``)."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()  # paths relative to /app (bot.miniapp.server mounts it)
