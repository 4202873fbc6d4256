"""What reports ask of the archive: a period's tallies, members and missed-call episodes, and its export rows."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from storage import CallRecord, Storage, reports

COMPANY, OTHER_COMPANY = "74955325585", "74951112233"
HOUR = 3600


def call(
    n: int,
    direction: str,
    customer: str,
    answered: bool,
    start: int,
    *,
    ring: int = 20,
    talk: int = 60,
    company: str = COMPANY,
    active: bool = False,
) -> CallRecord:
    answered_at = start + ring if answered else None
    ended_at = None if active else (answered_at + talk if answered_at is not None else start + ring)
    clid, dnid = (customer, company) if direction == "in" else (company, customer)
    status = "answered" if answered else "no answer"
    return CallRecord(f"{n:040x}", direction, clid, dnid, status, active, start, answered_at, ended_at)


def episodes_of(storage: Storage, start: int, end: int, **options: object) -> list[tuple[str, int, str, int | None]]:
    found = reports.episodes(storage.db.conn, start, end, **options)  # type: ignore[arg-type]
    return [(e.customer, len(e.misses), e.outcome, e.callback_seconds) for e in found]


def test_misses_are_grouped_into_episodes_decided_by_the_next_answered_call(storage: Storage) -> None:
    a, b, c, d, e, f = (f"7916000000{i}" for i in range(1, 7))
    storage.calls.ingest(
        [
            call(1, "in", a, False, 1_000),  # two misses, then called back: one episode
            call(2, "in", a, False, 1_500),
            call(3, "out", a, True, 1_800),
            call(4, "in", b, False, 2_000),  # got through on the next call
            call(5, "in", b, True, 2_500),
            call(6, "in", c, False, 3_000),  # nothing since: lost
            call(7, "in", d, False, 3_100),  # a callback that nobody answered: not lost, not resolved
            call(8, "out", d, False, 3_300),
            call(9, "in", e, False, 4_000),  # an answered call in between makes two episodes
            call(10, "in", e, True, 4_100),
            call(11, "in", e, False, 4_200),
            call(12, "in", f, False, 5_000),  # called back after the period's end: still called back
            call(13, "out", f, True, 20_000),
        ],
        now=30_000,
    )
    assert episodes_of(storage, 0, 10_000) == [
        (a, 2, "called_back", 1_800 - 1_020),  # from the first miss's end
        (b, 1, "answered_later", None),
        (c, 1, "lost", None),
        (d, 1, "unresolved", None),
        (e, 1, "answered_later", None),
        (e, 1, "lost", None),
        (f, 1, "called_back", 20_000 - 5_020),
    ]


def test_the_outcomes_add_up_the_episodes(storage: Storage) -> None:
    """The report's counts (in SQL) and the export's episodes (per miss) are one rule: checked on a random history."""
    rng = random.Random(5)
    customers = [f"791600000{i:02d}" for i in range(40)]
    start = 0
    history = []
    for n in range(300):
        start += rng.randrange(1, 400)
        direction = "in" if rng.random() < 0.7 else "out"
        history.append(call(n, direction, rng.choice(customers), rng.random() < 0.5, start, active=n > 295))
    storage.calls.ingest(history, now=start + 1)
    for n, placed in enumerate(history[:200]):  # who placed the earlier ones is known, the later ones nobody's
        if placed.direction == "out":
            storage.calls.set_who(placed.vpbx_id, f"10{n % 3}", f"Member {n % 3}")
    seen: set[str] = set()
    named: set[str | None] = set()
    for period in ((0, start // 2), (start // 3, start), (0, start + 1)):
        found = reports.episodes(storage.db.conn, *period)
        kinds = [e.outcome for e in found]
        seen.update(kinds)
        by_name: dict[str | None, int] = {}
        for e in found:
            if e.outcome == "called_back":
                by_name[e.member_name] = by_name.get(e.member_name, 0) + 1
        callbacks = sorted(
            (reports.MemberCallbacks(name and "10" + name[-1], name, n) for name, n in by_name.items()),
            key=lambda m: (m.internal is None, -m.called_back, m.name or ""),
        )
        assert reports.outcomes(storage.db.conn, *period) == reports.Outcomes(
            customers=len({e.customer for e in found}),
            called_back=kinds.count("called_back"),
            answered_later=kinds.count("answered_later"),
            lost=kinds.count("lost"),
            unresolved=kinds.count("unresolved"),
            callback_waits=tuple(sorted(e.callback_seconds for e in found if e.callback_seconds is not None)),
            callbacks=tuple(callbacks),
            callback_spans=tuple(
                sorted((e.first_end, e.callback_seconds) for e in found if e.callback_seconds is not None)
            ),
        )
        named.update(by_name)
        assert sum(len(e.misses) for e in found) == sum(
            1 for c in history if c.is_missed and period[0] <= c.started_at < period[1]
        )
    assert seen == {"called_back", "answered_later", "lost", "unresolved"}
    assert named == {"Member 0", "Member 1", "Member 2", None}


def test_closed_by_hand_and_open_are_one_rule_for_the_counts_and_the_episodes(storage: Storage) -> None:
    """A miss nothing answered whose alert was closed with Done is closed; one that ended after ``open_after`` is
    open (its deadline has not passed); only then lost or unresolved. The counts (reports) and the episodes (/lost,
    the export) agree on a random history with random Done presses."""
    rng = random.Random(7)
    customers = [f"791600000{i:02d}" for i in range(30)]
    start, history = 0, []
    for n in range(300):
        start += rng.randrange(1, 300)
        direction = "in" if rng.random() < 0.7 else "out"
        history.append(call(n, direction, rng.choice(customers), rng.random() < 0.4, start))
    storage.calls.ingest(history, now=start + 1)
    storage.chats.subscribe(-100, "Sales", [], False, now=1)
    for missed in (c for c in history if c.is_missed and rng.random() < 0.3):
        assert missed.ended_at is not None
        found = storage.alerts.record_missed(-100, missed.vpbx_id, missed.clid, missed.dnid, missed.started_at,
                                             missed.ended_at, now=missed.ended_at)  # fmt: skip
        assert found.alert_id is not None
        storage.alerts.close(found.alert_id, "done", by=1, name="Иванова", now=missed.ended_at + 1)
    seen: set[str] = set()
    for period, open_after in (((0, start + 1), start - 3_000), ((start // 3, start + 1), None), ((0, start // 2), 0)):
        episodes = reports.episodes(storage.db.conn, *period, open_after=open_after)
        kinds = [e.outcome for e in episodes]
        seen.update(kinds)
        settled = reports.outcomes(storage.db.conn, *period, open_after=open_after)
        assert (settled.done, settled.open, settled.lost, settled.unresolved) == (
            kinds.count("done"), kinds.count("open"), kinds.count("lost"), kinds.count("unresolved")
        )  # fmt: skip
        assert all(e.member_name == "Иванова" for e in episodes if e.outcome == "done")
        for e in episodes:
            last = next(c for c in history if c.vpbx_id == f"{e.misses[-1] - 1:040x}")
            assert e.outcome != "open" or (open_after is not None and (last.ended_at or 0) > open_after)
    assert {"done", "open", "lost", "called_back"} <= seen


def test_an_episode_knows_its_calls_and_who_decided_it(storage: Storage) -> None:
    customer = "79160000001"
    storage.calls.ingest(
        [
            call(1, "in", customer, False, 1_000),
            call(2, "in", customer, False, 1_100),
            call(3, "out", customer, True, 1_200),
        ],
        now=2_000,
    )
    storage.calls.set_who("0" * 39 + "3", "102", "Попов")
    (episode,) = reports.episodes(storage.db.conn, 0, 2_000)
    ids = [row[0] for row in storage.db.execute("SELECT id FROM calls ORDER BY started_at")]
    assert (episode.misses, episode.outcome, episode.member_name) == ((ids[0], ids[1]), "called_back", "Попов")


def test_a_miss_outside_the_period_or_the_chats_numbers_is_not_counted(storage: Storage) -> None:
    customer = "79160000001"
    storage.calls.ingest(
        [
            call(1, "in", customer, False, 500),  # before the period
            call(2, "in", customer, False, 1_500, company=OTHER_COMPANY),
            call(3, "in", customer, False, 1_600),
            call(4, "out", customer, True, 1_700, company=OTHER_COMPANY),  # a callback from another number counts
        ],
        now=3_000,
    )
    assert episodes_of(storage, 1_000, 2_000) == [(customer, 2, "called_back", 1_700 - 1_520)]
    assert episodes_of(storage, 1_000, 2_000, numbers=[COMPANY]) == [(customer, 1, "called_back", 1_700 - 1_620)]


def test_tallies_count_each_bucket_and_talk_both_ways(storage: Storage) -> None:
    storage.calls.ingest(
        [
            call(1, "in", "79160000001", True, 100, talk=30),
            call(2, "in", "79160000002", False, 200),
            call(3, "out", "79160000003", True, 300, talk=45),
            call(4, "out", "79160000004", False, 400),
            call(5, "in", "79160000005", False, HOUR + 10, active=True),  # ringing: inbound, not (yet) missed
            call(6, "in", "79160000006", True, HOUR + 20, talk=100, company=OTHER_COMPANY),
        ],
        now=2 * HOUR,
    )
    conn = storage.db.conn
    assert reports.tallies(conn, [0, HOUR, 2 * HOUR, 3 * HOUR]) == [
        reports.Tally(0, HOUR, inbound=2, answered=1, missed=1, outbound=2, talk_seconds=75),
        reports.Tally(HOUR, 2 * HOUR, inbound=2, answered=1, missed=0, outbound=0, talk_seconds=100),
        reports.Tally(2 * HOUR, 3 * HOUR, 0, 0, 0, 0, 0),
    ]
    assert reports.tallies(conn, [0, 2 * HOUR], numbers=[OTHER_COMPANY]) == [
        reports.Tally(0, 2 * HOUR, inbound=1, answered=1, missed=0, outbound=0, talk_seconds=100)
    ]


def test_members_are_counted_by_internal_number_with_their_latest_name(storage: Storage) -> None:
    storage.calls.ingest(
        [
            call(1, "in", "79160000001", True, 100, talk=30),
            call(2, "out", "79160000002", False, 200),
            call(3, "out", "79160000003", True, 300, talk=45),
            call(4, "in", "79160000004", True, 400, talk=10),  # nobody known answered it
            call(5, "in", "79160000005", False, 500),  # missed: nobody's
        ],
        now=1_000,
    )
    storage.calls.set_who("0" * 39 + "1", "101", "Иванова")
    storage.calls.set_who("0" * 39 + "2", "101", "Петрова")  # the same member, renamed since
    storage.calls.set_who("0" * 39 + "3", "102", "Попов")
    found = sorted(reports.members(storage.db.conn, 0, 1_000), key=lambda m: m.internal or "")
    assert found == [
        reports.MemberTotals(None, None, answered=1, placed=0, talk_seconds=10),
        reports.MemberTotals("101", "Петрова", answered=1, placed=1, talk_seconds=30),
        reports.MemberTotals("102", "Попов", answered=0, placed=1, talk_seconds=45),
    ]


def counted_from_calls(history: list[CallRecord], start: int, end: int, members: dict[str, str]) -> tuple[Any, ...]:
    """The period's tally and per-member totals, counted call by call in Python (what the hours must add up to)."""
    mine = [c for c in history if start <= c.started_at < end]
    tally = (
        sum(c.direction == "in" for c in mine),
        sum(c.direction == "in" and c.status == "answered" for c in mine),
        sum(c.is_missed for c in mine),
        sum(c.direction == "out" for c in mine),
        sum(c.talk_seconds for c in mine),
    )
    per_member: dict[str | None, list[int]] = {}
    for c in mine:
        if c.direction == "out" or c.status == "answered":
            totals = per_member.setdefault(members.get(c.vpbx_id), [0, 0, 0])
            totals[0] += c.direction == "in"
            totals[1] += c.direction == "out"
            totals[2] += c.talk_seconds
    return tally, sorted((k or "", *v) for k, v in per_member.items())


def test_the_hours_added_up_agree_with_the_calls_through_changes_who_and_the_prune(storage: Storage) -> None:
    """Reports read whole hours from call_hours (kept by triggers) and the ragged ends from the calls: for periods
    cut anywhere, through calls that end, get answered, get a member and are pruned, both ways give one answer."""
    rng = random.Random(9)
    moment, history = 10 * HOUR + 123, []
    for n in range(400):
        moment += rng.randrange(1, 700)
        direction = "in" if rng.random() < 0.7 else "out"
        company = COMPANY if rng.random() < 0.7 else OTHER_COMPANY
        history.append(
            call(n, direction, f"7916{rng.randrange(30):07d}", rng.random() < 0.6, moment, active=True, company=company)
        )
    storage.calls.ingest(history, now=moment)
    for n, c in enumerate(history):  # most calls end (some answered, some missed), a few are still on
        if n % 10:
            history[n] = call(
                n, c.direction, c.customer, rng.random() < 0.6, c.started_at, talk=rng.randrange(200), company=c.company
            )
    storage.calls.ingest(history, now=moment + 1)
    members: dict[str, str] = {}
    for c in rng.sample([c for c in history if c.needs_who], 150):
        internal = rng.choice(["101", "102", "103"])
        storage.calls.set_who(c.vpbx_id, internal, f"Сотрудник {internal}")
        members[c.vpbx_id] = internal
    pruned_before = history[0].started_at + 6 * HOUR
    while storage.calls.prune(pruned_before, batch=7):
        pass
    history = [c for c in history if c.started_at >= pruned_before]
    conn = storage.db.conn
    for _ in range(40):
        start = rng.randrange(history[0].started_at - HOUR, moment)
        end = rng.randrange(start, moment + HOUR)
        (tally,) = reports.tallies(conn, [start, end])
        figures = (tally.inbound, tally.answered, tally.missed, tally.outbound, tally.talk_seconds)
        found = sorted(
            (m.internal or "", m.answered, m.placed, m.talk_seconds) for m in reports.members(conn, start, end)
        )
        assert (figures, found) == counted_from_calls(history, start, end, members)
    (only_other,) = reports.tallies(conn, [0, moment + 1], numbers=[OTHER_COMPANY])
    assert only_other.inbound == sum(c.direction == "in" and c.company == OTHER_COMPANY for c in history) > 0


def test_each_miss_knows_its_answer_however_the_calls_arrive(storage: Storage) -> None:
    """``answer_id`` (kept by triggers) is the customer's first answered call after the miss: checked against a
    brute-force search while calls arrive out of order (a first day is taken newest first), in the same second,
    ring then end answered or not, and are pruned."""
    rng = random.Random(3)
    moment, history = 1_000, []
    for n in range(300):
        moment += rng.choice([0, 0, 5, 60, 400])  # ties in seconds too
        direction = "in" if rng.random() < 0.75 else "out"
        history.append(call(n, direction, f"7916{rng.randrange(4):07d}", rng.random() < 0.4, moment, active=True))
    ringing = set(rng.sample(range(len(history)), len(history) // 2))
    for n, c in enumerate(history):  # half of them were over when first seen
        if n not in ringing:
            history[n] = call(n, c.direction, c.customer, rng.random() < 0.4, c.started_at)
    batches = [history[i : i + 37] for i in range(0, len(history), 37)]
    for batch in reversed(batches):  # newest first
        storage.calls.ingest(batch, now=moment)
    for n in rng.sample(sorted(ringing), len(ringing)):  # the others end, in any order
        c = history[n]
        history[n] = call(n, c.direction, c.customer, rng.random() < 0.4, c.started_at, active=rng.random() < 0.05)
        storage.calls.ingest([history[n]], now=moment + 1)

    def check() -> None:
        rows = list(
            storage.db.execute("SELECT id, customer, direction, status, active, started_at, answer_id FROM calls")
        )
        order = sorted(rows, key=lambda r: (r[5], r[0]))
        expected, got = {}, {}
        for i, (row_id, customer, direction, status, active, _, answer_id) in enumerate(order):
            if direction == "in" and not active and status != "answered":
                later = (r[0] for r in order[i + 1 :] if r[1] == customer and r[3] == "answered")
                expected[row_id], got[row_id] = next(later, None), answer_id
        assert got == expected
        assert any(v is None for v in got.values()) and any(v is not None for v in got.values())

    check()
    with storage.db.conn:  # any writer: a call deleted from the middle
        for row_id in rng.sample(range(1, len(history) + 1), 30):
            storage.db.execute("DELETE FROM calls WHERE id = ?", (row_id,))
    check()
    while storage.calls.prune(history[len(history) // 3].started_at, batch=11):
        pass
    check()


def test_export_rows_carry_names_numbers_times_and_the_alerts_outcome(storage: Storage) -> None:
    customer, stranger = "79160000001", "79160000002"
    storage.calls.ingest(
        [
            call(1, "in", customer, False, 1_000, ring=25),
            call(2, "out", customer, True, 1_100, ring=5, talk=70),
            call(3, "in", stranger, False, 1_200, ring=30),
        ],
        now=2_000,
    )
    storage.calls.set_who("0" * 39 + "2", "102", "Попов")
    storage.contacts.set(customer, "ООО Ромашка", by=1, now=1)
    for chat_id in (-1, -2):
        storage.chats.subscribe(chat_id, "Sales", [], False, now=1)
    # The customer's miss was alerted in two chats: one was closed by hand, the other called back.
    done = storage.alerts.record_missed(-1, "0" * 39 + "1", customer, COMPANY, 1_000, 1_025, now=1_030)
    storage.alerts.close(done.alert_id or 0, "done", by=7, name="Иванова", now=1_050)
    called = storage.alerts.record_missed(-2, "0" * 39 + "1", customer, COMPANY, 1_000, 1_025, now=1_030)
    storage.alerts.claim_callback(called.alert_id or 0, user_id=8, name="Попов", now=1_090)
    storage.alerts.callback_finished(called.alert_id or 0, True, 70, "0" * 39 + "2", now=1_200)
    storage.alerts.record_missed(-1, "0" * 39 + "3", stranger, COMPANY, 1_200, 1_230, now=1_240)  # still open

    rows = list(reports.export_rows(storage.db.conn, 0, 2_000))
    ids = [row[0] for row in storage.db.execute("SELECT id FROM calls ORDER BY started_at")]
    assert rows == [
        reports.ExportRow(ids[0], 1_000, "in", customer, "ООО Ромашка", COMPANY, "no answer", False, 25, 0, None,
                          alert="called_back", alert_name="Попов"),
        reports.ExportRow(ids[1], 1_100, "out", customer, "ООО Ромашка", COMPANY, "answered", False, 5, 70, "Попов",
                          alert=None, alert_name=None),
        reports.ExportRow(ids[2], 1_200, "in", stranger, None, COMPANY, "no answer", False, 30, 0, None,
                          alert="open", alert_name=None),
    ]  # fmt: skip
    assert [row.call_id for row in reports.export_rows(storage.db.conn, 1_100, 1_200)] == [ids[1]]
    counted = [reports.export_count(storage.db.conn, *span) for span in ((0, 2_000), (1_100, 1_200), (2_000, 3_000))]
    assert counted == [3, 1, 0]  # as many as export_rows yields


def test_a_reader_has_its_own_read_only_connection_to_the_file(db_path: Path) -> None:
    with Storage.open(db_path) as storage:
        storage.calls.ingest([call(1, "in", "79160000001", False, 1_000)], now=2_000)
        with reports.reading(db_path) as conn:
            assert reports.tallies(conn, [0, 2_000])[0].missed == 1
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                conn.execute("DELETE FROM calls")
            # One read transaction: what the poll writes meanwhile shows in the next report, not halfway this one.
            storage.calls.ingest([call(2, "in", "79160000002", False, 1_100)], now=2_000)
            assert reports.tallies(conn, [0, 2_000])[0].missed == 1
        assert storage.calls.count() == 2
    with pytest.raises(sqlite3.OperationalError), reports.reading(db_path.with_name("elsewhere.db")):
        pass
    assert not db_path.with_name("elsewhere.db").exists()


def test_who_called_back_short_rings_and_the_lost_customers(storage: Storage) -> None:
    """Who called back (in ``outcomes``' one pass), the misses that rang under a threshold and the lost customers."""
    a, b, c, d, e = (f"7916000000{i}" for i in range(1, 6))
    storage.calls.ingest(
        [
            call(1, "in", a, False, 1_000, ring=3),  # a short ring, called back by 101
            call(2, "out", a, True, 1_100),
            call(3, "in", b, False, 1_200),  # two misses, called back by 101 (renamed since) from another number
            call(4, "in", b, False, 1_300, ring=4),
            call(5, "out", b, True, 1_400, company=OTHER_COMPANY),
            call(6, "in", c, False, 1_500),  # called back by nobody known
            call(7, "out", c, True, 1_600),
            call(8, "in", d, False, 1_700),  # lost, twice; the book knows them
            call(9, "in", d, False, 1_800, ring=5),
            call(10, "in", e, False, 1_900, company=OTHER_COMPANY),  # lost, once
            call(11, "in", c, False, 2_000),  # c again, after the callback: lost too
        ],
        now=3_000,
    )
    storage.calls.set_who("0" * 39 + "2", "101", "Иванова")
    storage.calls.set_who("0" * 39 + "5", "101", "Петрова")
    storage.contacts.set(d, "Сидоров", by=None, now=1)
    conn = storage.db.conn
    assert reports.outcomes(conn, 0, 3_000).callbacks == (
        reports.MemberCallbacks("101", "Петрова", 2),
        reports.MemberCallbacks(None, None, 1),
    )
    assert reports.outcomes(conn, 0, 3_000, numbers=[COMPANY]).callbacks == (
        reports.MemberCallbacks("101", "Петрова", 2),  # the misses were through COMPANY, one callback was not
        reports.MemberCallbacks(None, None, 1),
    )
    assert reports.outcomes(conn, 0, 1_150).callbacks == (reports.MemberCallbacks("101", "Иванова", 1),)
    assert reports.short_misses(conn, 0, 3_000, under=5) == 2  # rang 3 and 4 s; 5 s is not short
    assert reports.short_misses(conn, 0, 3_000, under=5, numbers=[OTHER_COMPANY]) == 0
    assert reports.lost(conn, 0, 3_000) == [
        reports.LostCustomer(d, "Сидоров", attempts=2, first_at=1_700, last_at=1_800),
        reports.LostCustomer(c, None, attempts=1, first_at=2_000, last_at=2_000),  # the more recent first
        reports.LostCustomer(e, None, attempts=1, first_at=1_900, last_at=1_900),
    ]
    assert [x.customer for x in reports.lost(conn, 0, 3_000, numbers=[OTHER_COMPANY])] == [e]


def test_callbacks_per_member_add_up_to_the_episodes_called_back(storage: Storage) -> None:
    rng = random.Random(11)
    customers = [f"791600000{i:02d}" for i in range(30)]
    start, history = 0, []
    for n in range(400):
        start += rng.randrange(1, 300)
        direction = "in" if rng.random() < 0.7 else "out"
        history.append(call(n, direction, rng.choice(customers), rng.random() < 0.5, start))
    storage.calls.ingest(history, now=start + 1)
    for n, record in enumerate(history):
        if record.direction == "out" and record.status == "answered":
            storage.calls.set_who(record.vpbx_id, f"10{n % 3}", f"Member {n % 3}")
    for period in ((0, start // 2), (start // 3, start + 1)):
        settled = reports.outcomes(storage.db.conn, *period)
        episodes = reports.episodes(storage.db.conn, *period)
        counted: dict[str | None, int] = {}
        for episode in episodes:
            if episode.outcome == "called_back":
                counted[episode.member_name] = counted.get(episode.member_name, 0) + 1
        assert {m.name: m.called_back for m in settled.callbacks} == counted and len(counted) == 3
        assert sum(m.called_back for m in settled.callbacks) == settled.called_back
        lost = [e for e in episodes if e.outcome == "lost"]
        assert sorted(c.customer for c in reports.lost(storage.db.conn, *period)) == sorted(e.customer for e in lost)
