"""Recordings kept as Telegram files, and each answered call's recording posted once per chat subscribed with
"records"."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from storage import CallRecord, RecordPost, Storage

TALK = CallRecord("a" * 40, "in", "79031112233", "74955325585", "answered", False, 1_000, 1_010, 1_130)
OTHER = replace(TALK, vpbx_id="b" * 40, started_at=2_000, answered_at=2_005, ended_at=2_065)
SALES, SUPPORT = -100, -200


@pytest.fixture
def s(storage: Storage) -> Storage:
    storage.calls.ingest([TALK, OTHER], now=3_000)
    storage.chats.subscribe(SALES, "Sales", [], False, now=500, records=True)
    storage.chats.subscribe(SUPPORT, "Support", [], False, now=500, records=True)
    return storage


def test_the_first_file_kept_stays(s: Storage) -> None:
    assert s.recordings.file_id(TALK.vpbx_id) is None
    assert s.recordings.keep(TALK.vpbx_id, "file-1", now=3_100)
    assert not s.recordings.keep(TALK.vpbx_id, "file-2", now=3_200)
    assert s.recordings.file_id(TALK.vpbx_id) == "file-1"
    assert not s.recordings.keep("c" * 40, "file-3", now=3_300)  # not in the archive: nothing to attach it to
    assert s.db.execute("SELECT count(*) FROM recordings").fetchone() == (1,)


def test_a_file_telegram_refuses_is_forgotten_and_the_next_one_kept(s: Storage) -> None:
    s.recordings.keep(TALK.vpbx_id, "file-1", now=3_100)
    assert not s.recordings.forget(TALK.vpbx_id, "file-0")  # not the call's file (another was kept meanwhile)
    assert not s.recordings.forget(OTHER.vpbx_id, "file-1")
    assert s.recordings.file_id(TALK.vpbx_id) == "file-1"
    assert s.recordings.forget(TALK.vpbx_id, "file-1")
    assert s.recordings.file_id(TALK.vpbx_id) is None
    assert s.recordings.keep(TALK.vpbx_id, "file-2", now=3_200)
    assert s.recordings.file_id(TALK.vpbx_id) == "file-2"


def test_a_post_per_chat_and_call_is_made_once_however_often_it_is_asked(s: Storage) -> None:
    wanted = [(SALES, TALK.vpbx_id), (SUPPORT, TALK.vpbx_id), (SALES, OTHER.vpbx_id)]
    assert s.recordings.enqueue(wanted, due_at=3_000) == 3
    assert s.recordings.enqueue(wanted, due_at=4_000) == 0  # the same calls pending again after a crash
    assert s.recordings.enqueue([(SALES, "c" * 40)], due_at=3_000) == 0  # a call the archive does not hold
    assert s.recordings.posts(TALK.vpbx_id) == [
        RecordPost(SUPPORT, TALK, "due", 0, 3_000, None),
        RecordPost(SALES, TALK, "due", 0, 3_000, None),
    ]
    assert s.recordings.enqueue([], due_at=3_000) == 0


def test_due_posts_come_longest_waiting_first_and_a_sent_one_never_again(s: Storage) -> None:
    s.recordings.enqueue([(SALES, OTHER.vpbx_id)], due_at=3_000)
    s.recordings.enqueue([(SALES, TALK.vpbx_id), (SUPPORT, TALK.vpbx_id)], due_at=3_010)
    assert s.recordings.due(now=2_999, limit=10) == []
    assert [(p.chat_id, p.call.vpbx_id) for p in s.recordings.due(now=3_010, limit=2)] == [
        (SALES, OTHER.vpbx_id),
        (SUPPORT, TALK.vpbx_id),
    ]
    assert s.recordings.sent(SALES, OTHER.vpbx_id, message_id=77, file_id="file-b", now=3_020)
    assert not s.recordings.sent(SALES, OTHER.vpbx_id, message_id=78, file_id="file-c", now=3_021)
    assert s.recordings.posts(OTHER.vpbx_id) == [RecordPost(SALES, OTHER, "sent", 0, 3_000, 77)]
    assert s.recordings.file_id(OTHER.vpbx_id) == "file-b"  # kept with the post, in one transaction
    assert len(s.recordings.due(now=10_000, limit=10)) == 2
    s.recordings.enqueue([(SALES, OTHER.vpbx_id)], due_at=3_000)
    assert [p.call.vpbx_id for p in s.recordings.due(now=10_000, limit=10)] == [TALK.vpbx_id] * 2


def test_failed_attempts_back_off_then_give_up(s: Storage) -> None:
    s.recordings.enqueue([(SALES, TALK.vpbx_id)], due_at=3_000)
    assert s.recordings.retry(SALES, TALK.vpbx_id, due_at=3_060, max_tries=3) == "due"
    assert s.recordings.due(now=3_059, limit=10) == []
    (post,) = s.recordings.due(now=3_060, limit=10)
    assert (post.tries, post.due_at) == (1, 3_060)
    s.recordings.postpone(SALES, TALK.vpbx_id, due_at=3_200)  # Telegram's fault: no attempt counted
    assert s.recordings.posts(TALK.vpbx_id)[0].tries == 1
    assert s.recordings.retry(SALES, TALK.vpbx_id, due_at=3_300, max_tries=3) == "due"
    assert s.recordings.retry(SALES, TALK.vpbx_id, due_at=3_500, max_tries=3) == "failed"
    assert s.recordings.posts(TALK.vpbx_id) == [RecordPost(SALES, TALK, "failed", 3, 3_500, None)]
    assert s.recordings.due(now=10_000, limit=10) == []


def test_a_chat_the_bot_cannot_write_to_fails_alone(s: Storage) -> None:
    s.recordings.enqueue([(SALES, TALK.vpbx_id), (SALES, OTHER.vpbx_id), (SUPPORT, TALK.vpbx_id)], due_at=3_000)
    assert s.recordings.give_up_chat(SALES) == 2
    assert [(p.chat_id, p.call.vpbx_id) for p in s.recordings.due(now=3_000, limit=10)] == [(SUPPORT, TALK.vpbx_id)]
    s.recordings.give_up(SUPPORT, TALK.vpbx_id)
    assert s.recordings.due(now=3_000, limit=10) == []


def test_a_post_follows_its_chat_to_a_supergroup_and_leaves_with_its_call(s: Storage) -> None:
    s.recordings.enqueue([(SALES, TALK.vpbx_id)], due_at=3_000)
    s.recordings.keep(TALK.vpbx_id, "file-a", now=3_000)
    s.chats.move(SALES, -1_000_500, now=3_001)
    assert [p.chat_id for p in s.recordings.posts(TALK.vpbx_id)] == [-1_000_500]
    s.calls.prune(before=1_500)  # past the archive's retention
    assert s.recordings.posts(TALK.vpbx_id) == [] and s.recordings.file_id(TALK.vpbx_id) is None


def test_the_alert_a_call_answered(s: Storage) -> None:
    missed = s.alerts.record_missed(SALES, "d" * 40, TALK.clid, TALK.dnid, 900, 930, now=935)
    s.alerts.record_missed(SUPPORT, "d" * 40, TALK.clid, TALK.dnid, 900, 930, now=935)
    assert s.recordings.alert_of(SALES, TALK) is None  # still open: this call has not closed it yet
    s.alerts.close_answered_later(None, TALK.clid, TALK.answered_at or 0, now=1_140)
    found = s.recordings.alert_of(SALES, TALK)
    assert found is not None and found.id == missed.alert_id
    assert s.recordings.alert_of(SALES, OTHER) is None  # a later call of the customer closed nothing

    callback = replace(OTHER, direction="out", clid=TALK.dnid, dnid="79160000000")
    alert = s.alerts.record_missed(SALES, "e" * 40, "79160000000", TALK.dnid, 1_500, 1_520, now=1_525)
    assert alert.alert_id is not None
    claimed = s.alerts.claim_callback(alert.alert_id, 2002, "Иван", now=1_990)
    assert claimed is not None
    s.alerts.callback_finished(alert.alert_id, True, 60, callback.vpbx_id, now=2_070, claim=claimed)
    found = s.recordings.alert_of(SALES, callback)
    assert found is not None and found.id == alert.alert_id


def test_posts_survive_reopening_the_file(db_path: Path) -> None:
    with Storage.open(db_path) as first:
        first.calls.ingest([TALK], now=3_000)
        first.chats.subscribe(SALES, "Sales", [], False, now=500, records=True)
        first.recordings.enqueue([(SALES, TALK.vpbx_id)], due_at=3_000)
        first.recordings.sent(SALES, TALK.vpbx_id, 5, "file-a", now=3_010)
    with Storage.open(db_path) as again:
        assert again.recordings.enqueue([(SALES, TALK.vpbx_id)], due_at=4_000) == 0
        assert again.recordings.due(now=10_000, limit=10) == []
        assert again.recordings.file_id(TALK.vpbx_id) == "file-a"
