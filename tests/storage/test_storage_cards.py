"""Ringing cards: the lane records what a card shows without ever writing its calls, so a call that joined the card
meanwhile (the live check) is never dropped."""

from __future__ import annotations

from storage import Card, Storage


def test_a_card_read_before_a_call_joined_it_records_nothing_and_keeps_the_call(storage: Storage) -> None:
    storage.users.allow(7, "manager", member_id="m-1", member_name="Ann", internal_number="101", now=90)
    assert storage.cards.claim("A", 7, ["A"], now=100)
    (read,) = storage.cards.open()  # the lane reads the card, then awaits Telegram...
    storage.cards.join(read, ("A", "B"), now=101)  # ...while the live check joins B
    assert not storage.cards.shown_as(read, "digest of A", True, now=102)
    assert storage.cards.open() == [Card("A", 7, None, ("A", "B"), "", False)]
    (fresh,) = storage.cards.open()
    assert storage.cards.shown_as(fresh, "digest of A and B", True, now=103)
    assert storage.cards.open() == []
    storage.cards.forget_before(104)
    assert storage.cards.open() == []
