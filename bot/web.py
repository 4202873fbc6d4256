"""The bot's one HTTP server (aiohttp): Telegram's webhook in webhook mode, and New-Tel's doorbell.

New-Tel can push call events to a URL ("Webhook-оповещения" in its personal account), but its document does not
say what they hold. So a request to ``POST /newtel/<NEWTEL_EVENTS_SECRET>`` is only a doorbell: it makes the live
watch look now (at most once a second however many arrive), and its body is never read, let alone trusted. Any
other path, a wrong secret included, is 404 and changes nothing.

In webhook mode the same application takes Telegram's updates (checked against the webhook's secret token) into
PTB's update queue, as PTB's custom-webhook example does; when polling Telegram it listens on NEWTEL_EVENTS_PORT.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web
from telegram import Update

log = logging.getLogger(__name__)

DOORBELL = "/newtel/{secret}"
TELEGRAM_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_UPDATE_BYTES = 1_048_576  # Telegram's updates are a few KB; nobody else gets to post more


def make_app(
    doorbell: tuple[str, Callable[[], None]] | None = None,
    telegram: tuple[str, str, Any] | None = None,
) -> web.Application:
    """``doorbell``: (secret, ring); ``telegram``: (path, secret token, the PTB application)."""
    app = web.Application(client_max_size=MAX_UPDATE_BYTES)
    if doorbell is not None:
        secret, ring = doorbell

        async def rang(request: web.Request) -> web.Response:
            if not hmac.compare_digest(request.match_info["secret"].encode(), secret.encode()):
                raise web.HTTPNotFound()
            ring()
            return web.Response(status=204)

        app.router.add_post(DOORBELL, rang)
    if telegram is not None:
        path, token, application = telegram

        async def update(request: web.Request) -> web.Response:
            given = request.headers.get(TELEGRAM_SECRET_HEADER, "")
            if not hmac.compare_digest(given.encode(), token.encode()):
                raise web.HTTPForbidden()
            try:
                payload = await request.json()
                found = Update.de_json(payload, application.bot)
            except Exception:  # malformed JSON or not an update: Telegram never sends such
                raise web.HTTPBadRequest() from None
            if found is not None:
                await application.update_queue.put(found)
            return web.Response()

        app.router.add_post("/" + path.lstrip("/"), update)
    return app


async def serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Listen on host:port; ``await runner.cleanup()`` stops it."""
    runner = web.AppRunner(app, access_log=None)  # the doorbell's URL holds its secret: no access log
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner
