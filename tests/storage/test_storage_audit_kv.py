from storage import AuditEntry, Storage


def test_audit_log_and_recent(storage: Storage) -> None:
    storage.audit.log("user.allow", actor_id=1, target=2, details={"role": "manager"}, now=10)
    storage.audit.log("call.start", actor_id=2, target="79990000001", now=11)
    storage.audit.log("chat.subscribe", actor_id=None, now=11)
    assert storage.audit.recent(2) == [
        AuditEntry(id=3, at=11, actor_id=None, action="chat.subscribe", target=None, details={}),
        AuditEntry(id=2, at=11, actor_id=2, action="call.start", target="79990000001", details={}),
    ]
    assert storage.audit.recent(action="user.allow") == [
        AuditEntry(id=1, at=10, actor_id=1, action="user.allow", target="2", details={"role": "manager"})
    ]
    assert storage.db["audit"].get(1) == {
        "id": 1,
        "at": 10,
        "actor_id": 1,
        "action": "user.allow",
        "target": "2",
        "details": '{"role":"manager"}',
    }


def test_kv_round_trips_json(storage: Storage) -> None:
    assert storage.kv.get("balance", "unknown") == "unknown"
    storage.kv.set("balance", {"state": "low", "amount": 12.5}, now=1)
    storage.kv.set("digest:-100", "2024-05-01", now=2)
    assert storage.kv.get("balance") == {"state": "low", "amount": 12.5}
    assert storage.kv.set_if_absent("baseline", True, now=3)
    assert not storage.kv.set_if_absent("baseline", False, now=4)
    assert list(storage.db["kv"].rows) == [
        {"key": "balance", "value": '{"amount":12.5,"state":"low"}', "updated_at": 1},
        {"key": "digest:-100", "value": '"2024-05-01"', "updated_at": 2},
        {"key": "baseline", "value": "true", "updated_at": 3},
    ]
    assert storage.kv.delete("balance") and not storage.kv.delete("balance")


def test_kv_forgets_the_old_keys_of_one_prefix(storage: Storage) -> None:
    storage.kv.set("offer:1", "old", now=10)
    storage.kv.set("offer:2", "new", now=100)
    storage.kv.set("offered", "other prefix", now=10)
    assert storage.kv.forget_older("offer:", before=50) == 1
    assert [storage.kv.get(key) for key in ("offer:1", "offer:2", "offered")] == [None, "new", "other prefix"]


def test_kv_swaps_only_what_was_seen(storage: Storage) -> None:
    assert storage.kv.swap("claim", None, {"by": 1}, now=1)
    assert not storage.kv.swap("claim", None, {"by": 2}, now=2)  # set since: the other request's
    assert not storage.kv.swap("claim", {"by": 2}, {"by": 3}, now=3)
    assert storage.kv.swap("claim", {"by": 1}, {"by": 3}, now=4)
    assert not storage.kv.swap("claim", {"by": 1}, None, now=5)
    assert storage.kv.get("claim") == {"by": 3}
    assert storage.kv.swap("claim", {"by": 3}, None, now=6) and storage.kv.get("claim") is None
