"""The database's write lock held by another connection (a backup, a second instance) past the busy timeout: a person
is told "busy, try again", nothing changes, the log has one warning per episode and no traceback; once the lock is
released everything works (the real Application between the New-Tel sandbox and the fake Bot API)."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from storage import contacts
from tests.bot.conftest import ADMIN, GROUP, MANAGER, World, WorldFactory, database_locked
from tests.bot.test_contacts import book, upload
from tests.bot.test_hardening import post_alert
from tests.bot.test_live import eventually, quiet, ring

BUSY = {
    "ru": "⏳ Бот сейчас занят, ничего не изменено. Попробуйте ещё раз через минуту.",
    "en": "⏳ The bot is busy right now; nothing was changed. Please try again in a minute.",
}
NOTIFY_IS_ON = {"ru": "🔔 Карточки входящих звонков включены", "en": "🔔 Incoming call cards are on"}
CLOSED = {"ru": "Закрыто.", "en": "Closed."}


def logged(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= level]


def done_button(alert_message: dict[str, Any]) -> str:
    rows = alert_message["reply_markup"]["inline_keyboard"]
    return str(next(b["callback_data"] for row in rows for b in row if "✅" in b["text"]))


@pytest.mark.parametrize("language", ["ru", "en"])
async def test_a_press_and_a_command_while_the_database_is_locked_change_nothing(
    make_world: WorldFactory, caplog: pytest.LogCaptureFixture, language: str
) -> None:
    async with make_world(bot_language=language) as world:
        world.make_manager()
        alert_message = await post_alert(world)
        alert_id = world.services.storage.alerts.by_message(GROUP, alert_message["message_id"]).id  # type: ignore[union-attr]
        before = world.services.storage.alerts.get(alert_id)

        async def press_done() -> str:
            return str((await world.press(MANAGER, alert_message, data=done_button(alert_message)))["text"])

        caplog.clear()
        with database_locked(world.settings.database_path):
            assert await press_done() == BUSY[language]
            assert await world.ask(MANAGER, "/notify off") == BUSY[language]
        assert world.services.storage.alerts.get(alert_id) == before  # no change was made
        assert (await world.ask(MANAGER, "/notify")).startswith(NOTIFY_IS_ON[language])
        assert (await world.ask(MANAGER, "/notify off")).startswith("🔕")  # released: writes go through
        with database_locked(world.settings.database_path):  # and a second time
            assert await press_done() == BUSY[language]
        # One warning each time the lock was held, and no traceback.
        assert [(r.levelno, r.exc_info) for r in logged(caplog, logging.WARNING)] == [(logging.WARNING, None)] * 2
        assert await press_done() == CLOSED[language]
        assert world.services.storage.alerts.get(alert_id).state == "closed"  # type: ignore[union-attr]


async def test_the_live_watch_waits_out_a_locked_database_with_one_warning(
    make_world: WorldFactory, sandbox: Any, caplog: pytest.LogCaptureFixture
) -> None:
    quiet(sandbox)
    async with make_world(jobs=True, live_interval=0.3, poll_interval=3600) as world:
        world.services.storage.chats.subscribe(GROUP, "Sales", [], False, now=int(time.time()) - 60)
        await world.app.bot_data.need_poller().wait_cycles(1)
        live = world.app.bot_data.live
        assert live is not None
        caplog.clear()
        with database_locked(world.settings.database_path):
            ring(world, answer_in=None, end_in=1.0)  # the watch sees it ring, and end
            await live.wait_checks(5)
            assert [c for c in world.sent("sendMessage", GROUP) if c.ok] == []
            refused = logged(caplog, logging.WARNING)
            assert [r.levelno for r in refused] == [logging.WARNING] and refused[0].exc_info is None
        alert = await world.tg.wait_for("sendMessage", chat_id=GROUP, ok=True, timeout=5)  # nothing was lost
        assert "+7 916 123-45-67" in alert.params["text"]
        await live.wait_checks(2)
    assert len(logged(caplog, logging.WARNING)) == 1


async def test_an_imports_apply_while_the_database_is_locked_says_busy_and_applies_on_the_next_press(
    world: World, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The import is applied by a worker thread on a connection of its own, which waits 5 s for the lock in earnest.
    monkeypatch.setattr(contacts, "WRITER_BUSY_TIMEOUT_MS", 100)
    preview = await upload(world, ADMIN, b"name,phone\nIvan,+7 916 123-45-67\n", "clients.csv")
    imports = world.services.storage.contacts.imports
    await eventually(lambda: imports.get(1).message_id is not None)  # type: ignore[union-attr]  # its buttons count
    caplog.clear()
    with database_locked(world.settings.database_path):
        assert (await world.press(ADMIN, preview, "✅ Записать (1)"))["text"] == BUSY["ru"]
    assert book(world) == {} and imports.get(1).state == "previewed"  # type: ignore[union-attr]
    assert [(r.levelno, r.exc_info) for r in logged(caplog, logging.WARNING)] == [(logging.WARNING, None)]
    assert await world.press(ADMIN, preview, "✅ Записать (1)") == {}
    assert book(world) == {"79161234567": "Ivan"}
