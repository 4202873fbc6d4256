import threading
from pathlib import Path

from storage import AccessRequest, Storage


def test_one_pending_request_per_user(storage: Storage) -> None:
    first, created = storage.access_requests.create_or_get_pending(3, "Olga", "olga", now=10)
    assert created
    assert first == AccessRequest(
        id=1,
        telegram_id=3,
        first_name="Olga",
        username="olga",
        phone=None,
        matched_member_id=None,
        status="pending",
        admin_messages=(),
        created_at=10,
        decided_by=None,
        decided_at=None,
    )
    again, created = storage.access_requests.create_or_get_pending(3, "Olga", "olga", now=20)
    assert (again, created) == (first, False)
    assert storage.access_requests.pending() == [first]


def test_phone_messages_and_decision(storage: Storage) -> None:
    req, _ = storage.access_requests.create_or_get_pending(3, "Olga", None, now=10)
    storage.access_requests.attach_phone(req.id, "79990000003", "m-9")
    storage.access_requests.add_admin_message(req.id, 1, 55)
    storage.access_requests.add_admin_message(req.id, 4, 66)
    assert storage.access_requests.decide(req.id, "approved", by=1, now=30)
    assert not storage.access_requests.decide(req.id, "denied", by=4, now=31)  # the second admin loses
    assert storage.access_requests.get(req.id) == AccessRequest(
        id=req.id,
        telegram_id=3,
        first_name="Olga",
        username=None,
        phone="79990000003",
        matched_member_id="m-9",
        status="approved",
        admin_messages=((1, 55), (4, 66)),
        created_at=10,
        decided_by=1,
        decided_at=30,
    )
    assert storage.db["access_requests"].get(req.id)["admin_messages"] == "[[1,55],[4,66]]"
    assert storage.access_requests.pending() == []
    assert storage.access_requests.attach_phone(req.id, "7000", None) is None  # decided: frozen
    # A decided request does not block a new one.
    new, created = storage.access_requests.create_or_get_pending(3, "Olga", None, now=40)
    assert created and new.id != req.id


def test_two_admins_deciding_at_once_one_wins(db_path: Path) -> None:
    with Storage.open(db_path) as setup:
        req, _ = setup.access_requests.create_or_get_pending(3, "Olga", None, now=1)
    results: list[bool] = []
    barrier = threading.Barrier(2)

    def press(admin: int) -> None:
        with Storage.open(db_path) as mine:
            barrier.wait()
            results.append(mine.access_requests.decide(req.id, "approved" if admin == 1 else "denied", admin, 5))

    threads = [threading.Thread(target=press, args=(admin,)) for admin in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert sorted(results) == [False, True]
