"""The boards and business-hours summaries the bot posts, each written down before it is sent (``intend``) and given
its message once Telegram answers (``landed``). A row still without its message after that is one a kill or a lost
answer left: the chat may hold what was sent (a stub, never a list: see ``bot.alerts.board`` and ``held``). Every
board ever posted stays here until it is taken down (``retired``), so a crash never leaves a second one behind."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from sqlite_utils import Database

from storage._db import dumps, one, write

Kind = Literal["board", "summary"]


class Ledger:
    def __init__(self, db: Database) -> None:
        self._db = db

    def intend(self, chat_id: int, kind: Kind, now: int, alert_ids: Iterable[int] = ()) -> int:
        """Write down a message about to be sent; returns its entry's id."""
        with write(self._db) as conn:
            row = one(
                conn.execute(
                    "INSERT INTO ledger (chat_id, kind, alert_ids, created_at, updated_at) VALUES (?, ?, ?, ?, ?)"
                    " RETURNING id",
                    (chat_id, kind, dumps(sorted(alert_ids)), now, now),
                )
            )
        assert row is not None
        return int(row["id"])

    def forget(self, entry_id: int) -> None:
        """Telegram surely did not take it: nothing of it is in the chat."""
        with write(self._db) as conn:
            conn.execute("DELETE FROM ledger WHERE id = ? AND message_id IS NULL", (entry_id,))

    def landed(self, entry_id: int, message_id: int, now: int) -> None:
        """Telegram took it as ``message_id``, and what it is for follows in the same transaction: the chat's board
        is now this message; a summary's alerts still held are released into it, at no version yet (delivery then
        writes them into it)."""
        with write(self._db) as conn:
            row = one(
                conn.execute(
                    "UPDATE ledger SET message_id = ?, updated_at = ? WHERE id = ? RETURNING *",
                    (message_id, now, entry_id),
                )
            )
            if row is None:
                raise KeyError(entry_id)
            if row["kind"] == "board":
                conn.execute(
                    "UPDATE chats SET board_message_id = ?, updated_at = ? WHERE chat_id = ?",
                    (message_id, now, row["chat_id"]),
                )
            else:
                conn.execute(
                    "UPDATE alerts SET held = 0, summary = 1, message_id = ?"
                    " WHERE held AND chat_id = ? AND id IN (SELECT value FROM json_each(?))",
                    (message_id, row["chat_id"], row["alert_ids"]),
                )

    def adopt_board(self, chat_id: int, message_id: int, now: int) -> None:
        """A board of the bot's found in the chat (pinned) that storage did not know: written down as the chat's."""
        with write(self._db) as conn:
            known = conn.execute(
                "SELECT 1 FROM ledger WHERE chat_id = ? AND kind = 'board' AND message_id = ?", (chat_id, message_id)
            ).fetchone()
            if known is None:
                conn.execute(
                    "INSERT INTO ledger (chat_id, kind, message_id, created_at, updated_at)"
                    " VALUES (?, 'board', ?, ?, ?)",
                    (chat_id, message_id, now, now),
                )
            conn.execute(
                "UPDATE chats SET board_message_id = ?, updated_at = ? WHERE chat_id = ?", (message_id, now, chat_id)
            )

    def stale_boards(self, chat_id: int) -> list[int]:
        """The chat's boards still up that are not its board any more (replaced, or posted before a crash)."""
        rows = self._db.execute(
            """
            SELECT ledger.message_id FROM ledger JOIN chats USING (chat_id)
            WHERE ledger.chat_id = ? AND kind = 'board' AND ledger.message_id IS NOT NULL AND retired_at IS NULL
                AND ledger.message_id <> chats.board_message_id  -- (none while the chat has no board)
            ORDER BY ledger.id
            """,
            (chat_id,),
        )
        return [message_id for (message_id,) in rows]

    def retired(self, chat_id: int, message_id: int, now: int) -> None:
        """The board ``message_id`` was taken down."""
        with write(self._db) as conn:
            conn.execute(
                "UPDATE ledger SET retired_at = ?, updated_at = ?"
                " WHERE chat_id = ? AND kind = 'board' AND message_id = ? AND retired_at IS NULL",
                (now, now, chat_id, message_id),
            )
