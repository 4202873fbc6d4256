"""Who may use the bot, and as which company member."""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from sqlite_utils import Database

from storage._db import dumps, one, write

Role = Literal["admin", "manager"]
UserStatus = Literal["active", "denied", "revoked"]
Language = Literal["ru", "en"]


class CompanyMember(Protocol):
    """A member as New-Tel describes it (``company/get-members``): what a user's snapshot is taken from."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def email(self) -> str | None: ...
    @property
    def internal_number(self) -> str | None: ...
    @property
    def personal_number(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class User:
    telegram_id: int
    role: Role
    status: UserStatus
    display_name: str | None
    username: str | None
    member_id: str | None
    member_name: str | None
    member_email: str | None
    internal_number: str | None
    personal_number: str | None
    callback_phone: str | None
    language: Language | None
    created_at: int
    updated_at: int
    ringing_cards: bool = True  # a card when their phone rings (/notify)

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    @property
    def name(self) -> str:
        """How colleagues know them: the company member they act as, else their Telegram name, else their id."""
        return self.member_name or self.display_name or str(self.telegram_id)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin" and self.status == "active"


def _user(row: dict[str, Any] | None) -> User:
    assert row is not None
    return User(**row | {"ringing_cards": bool(row["ringing_cards"])})


class Users:
    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, telegram_id: int) -> User | None:
        rows = self._db.query("SELECT * FROM users WHERE telegram_id = ?", (telegram_id,))
        row = next(rows, None)
        return None if row is None else _user(row)

    def allow_member(
        self,
        telegram_id: int,
        role: Role,
        member: CompanyMember,
        *,
        display_name: str | None = None,
        username: str | None = None,
        now: int,
    ) -> User:
        """``allow`` with the snapshot taken from ``member``."""
        return self.allow(
            telegram_id,
            role,
            member_id=str(member.id),
            member_name=member.name,
            member_email=member.email,
            internal_number=member.internal_number,
            personal_number=member.personal_number,
            display_name=display_name,
            username=username,
            now=now,
        )

    def allow(
        self,
        telegram_id: int,
        role: Role,
        *,
        member_id: str | None = None,
        member_name: str | None = None,
        member_email: str | None = None,
        internal_number: str | None = None,
        personal_number: str | None = None,
        display_name: str | None = None,
        username: str | None = None,
        now: int,
    ) -> User:
        """Make ``telegram_id`` an active ``role`` acting as the given member (snapshot replaced).

        Keeps the user's own settings (callback phone, language); a ``None`` display name or username
        keeps the known one.
        """
        if role == "manager" and member_id is None:
            raise ValueError("a manager must act as a company member")
        with write(self._db) as conn:
            cursor = conn.execute(
                """
                INSERT INTO users (telegram_id, role, status, display_name, username, member_id, member_name,
                    member_email, internal_number, personal_number, created_at, updated_at)
                VALUES (:tid, :role, 'active', :display_name, :username, :member_id, :member_name,
                    :member_email, :internal_number, :personal_number, :now, :now)
                ON CONFLICT (telegram_id) DO UPDATE SET
                    role = excluded.role, status = 'active',
                    display_name = coalesce(excluded.display_name, display_name),
                    username = coalesce(excluded.username, username),
                    member_id = excluded.member_id, member_name = excluded.member_name,
                    member_email = excluded.member_email, internal_number = excluded.internal_number,
                    personal_number = excluded.personal_number, updated_at = excluded.updated_at
                RETURNING *
                """,
                {
                    "tid": telegram_id,
                    "role": role,
                    "display_name": display_name,
                    "username": username,
                    "member_id": member_id,
                    "member_name": member_name,
                    "member_email": member_email,
                    "internal_number": internal_number,
                    "personal_number": personal_number,
                    "now": now,
                },
            )
            return _user(one(cursor))

    def refresh_member(self, telegram_id: int, member: CompanyMember, now: int) -> bool:
        """Take a new snapshot of the member the user already acts as (New-Tel's data changed)."""
        with write(self._db) as conn:
            cursor = conn.execute(
                """
                UPDATE users SET member_name = :name, member_email = :email, internal_number = :internal,
                    personal_number = :personal, updated_at = :now
                WHERE telegram_id = :tid AND member_id = :member_id
                """,
                {
                    "tid": telegram_id,
                    "member_id": str(member.id),
                    "name": member.name,
                    "email": member.email,
                    "internal": member.internal_number,
                    "personal": member.personal_number,
                    "now": now,
                },
            )
            return cursor.rowcount == 1

    def deny(self, telegram_id: int, now: int) -> User:
        """Refuse access: a stranger is recorded as denied, an existing user (even active) is revoked."""
        with write(self._db) as conn:
            cursor = conn.execute(
                """
                INSERT INTO users (telegram_id, role, status, created_at, updated_at)
                VALUES (?, 'manager', 'denied', ?, ?)
                ON CONFLICT (telegram_id) DO UPDATE SET
                    status = CASE WHEN status = 'active' THEN 'revoked' ELSE status END,
                    updated_at = excluded.updated_at
                RETURNING *
                """,
                (telegram_id, now, now),
            )
            return _user(one(cursor))

    def set_callback_phone(self, telegram_id: int, phone: str | None, now: int) -> bool:
        return self._set(telegram_id, "callback_phone", phone, now)

    def set_language(self, telegram_id: int, language: Language | None, now: int) -> bool:
        return self._set(telegram_id, "language", language, now)

    def set_ringing_cards(self, telegram_id: int, on: bool, now: int) -> bool:
        return self._set(telegram_id, "ringing_cards", int(on), now)

    def ringing(self, internal_numbers: Iterable[str]) -> builtins.list[User]:
        """Active users whose member's internal number is one of these, who want a card when it rings."""
        rows = self._db.query(
            "SELECT * FROM users WHERE status = 'active' AND ringing_cards"
            " AND internal_number IN (SELECT value FROM json_each(?)) ORDER BY telegram_id",
            (dumps(sorted(set(internal_numbers))),),
        )
        return [_user(row) for row in rows]

    def is_allowed(self, telegram_id: int) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM users WHERE telegram_id = ? AND status = 'active'", (telegram_id,)
        ).fetchone()
        return row is not None

    def sync_admins(self, telegram_ids: Iterable[int], now: int) -> builtins.list[int]:
        """Make the admins exactly those named in the config (ADMIN_IDS is the one source of admin rights).

        The named are created or promoted and re-activated. An admin no longer named is demoted: to a manager
        when they act as a company member, else revoked (a manager must act as one). Returns the demoted ids.
        """
        wanted = sorted(set(telegram_ids))
        with write(self._db) as conn:
            conn.executemany(
                """
                INSERT INTO users (telegram_id, role, status, created_at, updated_at)
                VALUES (?, 'admin', 'active', ?, ?)
                ON CONFLICT (telegram_id) DO UPDATE SET role = 'admin', status = 'active',
                    updated_at = excluded.updated_at
                WHERE role <> 'admin' OR status <> 'active'
                """,
                [(tid, now, now) for tid in wanted],
            )
            rows = conn.execute(
                """
                UPDATE users SET role = 'manager', updated_at = :now,
                    status = CASE WHEN member_id IS NULL AND status = 'active' THEN 'revoked' ELSE status END
                WHERE role = 'admin' AND telegram_id NOT IN (SELECT value FROM json_each(:wanted))
                RETURNING telegram_id
                """,
                {"now": now, "wanted": dumps(wanted)},
            ).fetchall()
        return sorted(tid for (tid,) in rows)

    def list(self, *, active_only: bool = False) -> builtins.list[User]:
        """Admins first, then by name; for /users."""
        where = "WHERE status = 'active'" if active_only else ""
        return [
            _user(row)
            for row in self._db.query(
                f"SELECT * FROM users {where} "
                "ORDER BY role = 'manager', coalesce(display_name, member_name, ''), telegram_id"
            )
        ]

    def _set(self, telegram_id: int, column: str, value: str | int | None, now: int) -> bool:
        with write(self._db) as conn:
            cursor = conn.execute(
                f"UPDATE users SET {column} = ?, updated_at = ? WHERE telegram_id = ?", (value, now, telegram_id)
            )
            return cursor.rowcount == 1
