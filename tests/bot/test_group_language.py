"""In a group everything the bot writes is in the group's language; a person's own language is for private chats."""

from __future__ import annotations

from tests.bot.conftest import ADMIN, GROUP, MANAGER, WorldFactory


async def test_in_a_group_every_answer_and_the_board_are_in_the_groups_language_whoever_asks(
    make_world: WorldFactory,
) -> None:
    async with make_world(alert_board=True) as world:
        world.make_manager()
        assert await world.ask(MANAGER, "/lang en") == "Language: English."
        assert await world.ask(ADMIN, "/lang en") == "Language: English."
        assert (await world.ask(ADMIN, "/subscribe", chat_id=GROUP)).startswith("🔔 Чат подписан")
        # The group is Russian (the bot's default): so are the answers to those who chose English for themselves.
        assert (await world.ask(MANAGER, "/balance", chat_id=GROUP)).startswith("💰 Баланс:")
        assert (await world.ask(ADMIN, "/sla", chat_id=GROUP)).startswith("⏰ Срок перезвона в этом чате")
        assert (await world.ask(ADMIN, "/sla soon", chat_id=GROUP)).startswith("Не понял «soon».")
        board = await world.say(ADMIN, "/board", chat_id=GROUP)  # posted as a pointer, then filled in
        assert (
            board["text"].startswith("📋 Не перезвонили")
            and (await world.edited(board))["text"] == "✅ Все перезвонили"
        )
        assert await world.ask(MANAGER, "/lang en", chat_id=GROUP) == (
            "Готово: в личном чате пишу вам по-английски. В группе — на языке группы, его выбирает администратор."
        )
        assert (await world.ask(MANAGER, "/balance")).startswith("💰 Balance:")  # in private, the manager's own

        # The group turned English: so is everything there, for those who kept Russian too.
        assert await world.ask(ADMIN, "/lang en", chat_id=GROUP) == (
            "This chat is in English now: its alerts, its board and every answer here."
        )
        assert await world.ask(MANAGER, "/lang ru") == "Язык: русский."
        assert (await world.ask(MANAGER, "/balance", chat_id=GROUP)).startswith("💰 Balance:")
        assert (await world.ask(MANAGER, "/help", chat_id=GROUP)).startswith("What I can do")
        assert (await world.ask(ADMIN, "/sla", chat_id=GROUP)).startswith("⏰ Callback deadline in this chat")
        board = await world.say(ADMIN, "/board", chat_id=GROUP)  # posted as a pointer, then filled in
        assert (
            board["text"].startswith("📋 Not called back")
            and (await world.edited(board))["text"] == "✅ Everyone called back"
        )
        assert (await world.ask(MANAGER, "/balance")).startswith("💰 Баланс:")
