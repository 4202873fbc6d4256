"""The call archive: written only where a call changed, asked by number, pruned in small steps."""

from __future__ import annotations

from dataclasses import replace

from storage import CallRecord, Storage

RINGING = CallRecord("a" * 40, "in", "79031112233", "74955325585", "no answer", True, 1_000, None, None)


def test_ingest_writes_what_is_new_or_changed_and_returns_it(storage: Storage) -> None:
    (new,) = storage.calls.ingest([RINGING], now=1_001)
    assert new.before is None and not new.ended
    assert storage.calls.ingest([RINGING], now=1_002) == []  # nothing changed: nothing written
    answered = replace(RINGING, status="answered", answered_at=1_005)
    ended = replace(answered, active=False, ended_at=1_065)
    (change,) = storage.calls.ingest([ended], now=1_070)
    assert (change.before, change.call, change.ended) == (RINGING, ended, True)
    (updated_at,) = storage.db.execute("SELECT updated_at FROM calls").fetchone()
    assert updated_at == 1_070 and storage.calls.count() == 1


def test_a_customers_history_is_asked_by_either_side_newest_first(storage: Storage) -> None:
    inbound = replace(RINGING, active=False, ended_at=1_020)
    outbound = replace(
        inbound, vpbx_id="b" * 40, direction="out", clid="74955325585", dnid="79031112233", started_at=2_000
    )
    other = replace(inbound, vpbx_id="c" * 40, clid="79160000000", started_at=3_000)
    storage.calls.ingest([inbound, outbound, other], now=3_100)
    assert storage.calls.find(number="79031112233", limit=10) == [outbound, inbound]
    assert storage.calls.find(number="79031112233", limit=1) == [outbound]
    assert storage.calls.find(start=1_500, end=3_000, limit=10) == [outbound]
    assert storage.calls.find(number="79031112233", start=0, end=2_000, limit=10) == [inbound]


def test_prune_forgets_the_oldest_in_small_batches(storage: Storage) -> None:
    calls = [replace(RINGING, vpbx_id=f"{n:040x}", started_at=n) for n in range(1, 8)]
    storage.calls.ingest(calls, now=10)
    assert storage.calls.prune(before=6, batch=3) == 3
    assert storage.calls.prune(before=6, batch=3) == 2
    assert storage.calls.prune(before=6, batch=3) == 0
    assert [c.started_at for c in storage.calls.find(number=RINGING.clid, limit=10)] == [7, 6]


def test_a_customers_summary_counts_both_ways_and_the_misses_since_the_last_talk(storage: Storage) -> None:
    missed_early = replace(RINGING, vpbx_id="1" * 40, active=False, ended_at=1_030)
    talk = replace(
        RINGING, vpbx_id="2" * 40, started_at=2_000, status="answered", answered_at=2_010, active=False, ended_at=2_250
    )
    out = replace(
        talk, vpbx_id="3" * 40, direction="out", clid="74955325585", dnid=RINGING.clid, started_at=3_000, ended_at=3_020
    )
    out_unanswered = replace(out, vpbx_id="4" * 40, started_at=4_000, status="no answer", answered_at=None)
    missed_late = replace(missed_early, vpbx_id="5" * 40, started_at=5_000, ended_at=5_030)
    ringing_now = replace(RINGING, vpbx_id="6" * 40, started_at=6_000)
    storage.calls.ingest([missed_early, talk, out, out_unanswered, missed_late, ringing_now], now=6_001)

    summary = storage.calls.customer(RINGING.clid, since=3_000, before=6_000)
    assert (summary.calls_in, summary.calls_out, summary.recent, summary.first_at) == (3, 2, 3, 1_000)
    assert summary.last_talk == out and summary.unreturned == 1 and not summary.is_new
    assert storage.calls.customer(RINGING.clid, since=0, before=2_000).unreturned == 1  # never talked before
    assert storage.calls.customer("79990000000", since=0).is_new


def test_find_filters_by_kind_before_the_limit(storage: Storage) -> None:
    answered = [
        replace(RINGING, vpbx_id=f"{n:040x}", started_at=2_000 + n, status="answered", answered_at=2_001 + n,
                active=False, ended_at=2_050 + n)
        for n in range(5)
    ]  # fmt: skip
    missed = replace(RINGING, vpbx_id="f" * 40, active=False, ended_at=1_020)  # the oldest
    storage.calls.ingest([*answered, missed], now=3_000)
    assert storage.calls.find(kind="missed", limit=2) == [missed]
    assert [c.vpbx_id for c in storage.calls.find(kind="in", limit=2)] == [answered[4].vpbx_id, answered[3].vpbx_id]
    assert storage.calls.find(kind="out", limit=2) == []
