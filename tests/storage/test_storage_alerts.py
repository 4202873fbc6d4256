import sqlite3
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import pytest

from storage import Alert, DatabaseBusy, MissedCall, RecordResult, Storage

CHAT = -100
CUSTOMER = "79110000001"
COMPANY = "74950000000"
T = TypeVar("T")


@pytest.fixture
def s(storage: Storage) -> Storage:
    storage.chats.subscribe(CHAT, "Sales", [], False, now=1)
    return storage


def fresh_alert(**fields: object) -> Alert:
    base: dict[str, object] = {
        "id": 1,
        "chat_id": CHAT,
        "clid": CUSTOMER,
        "dnid": COMPANY,
        "state": "open",
        "missed_count": 1,
        "first_at": 100,
        "last_at": 100,
        "ring_seconds": 20,
        "message_id": None,
        "version": 1,
        "delivered_version": 0,
        "dirty": True,
        "callback_by": None,
        "callback_name": None,
        "callback_started_at": None,
        "callback_call_id": None,
        "callback_vpbx_id": None,
        "callback_outcome": None,
        "talk_seconds": None,
        "closed_by": None,
        "closed_name": None,
        "closed_at": None,
        "close_reason": None,
        "created_at": 130,
        "updated_at": 130,
    }
    return Alert(**{**base, **fields})  # type: ignore[arg-type]


def miss(s: Storage, vpbx_id: str, at: int, clid: str = CUSTOMER, ring: int = 20, chat: int = CHAT) -> RecordResult:
    return s.alerts.record_missed(chat, vpbx_id, clid, COMPANY, at, at + ring, now=at + 30)


def test_a_missed_call_creates_an_undelivered_alert(s: Storage) -> None:
    assert miss(s, "c1", 100) == RecordResult(1, "new")
    assert s.alerts.get(1) == fresh_alert()
    assert s.alerts.pending_delivery() == [fresh_alert()]
    assert s.db["alert_calls"].get((CHAT, "c1")) == {"chat_id": CHAT, "vpbx_id": "c1", "alert_id": 1, "started_at": 100}


def test_misses_from_one_number_merge_and_each_call_counts_once(s: Storage) -> None:
    miss(s, "c1", 100)
    assert miss(s, "c2", 300, ring=5) == RecordResult(1, "merged")
    assert miss(s, "c2", 300, ring=5) == RecordResult(1, "duplicate")
    assert miss(s, "c0", 50, ring=9) == RecordResult(1, "merged")  # seen late: only widens first_at
    assert s.alerts.get(1) == fresh_alert(
        missed_count=3, first_at=50, last_at=300, ring_seconds=5, version=3, updated_at=80
    )
    assert miss(s, "c3", 400, clid="79110000002").is_new  # another customer: another alert
    assert [a.clid for a in s.alerts.open_for(CHAT)] == [CUSTOMER, "79110000002"]


def test_the_same_call_alerts_once_per_chat(s: Storage) -> None:
    s.chats.subscribe(-200, "Support", [], False, now=1)
    assert miss(s, "c1", 100).is_new
    assert miss(s, "c1", 100, chat=-200).is_new
    assert miss(s, "c1", 100).is_duplicate


def test_exactly_once_across_reopening_the_file(db_path: Path) -> None:
    with Storage.open(db_path) as first:
        first.chats.subscribe(CHAT, "Sales", [], False, now=1)
        miss(first, "c1", 100)
    with Storage.open(db_path) as second:
        assert miss(second, "c1", 100) == RecordResult(1, "duplicate")
        assert second.alerts.filter_new(CHAT, ["c1", "c2"]) == {"c2"}
        assert second.alerts.get(1).missed_count == 1  # type: ignore[union-attr]


def test_a_failed_record_leaves_nothing_behind(s: Storage) -> None:
    with pytest.raises(sqlite3.IntegrityError):  # unknown chat: foreign key
        s.alerts.record_missed(-999, "c1", CUSTOMER, COMPANY, 100, 120, now=130)
    assert s.alerts.filter_new(-999, ["c1"]) == {"c1"}
    assert not s.db.conn.in_transaction


def test_baseline_marks_calls_known_without_alerting(s: Storage) -> None:
    assert s.alerts.mark_known(CHAT, [f"c{i}" for i in range(1000)]) == 1000
    assert s.alerts.mark_known(CHAT, ["c1", "new"]) == 1
    assert s.alerts.filter_new(CHAT, ["c1", "c999", "c1000", "new", "c1000"]) == {"c1000"}
    assert miss(s, "c5", 100) == RecordResult(None, "duplicate")
    assert s.alerts.pending_delivery() == []
    assert s.db["alert_calls"].get((CHAT, "c5")) == {
        "chat_id": CHAT,
        "vpbx_id": "c5",
        "alert_id": None,
        "started_at": None,
    }


def test_delivery_with_a_stale_version_stays_pending(s: Storage) -> None:
    miss(s, "c1", 100)
    [pending] = s.alerts.pending_delivery()
    miss(s, "c2", 200)  # changes while the send is in flight
    assert s.alerts.mark_delivered(1, message_id=555, version=pending.version)
    after = s.alerts.get(1)
    assert after == fresh_alert(
        missed_count=2, last_at=200, message_id=555, version=2, delivered_version=1, dirty=True, updated_at=230
    )
    assert s.alerts.pending_delivery() == [after]
    assert s.alerts.mark_delivered(1, message_id=555, version=2)
    assert s.alerts.pending_delivery() == []
    assert s.alerts.mark_delivered(1, 555, version=1)  # a late report of an older send...
    assert s.alerts.get(1).delivered_version == 2  # type: ignore[union-attr]  # ...does not regress it
    assert not s.alerts.mark_delivered(1, 555, version=3)  # from the future: refused
    assert not s.alerts.mark_delivered(42, 555, version=1)


def test_callback_answered_closes_the_alert(s: Storage) -> None:
    miss(s, "c1", 100)
    s.alerts.mark_delivered(1, 555, 1)
    claimed = s.alerts.claim_callback(1, user_id=7, name="Ann", now=200)
    expected = fresh_alert(
        state="calling",
        message_id=555,
        delivered_version=1,
        version=2,
        dirty=True,
        callback_by=7,
        callback_name="Ann",
        callback_started_at=200,
        updated_at=200,
    )
    assert claimed == expected
    assert s.alerts.calling() == [expected]
    assert s.alerts.claim_callback(1, user_id=8, name="Bob", now=201) is None
    assert s.alerts.set_callback_call(1, "call-9", now=202) == replace(
        expected, callback_call_id="call-9", version=3, updated_at=202
    )
    done = s.alerts.callback_finished(1, answered=True, talk_seconds=65, vpbx_id="v-9", now=300)
    assert done == replace(
        expected,
        state="closed",
        callback_call_id="call-9",
        callback_vpbx_id="v-9",
        callback_outcome="answered",
        talk_seconds=65,
        closed_by=7,
        closed_name="Ann",
        closed_at=300,
        close_reason="called_back",
        version=4,
        updated_at=300,
    )
    assert s.alerts.calling() == []
    assert s.alerts.open_for(CHAT) == []
    assert not s.alerts.close(1, "done", by=8, name="Bob", now=301)
    assert miss(s, "c2", 400) == RecordResult(2, "new")  # a closed alert is not reopened


def test_callback_not_answered_or_failed_offers_the_button_again(s: Storage) -> None:
    miss(s, "c1", 100)
    s.alerts.claim_callback(1, 7, "Ann", now=200)
    no_answer = s.alerts.callback_finished(1, answered=False, talk_seconds=None, vpbx_id="v-1", now=230)
    assert no_answer is not None
    assert (no_answer.state, no_answer.callback_outcome, no_answer.callback_vpbx_id) == ("open", "no answer", "v-1")
    again = s.alerts.claim_callback(1, 8, "Bob", now=300)
    assert again is not None
    assert (again.callback_by, again.callback_outcome, again.callback_vpbx_id) == (8, None, None)
    failed = s.alerts.callback_failed(1, now=301)
    assert failed is not None and (failed.state, failed.callback_outcome, failed.version) == ("open", "failed", 5)
    assert s.alerts.callback_failed(1, now=302) is None  # not calling any more
    assert s.alerts.callback_finished(1, True, 10, None, now=303) is None


def test_done_closes_once(s: Storage) -> None:
    miss(s, "c1", 100)
    assert s.alerts.close(1, "done", by=7, name="Ann", now=200)
    assert not s.alerts.close(1, "done", by=8, name="Bob", now=201)
    assert s.alerts.get(1) == fresh_alert(
        state="closed", closed_by=7, closed_name="Ann", closed_at=200, close_reason="done", version=2, updated_at=200
    )


def test_answered_later_closes_open_alerts_missed_before_the_answer(s: Storage) -> None:
    s.chats.subscribe(-200, "Support", [], False, now=1)
    miss(s, "c1", 100)  # alert 1
    miss(s, "c1", 100, chat=-200)  # alert 2
    miss(s, "c2", 100, clid="79110000002")  # alert 3: someone else
    assert s.alerts.close_answered_later(CHAT, CUSTOMER, answered_at=90, now=500) == []  # missed after it
    assert s.alerts.close_answered_later(CHAT, CUSTOMER, answered_at=150, now=500) == [1]
    assert s.alerts.get(1) == fresh_alert(
        state="closed", closed_at=150, close_reason="answered_later", version=2, updated_at=500
    )
    s.alerts.claim_callback(2, 7, "Ann", now=160)
    assert s.alerts.close_answered_later(None, CUSTOMER, answered_at=170, now=500) == []  # calling: the poll decides
    assert [a.id for a in s.alerts.open_for(-200)] == [2]
    assert s.alerts.get(3).state == "open"  # type: ignore[union-attr]


def test_one_live_alert_per_customer_is_enforced_by_the_schema(s: Storage) -> None:
    miss(s, "c1", 100)
    insert = (
        "INSERT INTO alerts (chat_id, clid, state, first_at, last_at, created_at, updated_at, closed_at, close_reason)"
        " VALUES (?, ?, ?, 1, 1, 1, 1, ?, ?)"
    )
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        s.db.execute(insert, (CHAT, CUSTOMER, "calling", None, None))
    s.db.execute(insert, (CHAT, CUSTOMER, "closed", 1, "done"))  # closed ones may pile up
    s.db.execute(insert, (CHAT, CUSTOMER, "closed", 1, "done"))
    s.alerts.close(1, "done", None, None, now=2)
    s.db.execute(insert, (CHAT, CUSTOMER, "open", None, None))


def race(db_path: Path, fns: list[Callable[[Storage], T]]) -> list[T]:
    """Run each fn on its own connection in its own thread, all released at once; their results."""
    barrier = threading.Barrier(len(fns))
    results: list[T] = []

    def run(fn: Callable[[Storage], T]) -> None:
        with Storage.open(db_path) as mine:
            barrier.wait()
            results.append(fn(mine))

    threads = [threading.Thread(target=run, args=(fn,)) for fn in fns]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == len(fns)
    return results


def test_two_people_pressing_call_back_at_once_one_wins(db_path: Path) -> None:
    """Two bot processes (separate connections) racing on the same alert, many rounds."""
    with Storage.open(db_path) as main:
        main.chats.subscribe(CHAT, "Sales", [], False, now=1)
        miss(main, "c1", 100)
        for round_ in range(20):
            claims = race(db_path, [lambda st, u=user: st.alerts.claim_callback(1, u, "x", now=200) for user in (7, 8)])
            winners = [alert.callback_by for alert in claims if alert is not None]
            assert len(winners) == 1, (round_, winners)
            assert main.alerts.get(1).callback_by == winners[0]  # type: ignore[union-attr]
            assert main.alerts.callback_failed(1, now=300) is not None  # offer the button again


def busy_retried(write: Callable[[], T]) -> T:
    """The write, tried again while the other connection holds the lock past the busy timeout (200 ms, which a loaded
    machine can exceed): as a poller's next round would, so that what is tested is the count, not the timing."""
    while True:
        try:
            return write()
        except DatabaseBusy:
            continue


def test_two_pollers_recording_the_same_calls_count_each_once(db_path: Path) -> None:
    with Storage.open(db_path) as main:
        main.chats.subscribe(CHAT, "Sales", [], False, now=1)

        def poll(st: Storage) -> list[RecordResult]:
            return [busy_retried(lambda i=i: miss(st, f"c{i}", 100 + i)) for i in range(50)]

        results = [r for batch in race(db_path, [poll, poll]) for r in batch]
        assert [r.outcome for r in results].count("duplicate") == 50
        [alert] = main.alerts.open_for(CHAT)
        assert alert.missed_count == 50


def test_storage_refuses_use_from_another_thread(s: Storage) -> None:
    errors: list[BaseException] = []

    def use() -> None:
        try:
            s.alerts.get(1)
        except BaseException as e:
            errors.append(e)

    t = threading.Thread(target=use)
    t.start()
    t.join()
    assert len(errors) == 1 and isinstance(errors[0], sqlite3.ProgrammingError)


def test_record_missed_many_is_record_missed_in_one_transaction(s: Storage) -> None:
    calls = [
        MissedCall("c1", CUSTOMER, COMPANY, 100, 120),
        MissedCall("c2", CUSTOMER, COMPANY, 200, 205),
        MissedCall("c1", CUSTOMER, COMPANY, 100, 120),
        MissedCall("c3", "79110000002", COMPANY, 300, 330),
    ]
    assert s.alerts.record_missed_many(CHAT, calls, now=400) == [
        RecordResult(1, "new"),
        RecordResult(1, "merged"),
        RecordResult(1, "duplicate"),
        RecordResult(2, "new"),
    ]
    assert s.alerts.get(1) == fresh_alert(
        missed_count=2, last_at=200, ring_seconds=5, version=2, created_at=400, updated_at=400
    )
    bad = [MissedCall("c4", CUSTOMER, COMPANY, 500, 510), MissedCall("c5", None, COMPANY, 500, 510)]  # type: ignore[arg-type]
    with pytest.raises(sqlite3.IntegrityError):
        s.alerts.record_missed_many(CHAT, bad, now=600)
    assert s.alerts.filter_new(CHAT, ["c4", "c5"]) == {"c4", "c5"}  # all or nothing


def test_live_customers_and_their_earliest_live_miss(s: Storage) -> None:
    s.chats.subscribe(-200, "Support", [], False, now=1)
    asked = [CUSTOMER, "79110000002", "79110000003"]
    assert s.alerts.live_customers(asked) == {}
    miss(s, "c1", 100)  # alert 1: open
    miss(s, "c1", 90, chat=-200)  # alert 2: the same customer in another chat
    miss(s, "c2", 100, clid="79110000002")  # alert 3: calling
    miss(s, "c3", 100, clid="79110000003")  # alert 4: closed
    s.alerts.claim_callback(3, 7, "Ann", now=160)
    s.alerts.close(4, "done", by=7, name="Ann", now=170)
    assert s.alerts.live_customers(asked) == {CUSTOMER: 90, "79110000002": 100}
    assert s.alerts.live_customers(["79110000002"]) == {"79110000002": 100}  # only those asked about


def test_pending_delivery_by_chat(s: Storage) -> None:
    other = CHAT - 1
    s.chats.subscribe(other, "Moscow desk", [], False, now=1)
    for n in range(3):
        miss(s, f"busy{n}", 100 + n, clid=f"7916000000{n}")
    miss(s, "quiet", 200, chat=other)
    assert s.alerts.pending_chats() == sorted([CHAT, other])
    assert [a.clid for a in s.alerts.pending_delivery(limit=2, chat_id=CHAT)] == ["79160000000", "79160000001"]
    assert [(a.chat_id, a.clid) for a in s.alerts.pending_delivery(chat_id=other)] == [(other, CUSTOMER)]
    assert len(s.alerts.pending_delivery(limit=50)) == 4


def test_one_customer_is_called_back_from_one_chat_at_a_time(s: Storage) -> None:
    other = CHAT - 1
    s.chats.subscribe(other, "Moscow desk", [], False, now=1)
    first, second = miss(s, "v1", 100), miss(s, "v1", 100, chat=other)
    assert first.alert_id is not None and second.alert_id is not None
    assert s.alerts.claim_callback(first.alert_id, 7, "Ivan", now=200) is not None
    assert s.alerts.claim_callback(second.alert_id, 8, "Anna", now=201) is None
    s.alerts.callback_failed(first.alert_id, now=202)
    assert s.alerts.claim_callback(second.alert_id, 8, "Anna", now=203) is not None


def test_a_late_step_of_an_earlier_claim_changes_nothing(s: Storage) -> None:
    alert_id = miss(s, "v1", 100).alert_id
    assert alert_id is not None
    earlier = s.alerts.claim_callback(alert_id, 7, "Ivan", now=200)
    assert earlier is not None and s.alerts.callback_failed(alert_id, now=210, claim=earlier) is not None
    newer = s.alerts.claim_callback(alert_id, 8, "Anna", now=220)
    assert newer is not None
    assert s.alerts.callback_failed(alert_id, now=230, claim=earlier) is None  # Ivan's is long over
    assert s.alerts.set_callback_call(alert_id, "1" * 16, claim=earlier) is None
    assert s.alerts.callback_finished(alert_id, True, 60, "a" * 40, now=240, claim=earlier) is None
    current = s.alerts.get(alert_id)
    assert current is not None and (current.state, current.callback_by) == ("calling", 8)


# --- the owner ("I'll take it") and the callback reminder ---


def test_one_owner_at_a_time_kept_through_callbacks_and_closing(s: Storage) -> None:
    alert_id = miss(s, "c1", 100).alert_id
    assert alert_id is not None
    taken = s.alerts.take(alert_id, 7, "Ivan", now=200)
    assert taken == fresh_alert(owner_id=7, owner_name="Ivan", owned_at=200, version=2, updated_at=200)
    assert s.alerts.take(alert_id, 8, "Anna", now=201) is None  # someone has it
    assert s.alerts.take(alert_id, 7, "Ivan", now=202) is None  # and it is already theirs
    assert s.alerts.release_owner(alert_id, 8, now=203) is None  # only the owner lets it go
    claim = s.alerts.claim_callback(alert_id, 8, "Anna", now=210, owner_seen=7)  # someone else calls anyway
    assert claim is not None and s.alerts.callback_finished(alert_id, False, None, None, now=220, claim=claim)
    reopened = s.alerts.get(alert_id)
    assert reopened is not None and (reopened.state, reopened.owner_id, reopened.owned_at) == ("open", 7, 200)
    released = s.alerts.release_owner(alert_id, 7, now=230)
    assert released is not None and (released.owner_id, released.owner_name, released.owned_at) == (None, None, None)
    assert released.version == reopened.version + 1  # shown again, without the owner
    assert s.alerts.take(alert_id, 8, "Anna", now=240) is not None
    assert s.alerts.close(alert_id, "done", by=8, name="Anna", now=250)
    closed = s.alerts.get(alert_id)
    assert closed is not None and (closed.owner_id, closed.owner_name) == (8, "Anna")  # who had it
    assert s.alerts.release_owner(alert_id, 8, now=260) is None and s.alerts.take(alert_id, 7, "Ivan", now=260) is None


def test_two_people_taking_an_alert_at_once_one_owns_it(db_path: Path) -> None:
    """Two connections racing on the same alert, many rounds: one owner each time."""
    with Storage.open(db_path) as main:
        main.chats.subscribe(CHAT, "Sales", [], False, now=1)
        miss(main, "c1", 100)
        for round_ in range(20):
            taken = race(db_path, [lambda st, u=user: st.alerts.take(1, u, f"user {u}", now=200) for user in (7, 8)])
            owners = [alert.owner_id for alert in taken if alert is not None]
            assert len(owners) == 1, (round_, owners)
            current = main.alerts.get(1)
            assert current is not None and (current.owner_id, current.owner_name) == (owners[0], f"user {owners[0]}")
            assert main.alerts.release_owner(1, owners[0], now=300) is not None


def test_a_removed_users_live_alerts_are_let_go(s: Storage) -> None:
    ids = [miss(s, f"c{n}", 100, clid=f"7911000000{n}").alert_id for n in range(4)]
    assert None not in ids
    first, second, annas, closed = (int(i) for i in ids if i is not None)
    for alert_id in (first, second, closed):
        s.alerts.take(alert_id, 7, "Ivan", now=200)
    s.alerts.take(annas, 8, "Anna", now=200)
    s.alerts.close(closed, "done", by=7, name="Ivan", now=210)
    versions = {a.id: a.version for a in s.alerts.open_for(CHAT)}
    assert s.alerts.release_all_of(7, now=300) == [first, second]
    after = {a.id: a for a in s.alerts.open_for(CHAT)}
    assert [after[i].owner_id for i in (first, second, annas)] == [None, None, 8]
    assert [after[i].version - versions[i] for i in (first, second, annas)] == [1, 1, 0]  # shown again
    assert s.alerts.get(closed).owner_id == 7  # type: ignore[union-attr]  # closed: history
    assert s.alerts.release_all_of(7, now=310) == []


def test_a_callback_reminder_is_due_once_and_asked_for_again(s: Storage) -> None:
    alert_id = miss(s, "c1", 100).alert_id
    assert alert_id is not None
    reminders = s.reminders
    armed = reminders.rearm(alert_id, "callback", 7, due_at=500, now=200)
    assert (armed.state, armed.due_at, armed.message_id, armed.created_at) == ("due", 500, None, 200)
    assert reminders.due(499, kinds=["callback"]) == []
    assert reminders.due(500, kinds=["callback"]) == [armed]
    assert reminders.due(500, kinds=["deadline"]) == []
    assert reminders.mark_sent(alert_id, "callback", 7, now=500)
    assert not reminders.mark_sent(alert_id, "callback", 7, now=501)  # the second look finds it taken
    assert reminders.due(10_000, kinds=["callback"]) == []  # never due again, a restart or not
    reminders.set_message(alert_id, "callback", 7, 42, now=502)
    assert reminders.get(alert_id, "callback", 7) == replace(armed, state="sent", message_id=42, updated_at=502)
    # Asked for again after another call back nobody answered: due anew, the old message no longer its own.
    again = reminders.rearm(alert_id, "callback", 7, due_at=900, now=600)
    assert again == replace(armed, due_at=900, updated_at=600)
    reminders.rearm(alert_id, "callback", 8, due_at=900, now=600)
    assert reminders.cancel_for_user(7, "callback", now=700) == 1
    assert [(r.user_id, r.state) for r in reminders.for_alert(alert_id)] == [(7, "cancelled"), (8, "due")]
    assert reminders.cancel_for_user(7, "callback", now=701) == 0
    assert reminders.get(alert_id, "callback", 9) is None


def test_a_claim_is_refused_when_someone_took_the_alert_since_the_presser_saw_it(s: Storage) -> None:
    miss(s, "c1", 100)
    assert s.alerts.take(1, user_id=5, name="Олег", now=150) is not None
    assert s.alerts.claim_callback(1, user_id=7, name="Ann", now=200) is None  # saw nobody: Олег took it since
    assert s.alerts.claim_callback(1, user_id=7, name="Ann", now=201, owner_seen=9) is None  # saw someone else
    assert s.alerts.get(1).state == "open"  # type: ignore[union-attr]
    claimed = s.alerts.claim_callback(1, user_id=7, name="Ann", now=202, owner_seen=5)  # asked about Олег: calls
    assert claimed is not None and (claimed.state, claimed.owner_id) == ("calling", 5)
    s.alerts.callback_failed(1, now=203)
    assert s.alerts.claim_callback(1, user_id=5, name="Олег", now=204) is not None  # the owner's own: always
