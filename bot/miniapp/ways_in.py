"""Ways into the Mini App from the chat: ``/app`` and, in private chats, the menu button; a t.me link where
Telegram allows no Web App button (groups: ``BUTTON_TYPE_INVALID``)."""

from __future__ import annotations

import logging

from telegram import MenuButtonWebApp, Update, WebAppInfo
from telegram.constants import ChatType
from telegram.error import TelegramError

from bot import keyboards
from bot.access.checks import Caller, requires
from bot.context import App, Context
from bot.texts import Texts

log = logging.getLogger(__name__)


@requires("manager", any_chat=True)  # the answer shows no company data: a way in, wherever asked
async def app_command(update: Update, context: Context, caller: Caller) -> None:
    settings, texts = caller.services.settings, caller.texts
    if not settings.miniapp_url:
        await caller.reply(texts("open_app_off"))
        return
    chat = update.effective_chat
    if chat is None or chat.type == ChatType.PRIVATE:
        await caller.reply(texts("open_app"), reply_markup=keyboards.open_app(texts, settings.miniapp_url))
        return
    if not settings.miniapp_short_name or not context.bot.username:
        await caller.reply(texts("open_app_in_private"))
        return
    link = keyboards.miniapp_address(settings.miniapp_short_name, context.bot.username)
    await caller.reply(texts("open_app"), reply_markup=keyboards.app_link(texts, link))


async def set_menu_button(application: App) -> None:
    """The private chats' menu button opens the app (when MINIAPP_URL is https: Telegram opens no other); a failure
    is not fatal (``/app`` still works)."""
    settings = application.bot_data.need_services().settings
    url = settings.miniapp_url
    if not url:
        return
    if not url.startswith("https://"):
        log.info("MINIAPP_URL is not https: no menu button (Telegram opens a Mini App from https only); /app works")
        return
    label = Texts(settings.bot_language).plain("menu_button_app")
    try:
        await application.bot.set_chat_menu_button(menu_button=MenuButtonWebApp(label, WebAppInfo(url)))
    except TelegramError as error:
        log.warning("Could not set the menu button to the Mini App: %s", error)
