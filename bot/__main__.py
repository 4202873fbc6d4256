"""``python -m bot``: the Telegram bot (the Procfile's worker), by long polling or a webhook."""

from __future__ import annotations

import sys
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError
from telegram import Update
from telegram.error import InvalidToken

from bot import logs
from bot.app import build_application
from bot.config import Settings, describe_errors


def main() -> int:
    try:
        settings = Settings()  # filled from the environment and .env
    except ValidationError as error:
        print(describe_errors(error), file=sys.stderr)
        return 2
    secrets = [
        settings.telegram_bot_token.get_secret_value(),
        settings.newtel_access_key.get_secret_value(),
        settings.newtel_signing_key.get_secret_value(),
    ]
    if settings.webhook_secret is not None:
        secrets.append(settings.webhook_secret.get_secret_value())
    logs.configure(settings.log_level, secrets)
    application = build_application(settings)
    try:
        run(application, settings)
    except InvalidToken:
        print("Telegram refused TELEGRAM_BOT_TOKEN: check it with @BotFather.", file=sys.stderr)
        return 2
    return 0


def run(application: Any, settings: Settings) -> None:
    if settings.webhook_url:
        application.run_webhook(
            listen=settings.webhook_listen,
            port=settings.webhook_port,
            url_path=urlsplit(settings.webhook_url).path.lstrip("/"),
            webhook_url=settings.webhook_url,
            secret_token=settings.webhook_secret.get_secret_value() if settings.webhook_secret else None,
            allowed_updates=Update.ALL_TYPES,
        )
    else:
        application.run_polling(allowed_updates=Update.ALL_TYPES)


if __name__ == "__main__":
    sys.exit(main())
