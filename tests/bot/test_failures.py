"""When New-Tel or Telegram fail: the user gets a short message saying what happened, calls are never
started twice, and the bot keeps serving everyone else."""

from __future__ import annotations

import pytest

from tests.bot.conftest import ADMIN, MANAGER, MANAGER2, World

UNAVAILABLE = "⚠️ «Нью-Тел» сейчас не отвечает. Попробуйте через минуту."
BLOCKED = "⛔ Аккаунт компании в «Нью-Тел» заблокирован; сейчас работает только /balance."
START_CALL = "call/start-simple-call"


async def test_new_tel_failing_with_5xx_is_retried_a_few_times_then_reported(world: World, manager: object) -> None:
    world.sandbox.faults.fail(status=503, times=4, methods=["company/get-state"])
    assert await world.ask(MANAGER, "/balance") == UNAVAILABLE
    assert len(world.newtel_requests("company/get-state")) == 4  # the first try and three retries
    # The bot keeps serving: others at once, and the same manager once New-Tel is back.
    assert (await world.ask(ADMIN, "/whoami")).startswith("Кто вы")
    assert (await world.ask(MANAGER, "/balance")).startswith("💰 Баланс:")


async def test_a_single_5xx_is_not_even_noticed(world: World, manager: object) -> None:
    world.sandbox.faults.fail(status=500, times=1, methods=["vpbx/get-calls"])
    assert (await world.ask(MANAGER, "/calls")).startswith("📞 Звонки (все)")
    assert len(world.newtel_requests("vpbx/get-calls")) == 2


async def test_new_tel_not_answering_in_time_is_reported(world: World, manager: object) -> None:
    world.use_newtel(timeout=0.2, max_retries=1)
    world.sandbox.faults.latency = 0.4
    assert await world.ask(MANAGER, "/members") == UNAVAILABLE
    world.sandbox.faults.latency = 0
    assert (await world.ask(MANAGER, "/members")).startswith("Сотрудники\n")


async def test_a_dropped_connection_is_reported(world: World, manager: object) -> None:
    world.sandbox.faults.disconnect(times=4, methods=["company/get-numbers"])
    assert await world.ask(MANAGER, "/numbers") == UNAVAILABLE


async def test_rate_limiting_says_how_long_to_wait_without_hammering_new_tel(world: World, manager: object) -> None:
    world.sandbox.faults.rate_limit(retry_after=120, methods=["company/get-state"])
    assert await world.ask(MANAGER, "/balance") == "⚠️ «Нью-Тел» просит подождать (~120 с). Попробуйте чуть позже."
    assert (
        len(world.newtel_requests("company/get-state")) == 1
    )  # a long Retry-After is the user's to wait, not the bot's


async def test_a_blocked_account_still_shows_the_balance_but_nothing_else(world: World, manager: object) -> None:
    world.sandbox.set_state(balance=-150.5, status="blocked")
    assert await world.ask(MANAGER, "/balance") == (
        "💰 Баланс: -150,50\u00a0₽\nКредит: 0,00\u00a0₽\nРасходы за сутки: 122,43\u00a0₽\n"
        "Расходы за месяц: 3\u202f041,09\u00a0₽\nСтатус: ⛔ заблокирован\n\n"
        "⛔ Аккаунт компании заблокирован. Пополните баланс: пока он заблокирован, «Нью-Тел» отвечает только "
        "на /balance."
    )
    for command in ("/calls", "/members", "/call 8 916 555 44 33"):
        assert await world.ask(MANAGER, command) == BLOCKED, command


async def test_a_failed_call_start_is_not_repeated_and_the_manager_is_told(world: World, manager: object) -> None:
    world.sandbox.faults.fail(status=500, times=1, methods=[START_CALL])
    assert await world.ask(MANAGER, "/call 8 916 555 44 33") == (
        "⚠️ «Нью-Тел» не подтвердил звонок. Он мог всё же начаться: подождите минуту, не зазвонит ли ваш "
        "телефон +7 974 714-48-54, прежде чем звонить снова."
    )
    assert len(world.newtel_requests(START_CALL)) == 1
    # Logged before it was requested, and marked as possibly placed: not as started, not as refused.
    (entry,) = world.services.storage.audit.recent(action="call.start")
    assert (entry.details["outcome"], entry.details["error"]) == ("uncertain", "ServerError")


async def test_a_call_start_that_times_out_is_not_repeated_either(world: World, manager: object) -> None:
    # The caller id and the member's phone are known (cached) before New-Tel slows down.
    await world.ask(MANAGER, "/numbers")
    await world.ask(MANAGER, "/members")
    world.use_newtel(timeout=0.2)
    world.sandbox.faults.latency = 0.4
    assert await world.ask(MANAGER, "/call 8 916 555 44 33") == (
        "⚠️ «Нью-Тел» не подтвердил звонок. Он мог всё же начаться: подождите минуту, не зазвонит ли ваш "
        "телефон +7 974 714-48-54, прежде чем звонить снова."
    )
    world.sandbox.faults.latency = 0
    assert len(world.newtel_requests(START_CALL)) == 1


async def test_a_rate_limited_call_start_was_not_placed_and_says_so(world: World, manager: object) -> None:
    world.sandbox.faults.rate_limit(retry_after=90, methods=[START_CALL])
    assert await world.ask(MANAGER, "/call 8 916 555 44 33") == (
        "⚠️ «Нью-Тел» просит подождать (~90 с). Попробуйте чуть позже."
    )
    assert len(world.newtel_requests(START_CALL)) == 1


async def test_a_failure_behind_a_button_is_shown_in_the_buttons_popup(world: World, manager: object) -> None:
    page = await world.say(MANAGER, "/calls 30")
    world.sandbox.faults.fail(status=502, times=4, methods=["vpbx/get-calls"])
    answer = await world.press(MANAGER, page, "Далее ›")
    assert answer == {"text": UNAVAILABLE, "show_alert": True}
    assert world.tg.message(MANAGER, page["message_id"])["edit_count"] == 0  # type: ignore[index]


@pytest.mark.parametrize("status", [403, 500])
async def test_telegram_refusing_one_reply_does_not_stop_the_bot(world: World, manager: object, status: int) -> None:
    world.make_manager(MANAGER2, internal="102")
    world.tg.faults.fail(status=status, methods={"sendMessage"}, times=1)
    world.tg.send_text(MANAGER, "/whoami")
    await world.tg.wait_for("sendMessage", chat_id=MANAGER, ok=False)
    assert (await world.ask(MANAGER2, "/whoami")).startswith("Кто вы")
    assert (await world.ask(MANAGER, "/whoami")).startswith("Кто вы")
