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
