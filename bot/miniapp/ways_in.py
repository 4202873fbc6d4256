"""Ways into the Mini App from the chat: ``/app`` and, in private chats, the menu button; a t.me link where
Telegram allows no Web App button (groups: ``BUTTON_TYPE_INVALID``)."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from telegram import MenuButton, MenuButtonDefault, MenuButtonWebApp, Update, WebAppInfo
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
        if not opens_in_telegram(settings.miniapp_url):  # Telegram would refuse the button: said instead
            await caller.reply(texts("open_app_not_https"))
            return
        await caller.reply(texts("open_app"), reply_markup=keyboards.open_app(texts, settings.miniapp_url))
        return
    if not settings.miniapp_short_name or not context.bot.username:
        await caller.reply(texts("open_app_in_private"))
        return
    link = keyboards.miniapp_address(settings.miniapp_short_name, context.bot.username)
    await caller.reply(texts("open_app"), reply_markup=keyboards.app_link(texts, link))


def opens_in_telegram(url: str) -> bool:
    """Whether Telegram opens a Web App button to ``url``: https only; an http one on this machine is the local
    chat's (``localchat``: the demo, the tests), which no Telegram user could reach anyway."""
    return url.startswith("https://") or urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1")


async def set_menu_button(application: App) -> None:
    """The private chats' menu button opens the app (when MINIAPP_URL is https: Telegram opens no other), else it is
    Telegram's default (one left from an earlier MINIAPP_URL goes: a request a start, the cheapest way to know);
    a failure is not fatal (``/app`` still works)."""
    settings = application.bot_data.need_services().settings
    url = settings.miniapp_url
    button: MenuButton = MenuButtonDefault()
    if url and url.startswith("https://"):
        button = MenuButtonWebApp(Texts(settings.bot_language).plain("menu_button_app"), WebAppInfo(url))
    elif url:
        log.info("MINIAPP_URL is not https: no menu button (Telegram opens a Mini App from https only)")
    try:
        await application.bot.set_chat_menu_button(menu_button=button)
    except TelegramError as error:
        log.warning("Could not set the menu button (%s): %s", button.type, error)
