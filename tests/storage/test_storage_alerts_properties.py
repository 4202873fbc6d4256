"""Property: whatever order and repetition the poll sees calls in, each (call, chat) is counted exactly once."""

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlite_utils import Database

from storage import RecordResult, Storage

CHATS = (-1, -2)

# ("miss", call, chat, at) or ("done", chat, clid index): a call always comes from the same customer.
miss = st.tuples(st.just("miss"), st.integers(0, 15), st.sampled_from(CHATS), st.integers(0, 1_000))
done = st.tuples(st.just("done"), st.sampled_from(CHATS), st.integers(0, 2))


def clid(call: int) -> str:
    return f"7911000000{call % 3}"


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(miss, miss, miss, done), max_size=40))
def test_record_missed_counts_each_call_once_per_chat(ops: list[tuple]) -> None:
    s = Storage(Database(memory=True))
    for chat in CHATS:
        s.chats.subscribe(chat, None, [], False, now=0)
    first: dict[tuple[int, int], RecordResult] = {}
    for now, op in enumerate(ops, start=1):
        if op[0] == "miss":
            _, call, chat, at = op
            result = s.alerts.record_missed(chat, f"c{call}", clid(call), "7495", at, at + 5, now=now)
            if (call, chat) in first:
                assert result == RecordResult(first[call, chat].alert_id, "duplicate")
            else:
                assert result.outcome in ("new", "merged")
                first[call, chat] = result
        else:
            _, chat, who = op
            for alert in s.alerts.open_for(chat):
                if alert.clid == clid(who):
                    s.alerts.close(alert.id, "done", None, None, now=now)

    alerts = [s.alerts.get(row["id"]) for row in s.db.query("SELECT id FROM alerts")]
    # Every distinct (call, chat) belongs to exactly one alert, and missed_count counts exactly those calls.
    assert sum(a.missed_count for a in alerts if a) == len(first)
    for alert in alerts:
        assert alert is not None
        mine = [key for key, r in first.items() if r.alert_id == alert.id]
        assert alert.missed_count == len(mine)
        assert {clid(call) for call, _ in mine} == {alert.clid}
        assert {chat for _, chat in mine} == {alert.chat_id}
    # At most one live alert per customer per chat.
    live = [(a.chat_id, a.clid) for a in alerts if a and a.state != "closed"]
    assert len(live) == len(set(live))
    s.close()
