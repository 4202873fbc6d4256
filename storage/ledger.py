"""The boards and business-hours summaries the bot posts, each written down before it is sent (``intend``) and given
its message once Telegram answers (``landed``). A row still without its message after that is one a kill or a lost
answer left: the chat may hold what was sent (a stub, never a list: see ``bot.alerts.board`` and ``held``); those of
a summary are counted, so titles that keep landing unseen give way to alerts of their own. Every board ever posted
stays here until it is taken down (``retired``), so a crash never leaves a second one behind, and whether it is pinned
is kept with it, so a kill or a failure between posting and pinning is made good later."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, NamedTuple

from sqlite_utils import Database

from storage._db import dumps, one, write

Kind = Literal["board", "summary"]
Pin = Literal["pinned", "refused"]  # refused: Telegram will not let the bot pin it (no right to pin)


class Unseen(NamedTuple):
    """The summaries written down with an alert whose message the bot never learned (a kill or a lost answer)."""

    titles: int  # how many
    last_at: int  # when the last of them was written down


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

    def unseen_summaries(self, chat_id: int) -> dict[int, Unseen]:
        """The chat's live held alerts that went out in summaries Telegram may have posted unseen: alert id ->
        those summaries (each left at most its title in the chat)."""
        rows = self._db.execute(
            """
            SELECT alerts.id, count(*), max(ledger.created_at) FROM ledger, json_each(ledger.alert_ids) AS told
            JOIN alerts ON alerts.id = told.value AND alerts.chat_id = ledger.chat_id
            WHERE ledger.chat_id = ? AND kind = 'summary' AND ledger.message_id IS NULL
                AND alerts.held AND alerts.state <> 'closed'
            GROUP BY alerts.id
            """,
            (chat_id,),
        )
        return {alert_id: Unseen(titles, last_at) for alert_id, titles, last_at in rows}

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
                "UPDATE ledger SET pin = 'pinned' WHERE chat_id = ? AND kind = 'board' AND message_id = ?",
                (chat_id, message_id),
            )
            conn.execute(
                "UPDATE chats SET board_message_id = ?, updated_at = ? WHERE chat_id = ?", (message_id, now, chat_id)
            )

    def board_to_pin(self, chat_id: int) -> int | None:
        """The chat's board when it is not pinned yet and Telegram has not refused to pin it."""
        row = self._db.execute(
            """
            SELECT ledger.message_id FROM ledger JOIN chats USING (chat_id)
            WHERE ledger.chat_id = ? AND kind = 'board' AND ledger.message_id = chats.board_message_id
                AND pin IS NULL AND retired_at IS NULL
            """,
            (chat_id,),
        ).fetchone()
        return None if row is None else int(row[0])

    def pinned(self, chat_id: int, message_id: int, pin: Pin, now: int) -> None:
        """What became of pinning the board ``message_id``: never asked again."""
        with write(self._db) as conn:
            conn.execute(
                "UPDATE ledger SET pin = ?, updated_at = ? WHERE chat_id = ? AND kind = 'board' AND message_id = ?",
                (pin, now, chat_id, message_id),
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
