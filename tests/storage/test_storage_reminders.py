"""Stored reminders, deadlines and holds: armed once, sent once, cancelled with their alert; held alerts wait."""

import pytest

from storage import MissedCall, Storage
from storage.reminders import CHAT, Reminder

GROUP = -100
CUSTOMER, OTHER = "79110000001", "79110000002"


@pytest.fixture
def s(storage: Storage) -> Storage:
    storage.chats.subscribe(GROUP, "Sales", [], False, now=1)
    return storage


def missed(vpbx_id: str, clid: str = CUSTOMER, at: int = 100) -> MissedCall:
    return MissedCall(vpbx_id, clid, "74950000000", started_at=at, ended_at=at + 20)


def test_a_reminder_is_armed_once_and_sent_once(s: Storage) -> None:
    (alert_id,) = [r.alert_id for r in s.alerts.record_missed_many(GROUP, [missed("1")], now=120)]
    assert alert_id is not None
    reminders = s.reminders
    assert reminders.arm(alert_id, "deadline", CHAT, due_at=200, now=130)
    assert not reminders.arm(alert_id, "deadline", CHAT, due_at=999, now=131)  # armed already: unchanged
    assert reminders.arm(alert_id, "escalation", 7, due_at=300, now=130)
    assert reminders.due(199) == []
    assert [r.kind for r in reminders.due(300)] == ["deadline", "escalation"]
    assert [r.kind for r in reminders.due(300, kinds=["escalation"])] == ["escalation"]
    assert reminders.due(300, kinds=["callback"]) == []
    assert reminders.mark_sent(alert_id, "deadline", CHAT, now=200)
    assert not reminders.mark_sent(alert_id, "deadline", CHAT, now=200)  # one caller wins
    assert reminders.retry(alert_id, "deadline", CHAT, now=201)  # Telegram surely did not take it: due again
    assert reminders.mark_sent(alert_id, "deadline", CHAT, now=202)
    assert reminders.set_message(alert_id, "deadline", CHAT, 55, now=203)
    assert reminders.cancel_for_alert(alert_id, now=204) == 1  # the escalation; the sent one stays sent
    assert reminders.for_alert(alert_id) == [
        Reminder(alert_id, "deadline", CHAT, 200, "sent", 55, 130, 203),
        Reminder(alert_id, "escalation", 7, 300, "cancelled", None, 130, 204),
    ]
    assert reminders.due(10_000) == []


def test_new_alerts_are_stamped_in_the_same_transaction(s: Storage) -> None:
    stamps = {"1": (500, False), "3": (None, True)}
    results = s.alerts.record_missed_scheduled(
        GROUP, [missed("1"), missed("2", at=110), missed("3", OTHER)], 130, lambda call: stamps[call.vpbx_id]
    )
    assert [r.outcome for r in results] == ["new", "merged", "new"]  # the merged call keeps the alert's stamp
    first, other = (s.alerts.get(r.alert_id or 0) for r in (results[0], results[2]))
    assert first is not None and other is not None
    assert (first.deadline_at, first.held, other.deadline_at, other.held) == (500, False, None, True)


def test_held_alerts_wait_for_their_release(s: Storage) -> None:
    results = s.alerts.record_missed_scheduled(
        GROUP, [missed("1"), missed("2", OTHER)], 130, lambda call: (None, call.vpbx_id == "2")
    )
    first, held = (r.alert_id or 0 for r in results)
    assert [a.id for a in s.alerts.pending_delivery()] == [first]
    assert [a.id for a in s.alerts.pending_delivery(chat_id=GROUP)] == [first] and s.alerts.pending_chats() == [GROUP]
    assert s.alerts.held_chats() == [GROUP]
    assert [a.id for a in s.alerts.held_for(GROUP)] == [held]
    assert s.alerts.unhold([held]) == 1
    assert s.alerts.unhold([held]) == 0
    assert [a.id for a in s.alerts.pending_delivery()] == [first, held]
    assert s.alerts.held_chats() == []


def test_a_held_alert_closed_at_night_is_never_posted(s: Storage) -> None:
    (result,) = s.alerts.record_missed_scheduled(GROUP, [missed("1")], 130, lambda call: (None, True))
    assert s.alerts.close_answered_later(GROUP, CUSTOMER, answered_at=200, now=200) == [result.alert_id]
    assert s.alerts.held_chats() == [] and s.alerts.unhold([result.alert_id or 0]) == 0
    assert s.alerts.pending_delivery() == []


def test_past_deadline_lists_each_alert_until_it_is_armed(s: Storage) -> None:
    results = s.alerts.record_missed_scheduled(
        GROUP, [missed("1"), missed("2", OTHER)], 130, lambda call: (200 if call.vpbx_id == "1" else 300, False)
    )
    first, second = (r.alert_id or 0 for r in results)
    assert s.alerts.past_deadline(now=250) == []  # not shown in the chat yet
    for alert_id in (first, second):
        s.alerts.mark_delivered(alert_id, message_id=alert_id + 10, version=1)
    assert [a.id for a in s.alerts.past_deadline(now=250)] == [first]
    assert [a.id for a in s.alerts.past_deadline(now=300)] == [first, second]
    s.reminders.arm(first, "deadline", CHAT, 200, now=300)
    assert [a.id for a in s.alerts.past_deadline(now=300)] == [second]


def test_sla_off_takes_the_live_alerts_deadlines_away(s: Storage) -> None:
    (result,) = s.alerts.record_missed_scheduled(GROUP, [missed("1")], 130, lambda call: (500, False))
    assert s.chats.set_sla(GROUP, 30, now=140)
    assert s.alerts.get(result.alert_id or 0).deadline_at == 500  # type: ignore[union-attr]
    assert s.chats.set_sla(GROUP, 0, now=150)
    assert s.alerts.get(result.alert_id or 0).deadline_at is None  # type: ignore[union-attr]
    assert s.chats.get(GROUP).sla_minutes == 0  # type: ignore[union-attr]
    assert s.chats.set_hours(GROUP, {"start": "09:00", "end": "19:00", "days": [0]}, now=160)
    assert s.chats.get(GROUP).hours == '{"days":[0],"end":"19:00","start":"09:00"}'  # type: ignore[union-attr]
    assert s.chats.set_hours(GROUP, None, now=170)
    assert s.chats.get(GROUP).hours is None  # type: ignore[union-attr]
    assert not s.chats.set_sla(-999, 5, now=180)  # no such chat
