from pathlib import Path

from storage import Observed, Phone, Storage

MEMBERS = ["100", "101", "102"]
DELAY = 300


def test_a_phone_is_watched_from_the_first_time_it_is_seen_registered(storage: Storage) -> None:
    assert storage.phones.observe({"100", "999"}, MEMBERS, now=10, offline_for=DELAY) == Observed()
    # 101 and 102 were never seen registered: no row (always off is not news); 999 is nobody's: ignored.
    assert storage.phones.all() == {"100": Phone("100", True, 10, False, 10)}
    assert storage.phones.observe({"100", "101"}, MEMBERS, now=20, offline_for=DELAY) == Observed()
    assert storage.phones.all() == {
        "100": Phone("100", True, 10, False, 10),  # unchanged: no write
        "101": Phone("101", True, 20, False, 20),
    }


def test_offline_is_due_after_the_delay_and_once_reported_not_again(storage: Storage) -> None:
    storage.phones.observe({"100", "101"}, MEMBERS, now=10, offline_for=DELAY)
    assert storage.phones.observe({"101"}, MEMBERS, now=100, offline_for=DELAY) == Observed()
    went = Phone("100", False, 100, False, 100)
    assert storage.phones.all()["100"] == went
    assert storage.phones.observe({"101"}, MEMBERS, now=399, offline_for=DELAY) == Observed()
    assert storage.phones.observe({"101"}, MEMBERS, now=400, offline_for=DELAY) == Observed(offline=[went])
    # Not told (say, Telegram was down): due again at the next look.
    assert storage.phones.observe({"101"}, MEMBERS, now=460, offline_for=DELAY) == Observed(offline=[went])
    assert storage.phones.mark_reported(["100"], now=460) == 1
    assert storage.phones.mark_reported(["100"], now=461) == 0  # once
    assert storage.phones.all()["100"] == Phone("100", False, 100, True, 460)
    assert storage.phones.observe({"101"}, MEMBERS, now=520, offline_for=DELAY) == Observed()


def test_back_after_a_report_is_due_until_told(storage: Storage) -> None:
    storage.phones.observe({"100"}, MEMBERS, now=10, offline_for=DELAY)
    storage.phones.observe(set(), MEMBERS, now=100, offline_for=DELAY)
    storage.phones.mark_reported(["100"], now=400)
    reported = Phone("100", False, 100, True, 400)
    assert storage.phones.observe({"100"}, MEMBERS, now=820, offline_for=DELAY) == Observed(back=[reported])
    assert storage.phones.observe({"100"}, MEMBERS, now=880, offline_for=DELAY) == Observed(back=[reported])
    assert storage.phones.mark_back(["100"], now=820) == 1
    assert storage.phones.mark_back(["100"], now=821) == 0
    assert storage.phones.all() == {"100": Phone("100", True, 820, False, 820)}
    assert storage.phones.observe({"100"}, MEMBERS, now=940, offline_for=DELAY) == Observed()


def test_back_before_the_delay_is_silent(storage: Storage) -> None:
    storage.phones.observe({"100"}, MEMBERS, now=10, offline_for=DELAY)
    storage.phones.observe(set(), MEMBERS, now=100, offline_for=DELAY)
    assert storage.phones.observe({"100"}, MEMBERS, now=200, offline_for=DELAY) == Observed()
    assert storage.phones.all() == {"100": Phone("100", True, 200, False, 200)}
    assert storage.phones.mark_back(["100"], now=201) == 0  # nothing was reported, so nothing comes back
    # Gone again: the delay counts from the new moment.
    storage.phones.observe(set(), MEMBERS, now=250, offline_for=DELAY)
    assert storage.phones.observe(set(), MEMBERS, now=549, offline_for=DELAY) == Observed()
    assert storage.phones.observe(set(), MEMBERS, now=550, offline_for=DELAY).offline == [
        Phone("100", False, 250, False, 250)
    ]


def test_several_phones_at_once_and_only_members_count(storage: Storage) -> None:
    storage.phones.observe(set(MEMBERS), MEMBERS, now=10, offline_for=DELAY)
    storage.phones.observe(set(), MEMBERS, now=20, offline_for=DELAY)
    due = storage.phones.observe(set(), MEMBERS, now=320, offline_for=DELAY)
    assert [p.internal for p in due.offline] == MEMBERS
    # 102 left the company: its row stays as it was, and nothing is said of it any more.
    assert storage.phones.observe(set(), ["100", "101"], now=330, offline_for=DELAY).offline == due.offline[:2]
    assert storage.phones.mark_reported(["100", "101"], now=330) == 2
    assert storage.phones.all()["102"] == Phone("102", False, 20, False, 20)


def test_the_state_is_in_the_file(db_path: Path) -> None:
    with Storage.open(db_path) as storage:
        storage.phones.observe({"100"}, MEMBERS, now=10, offline_for=DELAY)
        storage.phones.observe(set(), MEMBERS, now=20, offline_for=DELAY)
        storage.phones.mark_reported(["100"], now=320)
    with Storage.open(db_path) as again:
        assert again.phones.all() == {"100": Phone("100", False, 20, True, 320)}
        assert again.phones.observe(set(), MEMBERS, now=400, offline_for=DELAY) == Observed()
        assert again.db["phones"].get("100") == {
            "internal": "100",
            "registered": 0,
            "since": 20,
            "reported": 1,
            "updated_at": 320,
        }


def test_sip_chats_are_the_subscribed_ones_that_asked(storage: Storage) -> None:
    storage.chats.subscribe(-1, "phones", [], False, now=1, sip=True)
    storage.chats.subscribe(-2, "calls only", [], False, now=1)
    storage.chats.subscribe(-3, "gone", [], False, now=1, sip=True)
    storage.chats.unsubscribe(-3, now=2)
    assert [(c.chat_id, c.sip) for c in storage.chats.sip_chats()] == [(-1, True)]
    assert storage.chats.subscribe(-1, "phones", [], False, now=3).sip is False  # asked again without it
    assert storage.chats.sip_chats() == []
