"""Recordings past New-Tel's 24 hours: each kept as the Telegram file it became (re-sent by ``file_id`` at once),
and each answered call's recording posted once to every chat subscribed with "records".

A post is ``due`` (at ``due_at``) until Telegram took it (``sent``, with its message) or it was given up
(``failed``); its (chat, call) key makes it exactly once, whatever polls and restarts repeat.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlite_utils import Database

from storage._db import all_rows, dumps, write
from storage.alerts import Alert, _alert
from storage.calls import _FROM, _SELECT, CallRecord, _record

PostState = Literal["due", "sent", "failed"]


@dataclass(frozen=True, slots=True)
class RecordPost:
    chat_id: int
    call: CallRecord
    state: PostState
    tries: int  # failed attempts so far (New-Tel had no recording yet, or failed)
    due_at: int
    message_id: int | None  # once sent


_POST = "p.chat_id, p.state, p.tries, p.due_at, p.message_id"
_FROM_POSTS = f"{_FROM} JOIN record_posts p ON p.call_id = c.id"  # the calls' own join, then their posts
_KEY = "chat_id = ? AND call_id = (SELECT id FROM calls WHERE vpbx_id = ?)"


def _post(row: Sequence[Any]) -> RecordPost:
    chat_id, state, tries, due_at, message_id, *call = row
    return RecordPost(chat_id, _record(call), state, tries, due_at, message_id)


class Recordings:
    def __init__(self, db: Database) -> None:
        self._db = db

    # --- the recordings Telegram keeps ---

    def file_id(self, vpbx_id: str) -> str | None:
        """The Telegram file of the call's recording, if one was ever sent."""
        row = self._db.execute(
            "SELECT r.file_id FROM recordings r JOIN calls c ON c.id = r.call_id WHERE c.vpbx_id = ?", (vpbx_id,)
        ).fetchone()
        return None if row is None else str(row[0])

    def kept(self, vpbx_ids: Iterable[str]) -> set[str]:
        """Those of the calls whose recording Telegram keeps (one query, however many)."""
        rows = self._db.execute(
            "SELECT c.vpbx_id FROM recordings r JOIN calls c ON c.id = r.call_id"
            " WHERE c.vpbx_id IN (SELECT value FROM json_each(?))",
            (dumps(sorted(set(vpbx_ids))),),
        )
        return {row[0] for row in rows}

    def keep(self, vpbx_id: str, file_id: str, now: int) -> bool:
        """Remember the call's recording as a Telegram file; the first one kept stays. False when the archive does
        not hold the call (nothing to attach it to) or a file was kept already."""
        with write(self._db) as conn:
            return _keep(conn, vpbx_id, file_id, now) == 1

    def forget(self, vpbx_id: str, file_id: str) -> bool:
        """Telegram no longer takes ``file_id``: it is not the call's file any more, so the next one sent is kept.
        Only that file: one kept meanwhile stays. False when it was not the call's file."""
        with write(self._db) as conn:
            cursor = conn.execute(
                "DELETE FROM recordings WHERE call_id = (SELECT id FROM calls WHERE vpbx_id = ?) AND file_id = ?",
                (vpbx_id, file_id),
            )
            return cursor.rowcount == 1

    # --- posts to the chats subscribed with "records" ---

    def enqueue(self, posts: Iterable[tuple[int, str]], due_at: int) -> int:
        """A post for each (chat id, vpbx id), due at ``due_at``, unless that chat has (or had) one for that call:
        repeating this adds nothing. Returns how many are new."""
        wanted = list(posts)
        if not wanted:
            return 0
        with write(self._db) as conn:
            # DO NOTHING rather than OR IGNORE: only the (chat, call) key may be skipped, other violations raise.
            cursor = conn.execute(
                """
                INSERT INTO record_posts (chat_id, call_id, due_at)
                SELECT json_extract(value, '$[0]'), c.id, ? FROM json_each(?) JOIN calls c
                    ON c.vpbx_id = json_extract(value, '$[1]')
                WHERE true
                ON CONFLICT DO NOTHING
                """,
                (due_at, dumps(wanted)),
            )
            return cursor.rowcount

    def due(self, now: int, limit: int) -> list[RecordPost]:
        """Posts due by ``now``, the longest waiting first."""
        rows = self._db.execute(
            f"SELECT {_POST}, {_SELECT} FROM {_FROM_POSTS} WHERE p.state = 'due' AND p.due_at <= ?"
            " ORDER BY p.due_at, c.id, p.chat_id LIMIT ?",
            (now, limit),
        )
        return [_post(row) for row in rows]

    def posts(self, vpbx_id: str) -> list[RecordPost]:
        """Every chat's post of one call."""
        rows = self._db.execute(
            f"SELECT {_POST}, {_SELECT} FROM {_FROM_POSTS} WHERE c.vpbx_id = ? ORDER BY p.chat_id", (vpbx_id,)
        )
        return [_post(row) for row in rows]

    def sent(self, chat_id: int, vpbx_id: str, message_id: int, file_id: str | None, now: int) -> bool:
        """Telegram took the post: it is never sent again, and its file (if it became one) is kept, in one
        transaction. False when no such post is due (sent already, say)."""
        with write(self._db) as conn:
            marked = conn.execute(
                f"UPDATE record_posts SET state = 'sent', message_id = ? WHERE {_KEY} AND state = 'due'",
                (message_id, chat_id, vpbx_id),
            ).rowcount
            if file_id is not None:
                _keep(conn, vpbx_id, file_id, now)
        return marked == 1

    def retry(self, chat_id: int, vpbx_id: str, due_at: int, max_tries: int) -> PostState:
        """An attempt failed: due again at ``due_at``, or ``failed`` once it has failed ``max_tries`` times."""
        with write(self._db) as conn:
            row = conn.execute(
                "UPDATE record_posts SET tries = tries + 1, due_at = ?,"
                f" state = CASE WHEN tries + 1 >= ? THEN 'failed' ELSE 'due' END WHERE {_KEY} AND state = 'due'"
                " RETURNING state",
                (due_at, max_tries, chat_id, vpbx_id),
            ).fetchall()
        return row[0][0] if row else "failed"

    def postpone(self, chat_id: int, vpbx_id: str, due_at: int) -> None:
        """Not the post's fault (Telegram busy or down): due again at ``due_at``, no attempt counted."""
        with write(self._db) as conn:
            conn.execute(
                f"UPDATE record_posts SET due_at = ? WHERE {_KEY} AND state = 'due'", (due_at, chat_id, vpbx_id)
            )

    def give_up(self, chat_id: int, vpbx_id: str) -> None:
        """Telegram will never take this post."""
        with write(self._db) as conn:
            conn.execute(f"UPDATE record_posts SET state = 'failed' WHERE {_KEY} AND state = 'due'", (chat_id, vpbx_id))

    def give_up_chat(self, chat_id: int) -> int:
        """The bot cannot write to the chat any more: none of its due posts will go. Returns how many."""
        with write(self._db) as conn:
            return conn.execute(
                "UPDATE record_posts SET state = 'failed' WHERE chat_id = ? AND state = 'due'", (chat_id,)
            ).rowcount

    # --- where a post belongs ---

    def alert_of(self, chat_id: int, call: CallRecord) -> Alert | None:
        """The chat's alert this call answered: the one whose callback it was, or the one it closed when the
        customer called again and got through (closed at the moment it was answered). Either closed the alert
        after the call began: only the chat's alerts closed since then are read."""
        rows = self._db.execute(
            """
            SELECT * FROM alerts WHERE chat_id = :chat_id AND closed_at >= :started_at AND (
                callback_vpbx_id = :vpbx_id
                OR (close_reason = 'answered_later' AND clid = :customer AND closed_at = :answered_at)
            ) ORDER BY id DESC LIMIT 1
            """,
            {
                "chat_id": chat_id,
                "started_at": call.started_at,
                "vpbx_id": call.vpbx_id,
                "customer": call.customer,
                "answered_at": call.answered_at,
            },
        )
        found = all_rows(rows)
        return _alert(found[0]) if found else None


def _keep(conn: sqlite3.Connection, vpbx_id: str, file_id: str, now: int) -> int:
    return int(
        conn.execute(
            "INSERT INTO recordings (call_id, file_id, at) SELECT id, ?, ? FROM calls WHERE vpbx_id = ?"
            " ON CONFLICT DO NOTHING",
            (file_id, now, vpbx_id),
        ).rowcount
    )
