import pytest

from storage import Chat, Storage


def test_subscribe_and_resubscribe_keep_digest_and_language(storage: Storage) -> None:
    chat = storage.chats.subscribe(-100, "Sales", ["74950000001", "74950000000"], True, now=10)
    assert chat == Chat(
        chat_id=-100,
        title="Sales",
        subscribed=True,
        numbers=("74950000000", "74950000001"),
        balance_alerts=True,
        digest_time=None,
        language=None,
        created_at=10,
        updated_at=10,
        subscribed_at=10,
    )
    assert storage.db["chats"].get(-100)["numbers"] == '["74950000000","74950000001"]'
    assert storage.chats.set_digest(-100, "09:30", now=11)
    assert storage.chats.set_language(-100, "en", now=12)
    assert storage.chats.unsubscribe(-100, now=13)
    assert storage.chats.subscribed() == []
    again = storage.chats.subscribe(-100, None, [], False, now=20)
    assert again == Chat(
        chat_id=-100,
        title="Sales",
        subscribed=True,
        numbers=(),
        balance_alerts=False,
        digest_time="09:30",
        language="en",
        created_at=10,
        updated_at=20,
        subscribed_at=20,  # subscribed again: what it missed meanwhile is not its news
    )
    assert storage.chats.get(-100) == again
    assert storage.chats.get(-1) is None
    assert not storage.chats.unsubscribe(-1, now=1)


def test_subscribed_at_moves_only_when_the_subscription_widens(storage: Storage) -> None:
    storage.chats.subscribe(-100, "Sales", ["74950000000"], False, now=10)
    assert storage.chats.subscribe(-100, "Sales", ["74950000000"], True, now=20).subscribed_at == 10
    assert storage.chats.subscribe(-100, "Sales", [], True, now=30).subscribed_at == 30


def test_matching_uses_the_number_filter_and_skips_unsubscribed(storage: Storage) -> None:
    storage.chats.subscribe(-1, "all", [], False, now=1)
    storage.chats.subscribe(-2, "moscow", ["74950000000"], False, now=1)
    storage.chats.subscribe(-3, "spb", ["78120000000"], False, now=1)
    storage.chats.subscribe(-4, "gone", [], False, now=1)
    storage.chats.unsubscribe(-4, now=2)
    assert [c.chat_id for c in storage.chats.matching("74950000000")] == [-2, -1]
    assert [c.chat_id for c in storage.chats.matching("70000000000")] == [-1]
    assert [c.chat_id for c in storage.chats.subscribed()] == [-3, -2, -1]


def test_digest_time_is_validated(storage: Storage) -> None:
    storage.chats.subscribe(-1, "t", [], False, now=1)
    for bad in ("9:00", "24:00", "12:60", "noon"):
        with pytest.raises(Exception, match="CHECK"):
            storage.chats.set_digest(-1, bad, now=2)
    assert storage.chats.set_digest(-1, None, now=2)


def test_move_to_a_supergroup_carries_alerts(storage: Storage) -> None:
    storage.chats.subscribe(-1, "group", [], False, now=1)
    result = storage.alerts.record_missed(-1, "c1", "7911", "7495", 100, 110, now=120)
    assert storage.chats.move(-1, -1001, now=200)
    assert storage.chats.get(-1) is None
    assert storage.chats.get(-1001).title == "group"  # type: ignore[union-attr]
    assert storage.alerts.get(result.alert_id).chat_id == -1001  # type: ignore[arg-type,union-attr]
    assert storage.alerts.record_missed(-1001, "c1", "7911", "7495", 100, 110, now=121).is_duplicate


def test_min_ring_is_part_of_each_subscription_and_the_board_is_kept(storage: Storage) -> None:
    chat = storage.chats.subscribe(-1, "t", [], False, now=1, min_ring=5)
    assert (chat.min_ring, chat.board_message_id) == (5, None)
    assert storage.chats.set_board(-1, 42, now=2)
    again = storage.chats.subscribe(-1, "t", [], True, now=3)  # each /subscribe says all its options
    assert (again.min_ring, again.board_message_id, again.subscribed_at) == (0, 42, 1)
    assert storage.chats.set_board(-1, None, now=4) and storage.chats.get(-1).board_message_id is None  # type: ignore[union-attr]
    assert not storage.chats.set_board(-2, 7, now=5)
    with pytest.raises(Exception, match="CHECK"):
        storage.chats.subscribe(-1, "t", [], False, now=6, min_ring=-1)
