"""Short rings and the open board end to end: the sandbox's calls, the real Application and its poll, the fake Bot API
(pinning included)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot import ratelimit
from bot.alerts.board import MAX_LINES, render_board
from bot.app import build_application, running
from bot.texts import Texts
from bot.watch.poller import poller
from localchat import FakeBotAPI
from localchat.fake_api import ApiCall
from newtel.sandbox import Sandbox
from storage import Alert
from tests.bot.conftest import ADMIN, GROUP, make_settings
from tests.bot.test_alerts import Team, bind_people, phone_as_shown
from tests.conftest import at_noon

A, B = "79035551122", "79035553344"
NO_RIGHTS = "Bad Request: not enough rights to manage pinned messages in the chat"
Started = Callable[..., contextlib.AbstractAsyncContextManager[Team]]

# The tests count the board's edits: past midnight its "23:59" rightly becomes "вчера 23:59", one edit more.
pytestmark = at_noon


@pytest.fixture
def bots(sandbox: Sandbox, tg: FakeBotAPI, tmp_path: Path) -> Started:
    """``async with bots() as team``: the bot with its poll every 0.5 s and a subscribed group; again on the same
    database for a restart."""

    @contextlib.asynccontextmanager
    async def start(board: bool = True) -> AsyncIterator[Team]:
        app = build_application(make_settings(sandbox, tg, tmp_path, poll_interval=0.5, alert_board=board))
        async with running(app) as svc:
            bind_people(svc, sandbox)
            if svc.storage.chats.get(GROUP) is None:
                svc.storage.chats.subscribe(GROUP, "Sales", [], False, now=1)
            await poller(app).wait_cycles(1)  # the first poll sets the baseline: the history is not news
            yield Team(sandbox, tg, app, svc)

    return start


def board_calls(tg: FakeBotAPI, method: str) -> list[ApiCall]:
    return [c for c in tg.calls if c.method == method and c.chat_id == GROUP and "📋" in c.params.get("text", "✅")]


async def board_says(team: Team, first_line: str, since: int | None = None) -> dict[str, Any]:
    """The board once the bot posted or edited it to begin with ``first_line`` (since the cursor: the last user
    action)."""
    call = await team.tg.wait_for(
        chat_id=GROUP, ok=True, since=since, timeout=5,
        predicate=lambda c: c.method in ("sendMessage", "editMessageText")
        and str((c.result or {}).get("text", "")).startswith(first_line),
    )  # fmt: skip
    message_id = int(call.result["message_id"])
    message = team.tg.message(GROUP, message_id)
    assert message is not None
    if edits_of(team.tg, message_id)[:1] == [call]:  # a new board's list: the bot tries to pin it right after
        await team.tg.wait_for("pinChatMessage", since=call.seq, timeout=5)
    return message


def edits_of(tg: FakeBotAPI, message_id: int) -> list[ApiCall]:
    return [
        c for c in tg.calls
        if c.method == "editMessageText" and c.ok and c.chat_id == GROUP and int(c.params["message_id"]) == message_id
    ]  # fmt: skip


def posted_boards(tg: FakeBotAPI) -> list[int]:
    """The boards the bot posted in the group, each first as the pointer its list is then written into."""
    return [int(c.result["message_id"]) for c in board_calls(tg, "sendMessage") if c.ok]


# --- short rings --------------------------------------------------------------------------------------------------
async def test_a_chat_with_min_is_not_alerted_of_rings_shorter_than_that(bots: Started) -> None:
    async with bots() as team:
        team.tg.send_text(ADMIN, "/subscribe min 5", chat_id=GROUP)
        reply = await team.tg.wait_for("sendMessage", chat_id=GROUP)
        assert reply.params["text"].split("\n") == [
            "🔔 Чат подписан на пропущенные звонки: все номера компании.",
            "⏱ Звонки, которые прозвонили меньше 5 с, сюда не придут: клиент сразу положил трубку.",
        ]
        chat = team.svc.storage.chats.get(GROUP)
        assert chat is not None and chat.min_ring == 5
        assert team.svc.storage.audit.recent(action="chat.subscribe")[0].details == {
            "numbers": [], "balance": False, "min_ring": 5,
        }  # fmt: skip
        team.miss(clid=A, ring=3)
        team.miss(clid=B, ring=10)
        await team.alert_for(B)
        await team.poller.wait_cycles(2)
        assert team.alerts_sent(A) == []
        assert [a.clid for a in team.svc.storage.alerts.open_for(GROUP)] == [B]


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("min 0", "«0» — не число секунд от 1 до 120. Например: /subscribe min 5. Ничего не изменилось."),
        ("min 121", "«121» — не число секунд от 1 до 120. Например: /subscribe min 5. Ничего не изменилось."),
        ("мин пять", "«пять» — не число секунд от 1 до 120. Например: /subscribe min 5. Ничего не изменилось."),
        ("balance min", "После «min» напишите, сколько секунд должен прозвонить звонок, от 1 до 120: например, "
         "/subscribe min 5. Ничего не изменилось."),
    ],
)  # fmt: skip
async def test_a_bad_min_is_explained_and_changes_nothing(bots: Started, typed: str, said: str) -> None:
    async with bots() as team:
        team.svc.storage.chats.subscribe(GROUP, "Sales", [], False, now=2, min_ring=7)
        team.tg.send_text(ADMIN, f"/subscribe {typed}", chat_id=GROUP)
        reply = await team.tg.wait_for("sendMessage", chat_id=GROUP)
        assert reply.params["text"] == said
        chat = team.svc.storage.chats.get(GROUP)
        assert chat is not None and (chat.min_ring, chat.balance_alerts) == (7, False)


# --- the open board -----------------------------------------------------------------------------------------------
async def test_the_board_opens_with_the_first_alert_follows_them_and_comes_back_when_deleted(bots: Started) -> None:
    async with bots() as team:
        await team.poller.wait_cycles(2)
        assert board_calls(team.tg, "sendMessage") == []  # no alert, no board
        team.miss(clid=A)
        first = await team.alert_for(A)
        board = await board_says(team, "📋 Не перезвонили: 1")
        assert board["text"].split("\n")[1].startswith(f"1. {phone_as_shown(A)} — пропущен ")
        assert team.tg.pinned(GROUP) == board["message_id"]
        pin = next(c for c in team.tg.calls if c.method == "pinChatMessage")
        assert pin.params["disable_notification"] is True
        chat = team.svc.storage.chats.get(GROUP)
        assert chat is not None and chat.board_message_id == board["message_id"]

        team.svc.storage.contacts.set(B, "Петров Пётр", by=ADMIN, now=1)
        team.miss(clid=B)
        second = await team.alert_for(B)
        board = await board_says(team, "📋 Не перезвонили: 2")
        lines = board["text"].split("\n")
        assert lines[1].startswith(f"1. {phone_as_shown(A)} — ")  # the longest waiting first
        assert lines[2].startswith(f"2. {phone_as_shown(B)} · Петров Пётр — пропущен ")

        team.tg.press(ADMIN, first, button="✅ Готово")
        board = await board_says(team, "📋 Не перезвонили: 1")
        assert board["text"].split("\n")[1].startswith(f"1. {phone_as_shown(B)} · Петров Пётр")
        edits = len(board_calls(team.tg, "editMessageText"))
        await team.poller.wait_cycles(3)
        assert len(board_calls(team.tg, "editMessageText")) == edits  # nothing changed: no edit
        assert len([c for c in team.tg.calls if c.method == "sendMessage" and "📋" in c.params["text"]]) == 1

        await team.app.bot.delete_message(GROUP, board["message_id"])  # somebody deleted the board
        mark = team.tg.mark()
        team.tg.press(ADMIN, second, button="✅ Готово")
        again = await board_says(team, "✅ Все перезвонили", since=mark)
        assert again["message_id"] != board["message_id"]
        assert team.tg.pinned(GROUP) == again["message_id"]
        chat = team.svc.storage.chats.get(GROUP)
        assert chat is not None and chat.board_message_id == again["message_id"]
        refused = [c for c in team.tg.calls[mark:] if c.method == "editMessageText" and not c.ok]
        assert [c.response["description"] for c in refused if c.response] == ["Bad Request: message to edit not found"]


async def test_a_board_the_bot_may_not_pin_still_works_and_a_restart_posts_no_second_one(
    bots: Started, tg: FakeBotAPI
) -> None:
    tg.faults.fail(400, methods="pinChatMessage", description=NO_RIGHTS, times=100)
    async with bots() as team:
        team.miss(clid=A)
        message = await team.alert_for(A)
        board = await board_says(team, "📋 Не перезвонили: 1")
        assert team.tg.pinned(GROUP) is None
    restart = tg.mark()
    async with bots() as team:  # the same database: the board is known, and unchanged
        await team.poller.wait_cycles(2)
        assert len([c for c in tg.calls if c.method == "sendMessage" and "📋" in c.params["text"]]) == 1
        # What the restart forgot is asked of Telegram once: "not modified", and nothing else.
        edits = board_calls(tg, "editMessageText")
        after = [c for c in edits if c.seq >= restart and c.params["message_id"] == board["message_id"]]
        assert len(after) == 1 and not after[0].ok and "not modified" in after[0].response["description"]
        team.tg.press(ADMIN, message, button="✅ Готово")
        await board_says(team, "✅ Все перезвонили")
        assert team.tg.message(GROUP, board["message_id"])["text"] == "✅ Все перезвонили"  # type: ignore[index]
    assert len([c for c in tg.calls if c.method == "pinChatMessage"]) == 1  # refused: not asked at each refresh


async def test_a_board_telegram_failed_to_pin_is_pinned_at_a_later_refresh_once(
    bots: Started, tg: FakeBotAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ratelimit, "RETRY_BUDGET", 0.3)  # Telegram failing past the request's own retries
    tg.faults.fail(500, methods="pinChatMessage", times=1000)
    async with bots() as team:
        team.miss(clid=A)
        await team.alert_for(A)
        board = await board_says(team, "📋 Не перезвонили: 1")
        await team.poller.lanes.settled()  # the pin given up
        assert tg.pinned(GROUP) is None
        tg.faults.clear()
        await tg.wait_for("pinChatMessage", chat_id=GROUP, ok=True, timeout=5)
        assert tg.pinned(GROUP) == board["message_id"]
        await team.poller.wait_cycles(3)
        assert len([c for c in tg.calls if c.method == "pinChatMessage" and c.ok]) == 1  # not again at each refresh


async def test_a_board_posted_just_before_a_crash_is_taken_back_not_posted_again(bots: Started, tg: FakeBotAPI) -> None:
    async with bots() as team:
        team.miss(clid=A)
        await team.alert_for(A)
        board = await board_says(team, "📋 Не перезвонили: 1")
        # What a kill leaves after Telegram took the board while the database could not record it: a pinned board
        # the database does not know.
        team.svc.storage.chats.set_board(GROUP, None, now=2)
        team.svc.storage.db.execute("UPDATE ledger SET message_id = NULL WHERE message_id = ?", (board["message_id"],))
    async with bots() as team:
        team.miss(clid=B)
        await team.alert_for(B)
        again = await board_says(team, "📋 Не перезвонили: 2")
        assert again["message_id"] == board["message_id"]
        assert len([c for c in tg.calls if c.method == "sendMessage" and "📋" in c.params["text"]]) == 1
        chat = team.svc.storage.chats.get(GROUP)
        assert chat is not None and chat.board_message_id == board["message_id"]


async def test_board_posts_it_anew_and_pins_it_or_says_why_it_cannot(bots: Started, tg: FakeBotAPI) -> None:
    async with bots(board=False) as team:  # ALERT_BOARD=false: a chat has a board once an admin asks for it
        team.miss(clid=A)
        message = await team.alert_for(A)
        await team.poller.wait_cycles(2)
        assert board_calls(tg, "sendMessage") == []
        team.tg.send_text(ADMIN, "/board", chat_id=GROUP)
        board = await board_says(team, "📋 Не перезвонили: 1")
        assert tg.pinned(GROUP) == board["message_id"]
        team.tg.press(ADMIN, message, button="✅ Готово")
        assert (await board_says(team, "✅ Все перезвонили"))["message_id"] == board["message_id"]  # it follows them

        tg.faults.fail(400, methods="pinChatMessage", description=NO_RIGHTS)
        team.tg.send_text(ADMIN, "/board", chat_id=GROUP)
        posted, reply = await tg.wait_for("sendMessage", chat_id=GROUP, ok=True, count=2)
        assert reply.params["text"] == (
            "📋 Список выше. Закрепить его не могу: дайте боту право закреплять сообщения и повторите /board."
        )
        again = tg.message(GROUP, posted.result["message_id"])
        assert again is not None and again["text"] == "✅ Все перезвонили"
        await tg.wait_for("deleteMessage", chat_id=GROUP, since=posted.seq)
        assert tg.message(GROUP, board["message_id"]) is None  # the old board is deleted: one board per chat
        chat = team.svc.storage.chats.get(GROUP)
        assert chat is not None and chat.board_message_id == again["message_id"]

        team.svc.storage.chats.unsubscribe(GROUP, now=2)
        team.tg.send_text(ADMIN, "/board", chat_id=GROUP)
        refused = await tg.wait_for("sendMessage", chat_id=GROUP)
        assert refused.params["text"] == "Эта группа ещё не подписана на оповещения. Сначала подпишите её: /subscribe"


def lists(tg: FakeBotAPI) -> list[dict[str, Any]]:
    """The boards in the group as they are now that list who waits (not a pointer to the list)."""
    return [m for m in tg.chat(GROUP) if m["text"].startswith(("📋 Не перезвонили: 1", "✅ Все перезвонили"))]


async def test_a_board_whose_answer_was_lost_leaves_a_pointer_not_a_second_list(bots: Started, tg: FakeBotAPI) -> None:
    async with bots(board=False) as team:
        team.miss(clid=A)
        await team.alert_for(A)
        tg.faults.lose_answer(methods="sendMessage")  # Telegram posts it; the bot never learns which message it is
        team.tg.send_text(ADMIN, "/board", chat_id=GROUP)
        await tg.wait_for(
            "sendMessage", chat_id=GROUP, predicate=lambda c: c.params["text"].startswith("Не получилось отправить")
        )
        team.tg.send_text(ADMIN, "/board", chat_id=GROUP)
        board = await board_says(team, "📋 Не перезвонили: 1")
        assert [m["message_id"] for m in lists(tg)] == [board["message_id"]] == [tg.pinned(GROUP)]
        (lost,) = [m for m in tg.chat(GROUP) if m["message_id"] in posted_boards(tg)[:1]]
        assert lost["text"] == "📋 Не перезвонили: список — в закреплённом сообщении." and "reply_markup" not in lost


async def test_an_old_board_telegram_will_not_delete_is_emptied_into_a_pointer(bots: Started, tg: FakeBotAPI) -> None:
    async with bots(board=False) as team:
        team.miss(clid=A)
        await team.alert_for(A)
        team.tg.send_text(ADMIN, "/board", chat_id=GROUP)
        old = await board_says(team, "📋 Не перезвонили: 1")
        tg.faults.fail(400, methods="deleteMessage", description="Bad Request: message can't be deleted for everyone")
        team.tg.send_text(ADMIN, "/board", chat_id=GROUP)
        new = await board_says(team, "📋 Не перезвонили: 1")
        await tg.wait_for("unpinChatMessage", chat_id=GROUP, since=0)
        assert [m["message_id"] for m in lists(tg)] == [new["message_id"]] == [tg.pinned(GROUP)]
        emptied = tg.message(GROUP, old["message_id"])
        assert emptied is not None and emptied["text"] == "📋 Не перезвонили: список — в закреплённом сообщении."
        await team.poller.wait_cycles(2)
        assert [c.method for c in tg.calls if c.params.get("message_id") == old["message_id"]][-3:] == [
            "deleteMessage",
            "editMessageText",
            "unpinChatMessage",
        ]  # taken down once, not again at each refresh


def test_the_board_names_at_most_twenty_the_longest_waiting_first() -> None:
    zone = ZoneInfo("Europe/Moscow")
    now = datetime(2026, 11, 25, 15, 0, tzinfo=zone)
    base = int(now.timestamp()) - 3600

    def alert(n: int, **changes: Any) -> Alert:
        fields: dict[str, Any] = {
            "id": n, "chat_id": GROUP, "clid": f"7916{n:07d}", "dnid": None, "state": "open", "missed_count": 1,
            "first_at": base - 60 * n, "last_at": base, "ring_seconds": 20, "message_id": n, "version": 1,
            "delivered_version": 1, "dirty": False, "callback_by": None, "callback_name": None,
            "callback_started_at": None, "callback_call_id": None, "callback_vpbx_id": None,
            "callback_outcome": None, "talk_seconds": None, "closed_by": None, "closed_name": None,
            "closed_at": None, "close_reason": None, "created_at": base, "updated_at": base,
        }  # fmt: skip
        return Alert(**{**fields, **changes})

    alerts = [alert(n) for n in range(1, 25)]
    alerts[0] = alert(1, missed_count=3, owner_name="Попов", deadline_at=base)
    alerts[1] = alert(2, state="calling", callback_name="Иван")
    text = render_board(alerts, {"79160000003": "Сидоров"}, Texts("ru"), zone, now)
    lines = text.split("\n")
    assert lines[0] == "📋 <b>Не перезвонили: 24</b>"
    assert lines[1] == "1. +7 916 000-00-24 — пропущен 13:36"  # the first miss longest ago
    assert len(lines) == 1 + MAX_LINES + 1 and lines[-1] == "…и ещё 4"
    assert lines[-2] == "20. +7 916 000-00-05 — пропущен 13:55"
    assert "3. +7 916 000-00-03 · Сидоров — пропущен 13:57" not in lines  # only the first 20 (24..5) are named
    english = render_board(alerts[:3], {}, Texts("en"), zone, now).split("\n")
    assert english == [
        "📋 <b>Not called back: 3</b>",
        "1. +7 916 000-00-03 — missed 13:57",
        "2. +7 916 000-00-02 — missed 13:58 · 📞 Иван",
        "3. +7 916 000-00-01 — missed 13:59 ×3 · 👤 Попов · ⏰ overdue",
    ]
    assert render_board([], {}, Texts("ru"), zone, now) == "✅ Все перезвонили"
