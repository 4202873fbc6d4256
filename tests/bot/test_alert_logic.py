"""The alert engine's pure parts: what a poll decides from one history, and how an alert reads."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.alerts import detect
from bot.alerts.render import render_alert
from bot.calllog.ingest import record
from bot.texts import Texts
from newtel import Call
from storage import Alert, Attempt, CallRecord, Chat, MissedCall

T0 = 1_800_000_000
MOSCOW = ZoneInfo("Europe/Moscow")


def call(
    vpbx_id: str,
    *,
    direction: str = "in",
    status: str = "no answer",
    start: int = T0,
    ring: int = 20,
    talk: int | None = None,
    active: bool = False,
) -> CallRecord:
    answer = start + ring if status == "answered" else None
    end = None if active else (answer + (talk or 0) if answer else start + ring)
    stamp = lambda seconds: None if seconds is None else datetime.fromtimestamp(seconds, UTC)  # noqa: E731
    return record(Call(
        vpbx_id=vpbx_id, active=active, direction=direction, clid="79160000001", dnid="74951112233", status=status,
        start_time=stamp(start), answer_time=stamp(answer), end_time=stamp(end),
    ))  # fmt: skip


def chat(chat_id: int, numbers: tuple[str, ...] = (), created_at: int = 0) -> Chat:
    return Chat(chat_id, "t", True, numbers, False, None, None, created_at, created_at, created_at)


def test_only_ended_inbound_unanswered_calls_are_missed() -> None:
    history = [
        call("a", start=T0 + 30),
        call("b", status="answered", talk=60),
        call("c", direction="out"),
        call("d", active=True),
        call("e", start=T0),
    ]
    missed = detect.missed_calls(history, since=0)
    assert [m.vpbx_id for m in missed] == ["e", "a"]  # oldest first
    assert missed[0] == MissedCall("e", "79160000001", "74951112233", started_at=T0, ended_at=T0 + 20)


def test_since_and_the_baselines_own_second() -> None:
    history = [call("old", start=T0 - 100), call("same", start=T0 - 20), call("new", start=T0 - 5)]
    at, known = detect.baseline(history[:2], now=T0 + 999)
    assert (at, known) == (T0, ["same"])
    # A call that ended in the baseline's very second but was not in the first history is still news.
    assert [m.vpbx_id for m in detect.missed_calls(history, at, known)] == ["new"]
    assert detect.baseline([], now=T0) == (T0, [])


def test_each_chat_gets_its_numbers_from_its_subscription_on() -> None:
    missed = [
        MissedCall("a", "7916", "74951112233", T0, T0 + 10),
        MissedCall("b", "7916", "78007776117", T0 + 50, T0 + 60),
    ]
    chats = [chat(1), chat(2, ("78007776117",)), chat(3, created_at=T0 + 30)]
    by_chat = detect.per_chat(missed, chats, {c.chat_id: c.created_at for c in chats})
    assert {k: [m.vpbx_id for m in v] for k, v in by_chat.items()} == {1: ["a", "b"], 2: ["b"], 3: ["b"]}


def test_a_chat_with_a_min_ring_hears_only_of_misses_that_rang_that_long() -> None:
    missed = [
        MissedCall("hung up", "7916", "74951112233", T0, T0 + 3),
        MissedCall("just", "7916", "74951112233", T0 + 10, T0 + 15),
        MissedCall("rang", "7916", "74951112233", T0 + 20, T0 + 30),
        MissedCall("clock skew", "7916", "74951112233", T0 + 40, T0 + 39),  # an end before the start rang 0 s
    ]
    chats = [chat(1), dataclasses.replace(chat(2), min_ring=5), dataclasses.replace(chat(3), min_ring=11)]
    by_chat = detect.per_chat(missed, chats, {})
    assert {k: [m.vpbx_id for m in v] for k, v in by_chat.items()} == {
        1: ["hung up", "just", "rang", "clock skew"],
        2: ["just", "rang"],  # 5 s is enough for "min 5"
        3: [],
    }
    assert [detect.ring_seconds(m) for m in missed] == [3, 5, 10, 0]


def test_answered_inbound_calls_close_alerts() -> None:
    history = [call("a", status="answered", start=T0, ring=5, talk=30), call("b", direction="out", status="answered")]
    assert detect.answered_inbound(history, since=0) == [detect.Answered("79160000001", T0 + 5)]
    assert detect.answered_inbound(history, since=T0 + 5) == []


def alert(**changes: object) -> Alert:
    base = Alert(
        id=7, chat_id=-1, clid="79161234567", dnid="74951112233", state="open", missed_count=1, first_at=T0,
        last_at=T0, ring_seconds=25, message_id=None, version=1, delivered_version=0, dirty=True, callback_by=None,
        callback_name=None, callback_started_at=None, callback_call_id=None, callback_vpbx_id=None,
        callback_outcome=None, talk_seconds=None, closed_by=None, closed_name=None, closed_at=None,
        close_reason=None, created_at=T0, updated_at=T0,
    )  # fmt: skip
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_an_alert_reads_like_a_note_from_a_colleague() -> None:
    now = datetime.fromtimestamp(T0 + 60, UTC)
    text, keyboard = render_alert(alert(), Texts("ru"), MOSCOW, now)
    when = datetime.fromtimestamp(T0, MOSCOW).strftime("%H:%M")
    assert text == (
        "📵 <b>Пропущенный звонок</b>\nОт: <b>+7 916 123-45-67</b>\nНа номер: +7 495 111-22-33\n"
        f"Когда: {when}, звонил 0:25"
    )
    assert keyboard is not None
    assert [(b.text, b.callback_data) for b in keyboard.inline_keyboard[0]] == [
        ("📞 Перезвонить", "v1:cb:7"),
        ("✅ Готово", "v1:done:7"),
    ]
    english, _ = render_alert(alert(missed_count=3, last_at=T0 + 40), Texts("en"), MOSCOW, now)
    assert english.startswith("📵 <b>3 missed calls</b>\nFrom: <b>+7 916 123-45-67</b>")


def test_every_state_says_who_did_what() -> None:
    now = datetime.fromtimestamp(T0 + 600, UTC)
    texts = Texts("ru")
    cases = {
        "📞 Иван перезванивает…": alert(state="calling", callback_name="Иван"),
        f"☎️ Иван: клиент не ответил, {datetime.fromtimestamp(T0 + 120, MOSCOW):%H:%M}": alert(
            callback_name="Иван", callback_outcome="no answer", attempts=(Attempt(T0 + 120, "Иван"),)
        ),
        "✅ Перезвонил(а) Иван, разговор 2:31.": alert(
            state="closed", close_reason="called_back", callback_name="Иван", talk_seconds=151
        ),
        "✅ Закрыто: Анна, ": alert(state="closed", close_reason="done", closed_name="Анна", closed_at=T0 + 300),
        "✅ Клиент дозвонился позже": alert(state="closed", close_reason="answered_later", closed_at=T0 + 300),
    }
    for expected, shown in cases.items():
        text, keyboard = render_alert(shown, texts, MOSCOW, now)
        assert expected in text.split("\n\n")[1], text
        assert (keyboard is not None) == (shown.state == "open")


def test_of_many_call_backs_nobody_answered_the_count_and_the_latest_are_shown() -> None:
    now = datetime.fromtimestamp(T0 + 3600, UTC)
    tried = tuple(Attempt(T0 + 600 * n, name) for n, name in enumerate(["Иван", "Анна", "Иван", "Олег", "Анна"], 1))
    text, keyboard = render_alert(alert(callback_outcome="no answer", attempts=tried), Texts("ru"), MOSCOW, now)
    times = [datetime.fromtimestamp(attempt.at, MOSCOW).strftime("%H:%M") for attempt in tried]
    assert text.split("\n")[-1] == (
        f"☎️ Не дозвонились (5): …, Анна {times[1]}, Иван {times[2]}, Олег {times[3]}, Анна {times[4]}"
    )
    assert keyboard is not None and [b.text for b in keyboard.inline_keyboard[1]] == ["🙋 Беру", "⏰ Напомнить позже"]
    two, _ = render_alert(alert(attempts=tried[:2]), Texts("en"), MOSCOW, now)
    assert two.split("\n")[-1] == f"☎️ No answer (2): Иван {times[0]}, Анна {times[1]}"
