from typing import Any

from storage import MissedCall, Storage

CHAT = -100


def rows(storage: Storage) -> list[dict[str, Any]]:
    return list(storage.db.query("SELECT * FROM ledger ORDER BY id"))


def test_a_board_is_written_down_before_it_is_sent_and_becomes_the_chats_once_it_landed(storage: Storage) -> None:
    storage.chats.subscribe(CHAT, "Sales", [], False, now=1)
    first = storage.ledger.intend(CHAT, "board", now=10)
    assert rows(storage) == [
        {"id": first, "chat_id": CHAT, "kind": "board", "alert_ids": "[]", "message_id": None, "retired_at": None,
         "created_at": 10, "updated_at": 10},
    ]  # fmt: skip
    assert storage.chats.get(CHAT).board_message_id is None  # type: ignore[union-attr]
    storage.ledger.landed(first, 7, now=11)
    assert storage.chats.get(CHAT).board_message_id == 7  # type: ignore[union-attr]
    assert storage.ledger.stale_boards(CHAT) == []

    lost = storage.ledger.intend(CHAT, "board", now=12)  # a kill or a lost answer: it never gets its message
    surely_not = storage.ledger.intend(CHAT, "board", now=13)
    storage.ledger.forget(surely_not)  # Telegram surely did not take it
    newer = storage.ledger.intend(CHAT, "board", now=14)
    storage.ledger.landed(newer, 9, now=15)
    assert storage.chats.get(CHAT).board_message_id == 9  # type: ignore[union-attr]
    assert storage.ledger.stale_boards(CHAT) == [7]  # replaced: to be taken down
    storage.ledger.retired(CHAT, 7, now=16)
    assert storage.ledger.stale_boards(CHAT) == []
    assert [(r["id"], r["message_id"], r["retired_at"]) for r in rows(storage)] == [
        (first, 7, 16), (lost, None, None), (newer, 9, None)
    ]  # fmt: skip

    storage.ledger.adopt_board(CHAT, 11, now=17)  # found pinned, unknown to storage
    storage.ledger.adopt_board(CHAT, 11, now=18)  # found again: written down once
    assert storage.chats.get(CHAT).board_message_id == 11  # type: ignore[union-attr]
    assert storage.ledger.stale_boards(CHAT) == [9]

    assert storage.chats.move(CHAT, -200, now=19)  # a supergroup now: its boards follow it
    assert storage.ledger.stale_boards(-200) == [9]


def test_a_summary_releases_its_held_alerts_into_its_message_once_it_landed(storage: Storage) -> None:
    storage.chats.subscribe(CHAT, "Sales", [], False, now=1)
    calls = [MissedCall(f"v{n}", f"7916000000{n}", "74950000000", 100 + n, 110 + n) for n in range(3)]
    recorded = storage.alerts.record_missed_scheduled(CHAT, calls, now=200, schedule=lambda call: (None, True))
    ids = [r.alert_id for r in recorded if r.alert_id is not None]
    told, later = ids[:2], ids[2]
    entry = storage.ledger.intend(CHAT, "summary", now=300, alert_ids=told)
    assert [a.id for a in storage.alerts.held_for(CHAT)] == ids  # still held until Telegram answered
    storage.ledger.landed(entry, 55, now=301)
    shown = storage.alerts.in_summary(CHAT, 55)
    assert [(a.id, a.held, a.summary, a.dirty) for a in shown] == [(i, False, True, True) for i in told]  # to fill in
    assert [a.id for a in storage.alerts.held_for(CHAT)] == [later]
    assert storage.chats.get(CHAT).board_message_id is None  # type: ignore[union-attr]
    assert [(r["kind"], r["alert_ids"], r["message_id"]) for r in rows(storage)] == [
        ("summary", f"[{told[0]},{told[1]}]", 55)
    ]
