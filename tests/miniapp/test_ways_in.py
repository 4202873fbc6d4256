"""Ways into the Mini App from the chat: /app (a Web App button in private, a t.me link or a pointer in a group) and
the private chats' menu button."""

from __future__ import annotations

import time

from telegram import MenuButtonWebApp, WebAppInfo

from bot.miniapp import ways_in
from tests.bot.conftest import ADMIN, GROUP, MANAGER, STRANGER
from tests.miniapp.conftest import MiniAppFactory

BOT = "newtel_demo_bot"  # the fake Bot API's bot


def buttons(message: dict[str, object]) -> list[dict[str, object]]:
    markup = message.get("reply_markup") or {}
    return [button for row in markup.get("inline_keyboard", []) for button in row]  # type: ignore[union-attr]


async def test_app_in_private_opens_it_in_place(make_miniapp: MiniAppFactory) -> None:
    async with make_miniapp() as app:
        app.world.make_manager()
        reply = await app.world.say(MANAGER, "/app")
        assert reply["text"] == "Журнал звонков, карточки клиентов, пропущенные и отчёты — в приложении:"
        assert buttons(reply) == [{"text": "📱 Открыть приложение", "web_app": {"url": app.url}}]
        assert (await app.world.ask(STRANGER, "/app")).startswith("Извините, этот бот работает только")


async def test_app_in_a_group_links_to_it_or_points_to_the_private_chat(make_miniapp: MiniAppFactory) -> None:
    async with make_miniapp(miniapp_short_name="desk") as app:
        app.world.make_manager()
        reply = await app.world.say(MANAGER, "/app", chat_id=GROUP)
        assert buttons(reply) == [{"text": "📱 Открыть приложение", "url": f"https://t.me/{BOT}/desk"}]
    async with make_miniapp() as app:
        app.world.make_manager()
        told = await app.world.ask(MANAGER, "/app", chat_id=GROUP)
        assert told == "Приложение открывается в личном чате со мной: напишите мне /app."


async def test_app_says_when_it_is_not_set_up(make_miniapp: MiniAppFactory) -> None:
    async with make_miniapp(miniapp_url=None) as app:
        assert await app.world.ask(ADMIN, "/app") == "Приложение не настроено: администратору нужно задать MINIAPP_URL."


async def test_the_menu_button_opens_it_when_its_address_is_https(make_miniapp: MiniAppFactory) -> None:
    async with make_miniapp(miniapp_url="https://bot.example.com/app") as app:
        assert app.world.tg.menu_button() == {
            "type": "web_app",
            "text": "Журнал",
            "web_app": {"url": "https://bot.example.com/app/"},
        }


async def test_no_menu_button_for_an_http_address(make_miniapp: MiniAppFactory) -> None:
    async with make_miniapp() as app:  # http://127.0.0.1 (the demo's): Telegram would refuse it
        assert app.world.tg.menu_button() == {"type": "default"}
        assert all(sent.params["menu_button"] == {"type": "default"} for sent in app.world.sent("setChatMenuButton"))


async def test_a_menu_button_left_from_an_earlier_address_goes_when_the_app_is_off(
    make_miniapp: MiniAppFactory,
) -> None:
    async with make_miniapp(miniapp_url=None) as app:
        earlier = MenuButtonWebApp("Журнал", WebAppInfo("https://old.example.com/app/"))
        await app.world.app.bot.set_chat_menu_button(menu_button=earlier)  # while MINIAPP_URL was set
        assert app.world.tg.menu_button()["type"] == "web_app"
        await ways_in.set_menu_button(app.world.app)  # the next start
        assert app.world.tg.menu_button() == {"type": "default"}


async def test_app_with_an_address_telegram_cannot_open_says_so(make_miniapp: MiniAppFactory) -> None:
    async with make_miniapp(miniapp_url="http://bot.example.com/app/") as app:
        app.world.make_manager()
        reply = await app.world.say(MANAGER, "/app")
        assert reply["text"] == (
            "Приложение не открыть: Telegram открывает его только по адресу https://, а MINIAPP_URL начинается "
            "с http://. Администратору нужно это исправить."
        )
        assert buttons(reply) == []


async def test_app_is_in_the_command_menu_and_help(make_miniapp: MiniAppFactory) -> None:
    async with make_miniapp() as app:
        app.world.make_manager()
        assert "app" in [c["command"] for c in app.world.tg.my_commands(language_code="ru")]
        app.world.services.storage.users.set_language(MANAGER, "en", now=int(time.time()))
        assert "\n/app — the app: call journal, customers, open misses, reports\n" in await app.world.ask(
            MANAGER, "/help"
        )
