"""The customer card: ``GET|PUT /app/api/customer/<number>`` and their calls."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()  # paths relative to /app (bot.miniapp.server mounts it)
