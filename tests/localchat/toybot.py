"""A toy bot for the localchat tests: the real PTB Application with a few handlers, and how to run it."""

from __future__ import annotations

import asyncio
import html
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from localchat import FakeBotAPI

USER = 42
GROUP = -1001
AUDIO = b"ID3" + bytes(range(256)) * 12  # ~3 KB of bytes to upload
# A PNG's signature and header chunk (640×480), then bytes: what the fake reads a photo's size from.
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + (640).to_bytes(4, "big") + (480).to_bytes(4, "big") + bytes(200)


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    words = " ".join(context.args or []) or "nothing"
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Call back", callback_data="v1:call"),
                InlineKeyboardButton("Done", callback_data="v1:done"),
            ]
        ]
    )
    assert update.effective_message is not None
    await update.effective_message.reply_html(f"<b>Echo:</b> {html.escape(words)}", reply_markup=keyboard)


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer(f"got {query.data}")
    await query.edit_message_text(f"You chose {query.data}")


async def too_long(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_text("x" * 5000)


async def record(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_chat_action("upload_voice")
    await update.effective_message.reply_audio(AUDIO, filename="call-17.mp3", caption="Recording of call 17")


async def plain(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_text("Just text")


async def chart(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_photo(PNG, caption="A chart")


async def document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A file sent to the bot: said back, with what it held."""
    message = update.effective_message
    assert message is not None and message.document is not None
    data = await (await message.document.get_file()).download_as_bytearray()
    await message.reply_text(f"Got {message.document.file_name} ({len(data)} B): {message.caption or 'no caption'}")


@dataclass
class ToyBot:
    app: Application
    errors: asyncio.Queue[BaseException]

    async def next_error(self, timeout: float = 5.0) -> BaseException:
        return await asyncio.wait_for(self.errors.get(), timeout)


def build_toy_app(tg: FakeBotAPI, *, token: str | None = None, rate_limiter: AIORateLimiter | None = None) -> ToyBot:
    builder = (
        ApplicationBuilder().token(token or tg.token).base_url(tg.url + "/bot").base_file_url(tg.url + "/file/bot")
    )
    if rate_limiter is not None:
        builder = builder.rate_limiter(rate_limiter)
    app = builder.build()
    errors: asyncio.Queue[BaseException] = asyncio.Queue()

    async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert context.error is not None
        errors.put_nowait(context.error)

    app.add_handlers(
        [
            CommandHandler("echo", echo),
            CommandHandler("long", too_long),
            CommandHandler("record", record),
            CommandHandler("plain", plain),
            CommandHandler("chart", chart),
            MessageHandler(filters.Document.ALL, document),
            CallbackQueryHandler(on_button),
        ]
    )
    app.add_error_handler(on_error)
    return ToyBot(app, errors)


async def start_app(app: Application) -> None:
    # post_init only runs under run_polling(); in-process we do its steps ourselves.
    await app.initialize()
    assert app.updater is not None
    await app.updater.start_polling()
    await app.start()


async def stop_app(app: Application) -> None:
    assert app.updater is not None
    if app.updater.running:
        await app.updater.stop()
    if app.running:
        await app.stop()
    await app.shutdown()
