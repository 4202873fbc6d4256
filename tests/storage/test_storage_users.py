import pytest

from storage import Storage, User

ANN = {
    "member_id": "m-7",
    "member_name": "Anna",
    "member_email": "ann@example.com",
    "internal_number": "101",
    "personal_number": "79990000001",
}


def user(**fields: object) -> User:
    base: dict[str, object] = {
        "telegram_id": 2,
        "role": "manager",
        "status": "active",
        "display_name": "Ann",
        "username": "ann",
        **ANN,
        "callback_phone": None,
        "language": None,
        "created_at": 10,
        "updated_at": 10,
    }
    return User(**{**base, **fields})  # type: ignore[arg-type]


def test_allow_creates_an_active_manager_bound_to_a_member(storage: Storage) -> None:
    got = storage.users.allow(2, "manager", **ANN, display_name="Ann", username="ann", now=10)
    assert got == user()
    assert storage.users.get(2) == got
    assert storage.db["users"].get(2) == {
        **ANN,
        "telegram_id": 2,
        "role": "manager",
        "status": "active",
        "display_name": "Ann",
        "username": "ann",
        "callback_phone": None,
        "language": None,
        "created_at": 10,
        "updated_at": 10,
        "ringing_cards": 1,
    }
    assert storage.users.is_allowed(2)
    assert storage.users.get(3) is None
    assert not storage.users.is_allowed(3)


def test_re_allow_replaces_the_member_snapshot_and_keeps_own_settings(storage: Storage) -> None:
    storage.users.allow(2, "manager", **ANN, display_name="Ann", username="ann", now=10)
    storage.users.set_callback_phone(2, "79990000009", now=11)
    storage.users.set_language(2, "en", now=12)
    got = storage.users.allow(2, "manager", member_id="m-8", member_name="Anna K", now=20)
    assert got == user(
        member_id="m-8",
        member_name="Anna K",
        member_email=None,
        internal_number=None,
        personal_number=None,
        callback_phone="79990000009",
        language="en",
        updated_at=20,
    )


def test_a_manager_needs_a_member_an_admin_does_not(storage: Storage) -> None:
    with pytest.raises(ValueError):
        storage.users.allow(2, "manager", now=1)
    admin = storage.users.allow(1, "admin", now=1)
    assert (admin.role, admin.status, admin.member_id) == ("admin", "active", None)


def test_deny_records_a_stranger_and_revokes_an_active_user(storage: Storage) -> None:
    assert storage.users.deny(5, now=1) == User(
        telegram_id=5,
        role="manager",
        status="denied",
        display_name=None,
        username=None,
        member_id=None,
        member_name=None,
        member_email=None,
        internal_number=None,
        personal_number=None,
        callback_phone=None,
        language=None,
        created_at=1,
        updated_at=1,
    )
    storage.users.allow(2, "manager", **ANN, now=10)
    assert storage.users.deny(2, now=11).status == "revoked"
    assert storage.users.deny(2, now=12).status == "revoked"
    assert not storage.users.is_allowed(2)
    assert not storage.users.is_allowed(5)
    assert storage.users.allow(2, "manager", **ANN, now=13).status == "active"


def test_sync_admins_bootstraps_promotes_reactivates_and_demotes_who_is_no_longer_named(storage: Storage) -> None:
    storage.users.allow(2, "manager", **ANN, now=1)
    storage.users.allow(3, "admin", now=1)  # an admin acting as no member
    storage.users.allow(5, "admin", **ANN, now=1)  # an admin acting as a member
    storage.users.allow(4, "admin", now=1)
    storage.users.deny(4, now=2)
    assert storage.users.sync_admins([1, 2, 4], now=5) == [3, 5]
    got = {u.telegram_id: (u.role, u.status, u.updated_at) for u in storage.users.list()}
    assert got == {
        1: ("admin", "active", 5),
        2: ("admin", "active", 5),
        3: ("manager", "revoked", 5),  # not in the config any more, and no member to act as
        4: ("admin", "active", 5),
        5: ("manager", "active", 5),  # not in the config any more: stays a manager as the member
    }
    assert storage.users.get(2).member_id == "m-7"  # type: ignore[union-attr]
    assert storage.users.sync_admins([1, 2, 4], now=9) == []
    assert storage.users.get(1).updated_at == 5  # type: ignore[union-attr]  # already fine: untouched


def test_list_puts_admins_first_and_can_show_only_active(storage: Storage) -> None:
    storage.users.allow(3, "manager", **ANN, display_name="Zed", now=1)
    storage.users.allow(2, "manager", **ANN, display_name="Ann", now=1)
    storage.users.allow(9, "admin", display_name="Root", now=1)
    storage.users.deny(7, now=1)
    assert [u.telegram_id for u in storage.users.list()] == [9, 7, 2, 3]  # no name sorts first
    assert [u.telegram_id for u in storage.users.list(active_only=True)] == [9, 2, 3]


def test_setters_report_unknown_users_and_reject_bad_values(storage: Storage) -> None:
    assert not storage.users.set_language(42, "ru", now=1)
    storage.users.allow(2, "manager", **ANN, now=1)
    assert storage.users.set_callback_phone(2, None, now=2)
    for bad in ("+79990000001", "0799", "7999 000", "1234567890123456"):
        with pytest.raises(Exception, match="CHECK"):
            storage.users.set_callback_phone(2, bad, now=3)
    with pytest.raises(Exception, match="CHECK"):
        storage.users.set_language(2, "de", now=3)  # type: ignore[arg-type]
    assert storage.users.get(2) == user(display_name=None, username=None, created_at=1, updated_at=2)


def test_allow_member_takes_the_snapshot_from_the_member(storage: Storage) -> None:
    from dataclasses import dataclass

    @dataclass
    class Member:
        id: int = 9423
        name: str = "Сергей"
        email: str | None = "s@example.com"
        internal_number: str | None = "900"
        personal_number: str | None = "79311110714"

    user = storage.users.allow_member(5, "manager", Member(), username="serg", now=7)
    assert user == storage.users.allow(
        5, "manager", member_id="9423", member_name="Сергей", member_email="s@example.com",
        internal_number="900", personal_number="79311110714", username="serg", now=7,
    )  # fmt: skip
