"""Numbered schema migrations, applied in order at start-up and recorded in ``_migrations``.

A migration is a small function of ``db``. Once released it is never edited: change the schema by
appending ``m00N_...``. Each one runs in its own transaction together with its ``_migrations`` row,
so a crash mid-way leaves the database at the previous version.

The DDL is written out as SQL rather than through ``Table.create`` because the schema leans on what
sqlite-utils does not express: CHECK constraints, partial unique indexes, generated columns and
``ON UPDATE CASCADE``.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

from sqlite_utils import Database

from storage._db import write

Migration = Callable[[Database], None]

MIGRATIONS: list[Migration] = []


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer version of the bot than this one."""


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append(fn)
    return fn


def _number(fn: Migration) -> int:
    # "m002_alerts" -> 2; the name is the single source of the order.
    return int(fn.__name__[1:4])


def schema_version(db: Database) -> int:
    if not db["_migrations"].exists():
        return 0
    row = db.execute("SELECT max(number) FROM _migrations").fetchone()
    return int(row[0] or 0)


def latest_version() -> int:
    return _number(MIGRATIONS[-1])


def _script(db: Database, sql: str) -> None:
    """Run ``sql``'s statements one by one inside the caller's transaction.

    Not ``executescript``: sqlite3's (and sqlite-utils' before 4.0) COMMITs the open transaction first, so a
    migration failing half-way would keep its first statements without its ``_migrations`` row. A statement
    ends at the first ``;`` that ``sqlite3.complete_statement`` accepts, so one inside a comment, a string
    or a trigger body does not.
    """
    start = 0
    for end in (i + 1 for i, char in enumerate(sql) if char == ";"):
        if sqlite3.complete_statement(sql[start:end]):
            db.conn.execute(sql[start:end])
            start = end
    if sql[start:].strip():  # a last statement without its ";" (or only a comment), as executescript allows
        db.conn.execute(sql[start:])


def migrate(db: Database, upto: int | None = None, now: int | None = None) -> int:
    """Apply every migration not yet recorded, up to version ``upto`` (default: all). Returns the version.

    Safe to run concurrently from two processes: each step re-checks the version under the write lock.
    """
    db.execute(
        "CREATE TABLE IF NOT EXISTS _migrations ("
        " number INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT"
    )
    target = latest_version() if upto is None else upto
    if schema_version(db) > latest_version():
        raise SchemaTooNew(f"database is at version {schema_version(db)}, this code knows {latest_version()}")
    for fn in MIGRATIONS:
        number = _number(fn)
        if number > target:
            break
        with write(db) as conn:
            if conn.execute("SELECT 1 FROM _migrations WHERE number = ?", (number,)).fetchone():
                continue
            fn(db)
            conn.execute(
                "INSERT INTO _migrations (number, name, applied_at) VALUES (?, ?, ?)",
                (number, fn.__name__, int(time.time()) if now is None else now),
            )
    return schema_version(db)


@migration
def m001_initial(db: Database) -> None:
    _script(
        db,
        """
        CREATE TABLE users (
            telegram_id INTEGER PRIMARY KEY,
            role TEXT NOT NULL CHECK (role IN ('admin', 'manager')),
            status TEXT NOT NULL CHECK (status IN ('active', 'denied', 'revoked')),
            display_name TEXT,
            username TEXT,
            -- The company member this user acts as: a snapshot taken when allowed.
            member_id TEXT,
            member_name TEXT,
            member_email TEXT,
            internal_number TEXT,
            personal_number TEXT,
            -- E.164 digits, no '+'.
            callback_phone TEXT CHECK (
                callback_phone IS NULL
                OR (callback_phone GLOB '[1-9]*' AND callback_phone NOT GLOB '*[^0-9]*'
                    AND length(callback_phone) <= 15)
            ),
            language TEXT CHECK (language IN ('ru', 'en')),
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            -- Only an admin may be active without a member to act as.
            CHECK (role = 'admin' OR status <> 'active' OR member_id IS NOT NULL)
        ) STRICT;

        CREATE TABLE access_requests (
            id INTEGER PRIMARY KEY,
            telegram_id INTEGER NOT NULL,
            first_name TEXT,
            username TEXT,
            phone TEXT,
            matched_member_id TEXT,
            status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'denied')),
            -- [[chat_id, message_id], ...]: the admin messages to edit once decided.
            admin_messages TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(admin_messages)),
            created_at INTEGER NOT NULL,
            decided_by INTEGER,
            decided_at INTEGER,
            CHECK ((status = 'pending') = (decided_at IS NULL))
        ) STRICT;
        CREATE UNIQUE INDEX access_requests_one_pending ON access_requests (telegram_id)
            WHERE status = 'pending';

        CREATE TABLE chats (
            chat_id INTEGER PRIMARY KEY,
            title TEXT,
            subscribed INTEGER NOT NULL DEFAULT 0 CHECK (subscribed IN (0, 1)),
            -- JSON list of company numbers to alert on; empty = all.
            numbers TEXT NOT NULL DEFAULT '[]'
                CHECK (json_valid(numbers) AND json_type(numbers) = 'array'),
            balance_alerts INTEGER NOT NULL DEFAULT 0 CHECK (balance_alerts IN (0, 1)),
            digest_time TEXT CHECK (
                digest_time IS NULL OR (digest_time GLOB '[0-2][0-9]:[0-5][0-9]' AND digest_time < '24:00')
            ),
            language TEXT CHECK (language IN ('ru', 'en')),
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        ) STRICT;

        CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            at INTEGER NOT NULL,
            actor_id INTEGER,  -- NULL: the bot itself (a job)
            action TEXT NOT NULL,
            target TEXT,
            details TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(details))
        ) STRICT;
        CREATE INDEX audit_at ON audit (at);
        CREATE INDEX audit_action_at ON audit (action, at);

        CREATE TABLE kv (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL CHECK (json_valid(value)),
            updated_at INTEGER NOT NULL
        ) STRICT;
        """,
    )


@migration
def m002_alerts(db: Database) -> None:
    _script(
        db,
        """
        CREATE TABLE alerts (
            id INTEGER PRIMARY KEY,
            -- ON UPDATE CASCADE: a group upgraded to a supergroup changes its chat id.
            chat_id INTEGER NOT NULL REFERENCES chats (chat_id) ON UPDATE CASCADE ON DELETE CASCADE,
            clid TEXT NOT NULL,
            dnid TEXT,
            state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'calling', 'closed')),
            missed_count INTEGER NOT NULL DEFAULT 1 CHECK (missed_count >= 1),
            first_at INTEGER NOT NULL,
            last_at INTEGER NOT NULL,
            ring_seconds INTEGER,
            message_id INTEGER,
            -- Bumped on every change; delivery records the version it rendered.
            version INTEGER NOT NULL DEFAULT 1,
            delivered_version INTEGER NOT NULL DEFAULT 0,
            dirty INTEGER GENERATED ALWAYS AS (message_id IS NULL OR delivered_version < version) VIRTUAL,
            callback_by INTEGER,
            callback_name TEXT,
            callback_started_at INTEGER,
            callback_call_id TEXT,
            callback_vpbx_id TEXT,
            callback_outcome TEXT CHECK (callback_outcome IN ('answered', 'no answer', 'failed')),
            talk_seconds INTEGER,
            closed_by INTEGER,
            closed_name TEXT,
            closed_at INTEGER,
            close_reason TEXT CHECK (close_reason IN ('done', 'called_back', 'answered_later')),
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            CHECK ((state = 'closed') = (closed_at IS NOT NULL AND close_reason IS NOT NULL))
        ) STRICT;
        -- At most one live alert per customer per chat: new misses merge into it.
        CREATE UNIQUE INDEX alerts_live_customer ON alerts (chat_id, clid) WHERE state <> 'closed';
        CREATE INDEX alerts_live_clid ON alerts (clid) WHERE state <> 'closed';
        CREATE INDEX alerts_dirty ON alerts (id) WHERE dirty;
        CREATE INDEX alerts_calling ON alerts (id) WHERE state = 'calling';
        CREATE INDEX alerts_chat_last ON alerts (chat_id, last_at);
        CREATE INDEX alerts_chat_closed ON alerts (chat_id, closed_at) WHERE closed_at IS NOT NULL;

        -- Which calls each chat has seen. The primary key is the exactly-once guarantee: a call
        -- belongs to at most one alert per chat, across restarts. alert_id NULL = known, no alert
        -- (the baseline taken on the very first start).
        CREATE TABLE alert_calls (
            chat_id INTEGER NOT NULL REFERENCES chats (chat_id) ON UPDATE CASCADE ON DELETE CASCADE,
            vpbx_id TEXT NOT NULL,
            alert_id INTEGER REFERENCES alerts (id) ON DELETE CASCADE,
            started_at INTEGER,
            PRIMARY KEY (chat_id, vpbx_id)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX alert_calls_alert ON alert_calls (alert_id) WHERE alert_id IS NOT NULL;
        CREATE INDEX alert_calls_chat_started ON alert_calls (chat_id, started_at) WHERE alert_id IS NOT NULL;
        """,
    )


@migration
def m003_subscribed_at(db: Database) -> None:
    """When the chat last began to get these alerts: calls missed before that are not its news, so a chat
    that subscribes again (or widens its filter) is not flooded with what it missed meanwhile."""
    db.execute("ALTER TABLE chats ADD COLUMN subscribed_at INTEGER")
    db.execute("UPDATE chats SET subscribed_at = created_at WHERE subscribed")


@migration
def m004_calls(db: Database) -> None:
    """The call archive: every call the bot observed, kept past New-Tel's 24 hours (``CALL_RETENTION_DAYS``)."""
    _script(
        db,
        """
        CREATE TABLE calls (
            vpbx_id TEXT PRIMARY KEY,
            direction TEXT NOT NULL,
            clid TEXT NOT NULL,  -- number A, the caller
            dnid TEXT NOT NULL,  -- number B, the number dialled
            status TEXT NOT NULL,
            active INTEGER NOT NULL CHECK (active IN (0, 1)),
            started_at INTEGER NOT NULL,
            answered_at INTEGER,
            ended_at INTEGER,
            updated_at INTEGER NOT NULL
        ) STRICT, WITHOUT ROWID;
        -- A customer's history (either side of the call) and a period's calls.
        CREATE INDEX calls_clid_started ON calls (clid, started_at);
        CREATE INDEX calls_dnid_started ON calls (dnid, started_at);
        CREATE INDEX calls_started ON calls (started_at);
        """,
    )


@migration
def m005_archive(db: Database) -> None:
    """The archive grows up: who answered or placed each call (with the member's name as it was then), the
    changes the features have not taken yet, recordings kept as Telegram files, the customer book, imports
    waiting for their confirm, and per-chat recordings and weekly digests.

    ``calls`` becomes a rowid table: its secondary indexes then carry an 8-byte rowid instead of the 40-digit
    vpbx id, which keeps a call under 300 bytes on disk; one index on the customer (the other side of the call)
    replaces the two on clid and dnid."""
    _script(
        db,
        """
        CREATE TABLE members_seen (
            id INTEGER PRIMARY KEY,
            internal TEXT NOT NULL,
            name TEXT NOT NULL,
            UNIQUE (internal, name)
        ) STRICT;

        CREATE TABLE calls_new (
            id INTEGER PRIMARY KEY,
            vpbx_id TEXT NOT NULL UNIQUE,
            direction TEXT NOT NULL,
            clid TEXT NOT NULL,  -- number A, the caller
            dnid TEXT NOT NULL,  -- number B, the number dialled
            -- The customer: the outside side of the call.
            customer TEXT GENERATED ALWAYS AS (CASE direction WHEN 'out' THEN dnid ELSE clid END) VIRTUAL,
            status TEXT NOT NULL,
            active INTEGER NOT NULL CHECK (active IN (0, 1)),
            started_at INTEGER NOT NULL,
            answered_at INTEGER,
            ended_at INTEGER,
            -- Who answered (inbound) or placed (outbound) it; asked of New-Tel once the call ended.
            member_id INTEGER REFERENCES members_seen (id),
            who_due INTEGER,  -- when to ask (again); NULL: nothing to ask
            who_tries INTEGER NOT NULL DEFAULT 0,
            -- Changed, and not yet taken by the features (alerts, callbacks, recordings): a crash between the
            -- archive's write and theirs loses nothing, they take it on the next poll.
            pending INTEGER NOT NULL DEFAULT 0 CHECK (pending IN (0, 1)),
            updated_at INTEGER NOT NULL
        ) STRICT;
        INSERT INTO calls_new (vpbx_id, direction, clid, dnid, status, active, started_at, answered_at, ended_at,
                               who_due, updated_at)
            SELECT vpbx_id, direction, clid, dnid, status, active, started_at, answered_at, ended_at,
                   CASE WHEN NOT active AND (direction = 'out' OR status = 'answered') THEN updated_at END,
                   updated_at
            FROM calls ORDER BY started_at, vpbx_id;
        DROP TABLE calls;
        ALTER TABLE calls_new RENAME TO calls;
        CREATE INDEX calls_customer_started ON calls (customer, started_at);
        -- A customer's calls in and out, counted from the index alone (the card, the caller's story).
        CREATE INDEX calls_customer_direction ON calls (customer, direction, started_at);
        CREATE INDEX calls_started ON calls (started_at);
        CREATE INDEX calls_who_due ON calls (who_due) WHERE who_due IS NOT NULL;
        CREATE INDEX calls_pending ON calls (id) WHERE pending;

        -- A call's recording as Telegram keeps it: re-sent by file_id at once, long after New-Tel forgot it.
        CREATE TABLE recordings (
            call_id INTEGER PRIMARY KEY REFERENCES calls (id) ON DELETE CASCADE,
            file_id TEXT NOT NULL,
            at INTEGER NOT NULL
        ) STRICT;

        -- Each answered call's recording posted once per chat subscribed with "records".
        CREATE TABLE record_posts (
            chat_id INTEGER NOT NULL REFERENCES chats (chat_id) ON UPDATE CASCADE ON DELETE CASCADE,
            call_id INTEGER NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
            state TEXT NOT NULL DEFAULT 'due' CHECK (state IN ('due', 'sent', 'failed')),
            tries INTEGER NOT NULL DEFAULT 0,
            due_at INTEGER NOT NULL,
            message_id INTEGER,
            PRIMARY KEY (chat_id, call_id)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX record_posts_due ON record_posts (due_at) WHERE state = 'due';
        CREATE INDEX record_posts_call ON record_posts (call_id);

        ALTER TABLE chats ADD COLUMN records INTEGER NOT NULL DEFAULT 0 CHECK (records IN (0, 1));
        ALTER TABLE chats ADD COLUMN digest_weekly TEXT CHECK (
            digest_weekly IS NULL OR (digest_weekly GLOB '[0-2][0-9]:[0-5][0-9]' AND digest_weekly < '24:00')
        );

        -- The customer book: a name per number (international digits, as the archive writes them).
        CREATE TABLE contacts (
            number TEXT PRIMARY KEY,
            name TEXT NOT NULL CHECK (length(trim(name)) > 0),
            folded TEXT NOT NULL,  -- the name casefolded: SQLite's lower() knows only ASCII
            created_by INTEGER,
            updated_by INTEGER,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        ) STRICT, WITHOUT ROWID;

        -- An import file read and previewed, applied (in one transaction) when its confirm button is pressed.
        CREATE TABLE imports (
            id INTEGER PRIMARY KEY,
            by INTEGER NOT NULL,
            chat_id INTEGER NOT NULL,
            message_id INTEGER,
            rows TEXT NOT NULL CHECK (json_valid(rows)),  -- [[number, name], ...]
            state TEXT NOT NULL DEFAULT 'previewed' CHECK (state IN ('previewed', 'applied', 'cancelled')),
            created_at INTEGER NOT NULL,
            decided_at INTEGER
        ) STRICT;
        """,
    )


# A call's share of its hour in call_hours, as ``sign`` (+ or -) times the row ``r`` (NEW or OLD). The terms are
# storage.reports' definitions: inbound, answered (inbound), missed (inbound, ended, not answered), outbound, talk.
def _hour_share(r: str, sign: str) -> str:
    return f"""
        INSERT INTO call_hours (hour, company, member, inbound, answered, missed, outbound, talk)
        VALUES ({r}.started_at - {r}.started_at % 3600,
                CASE {r}.direction WHEN 'out' THEN {r}.clid ELSE {r}.dnid END,
                coalesce({r}.member_id, 0),
                {sign}({r}.direction = 'in'),
                {sign}({r}.direction = 'in' AND {r}.status = 'answered'),
                {sign}({_missed(r)}),
                {sign}({r}.direction = 'out'),
                {sign}(CASE WHEN {r}.ended_at > {r}.answered_at THEN {r}.ended_at - {r}.answered_at ELSE 0 END))
        ON CONFLICT (hour, company, member) DO UPDATE SET
            inbound = inbound + excluded.inbound, answered = answered + excluded.answered,
            missed = missed + excluded.missed, outbound = outbound + excluded.outbound,
            talk = talk + excluded.talk;"""


def _missed(r: str) -> str:
    return f"{r}.direction = 'in' AND NOT {r}.active AND {r}.status <> 'answered'"


# Calls of r's customer answered before or after r, nearest first (a tie in seconds is broken by the row id).
def _answered(r: str, side: str) -> str:
    order = "ASC" if side == ">" else "DESC"
    return (
        f"FROM calls a WHERE a.customer = {r}.customer AND a.status = 'answered'"
        f" AND (a.started_at, a.id) {side} ({r}.started_at, {r}.id) ORDER BY a.started_at {order}, a.id {order} LIMIT 1"
    )


def _answer_after(r: str) -> str:
    return f"(SELECT a.id {_answered(r, '>')})"


def _claim(r: str, when: str) -> str:
    """The answered call ``r`` answers the customer's misses since their previous answered call (if ``when``)."""
    since, since_id = (f"coalesce((SELECT a.{column} {_answered(r, '<')}), -1)" for column in ("started_at", "id"))
    return f"""
        UPDATE calls SET answer_id = {r}.id
        WHERE customer = {r}.customer AND {_missed("calls")} AND started_at >= {since} AND started_at <= {r}.started_at
            AND (started_at, id) > ({since}, {since_id}) AND (started_at, id) < ({r}.started_at, {r}.id) AND {when};"""


def _unclaim(r: str, when: str) -> str:
    """``r`` answers nothing any more (deleted, or not answered after all; if ``when``): its misses find their next
    answer."""
    return f"""
        UPDATE calls SET answer_id = {_answer_after("calls")}
        WHERE customer = {r}.customer AND {_missed("calls")} AND started_at <= {r}.started_at AND answer_id = {r}.id
            AND {when};"""


@migration
def m006_reports(db: Database) -> None:
    """Reports add up hours, not calls, and a miss knows what answered it.

    - ``call_hours`` keeps each hour's figures per company number and member. A month's report then reads ~2,000
      rows instead of ~300,000 calls; the period's ragged ends (a report up to now) come from the calls themselves.
    - ``calls.answer_id``, on a missed call: the customer's first answered call after it (either way), NULL while
      there is none. Misses that share it are one episode; its direction says called back or answered later.

    Both are kept exact by triggers on every insert, change and delete of a call, so the ingest, "who", the prune
    and any later writer agree with them without knowing of them. Misses get partial indexes of their own: a
    report starts from a month's misses (a tenth of its calls), an answered call from its customer's last misses.
    """
    moved = "OLD.customer IS NOT NEW.customer OR OLD.started_at IS NOT NEW.started_at"
    _script(
        db,
        f"""
        ALTER TABLE calls ADD COLUMN answer_id INTEGER;
        -- What a report reads of a miss, from the index alone: SQLite reads a partial index's own terms
        -- (direction, active, status) and a generated column (customer: for a miss, clid) from the table.
        CREATE INDEX calls_missed ON calls (started_at, clid, ended_at, answer_id, dnid, direction, active, status)
            WHERE {_missed("calls")};
        CREATE INDEX calls_missed_customer ON calls (customer, started_at) WHERE {_missed("calls")};
        UPDATE calls SET answer_id = {_answer_after("calls")} WHERE {_missed("calls")};

        CREATE TABLE call_hours (
            hour INTEGER NOT NULL,  -- Unix seconds of the hour's start (UTC hours: whole-hour zones compose them)
            company TEXT NOT NULL,  -- the number dialled (inbound) or shown (outbound)
            member INTEGER NOT NULL,  -- members_seen.id; 0: nobody known
            inbound INTEGER NOT NULL,
            answered INTEGER NOT NULL,
            missed INTEGER NOT NULL,
            outbound INTEGER NOT NULL,
            talk INTEGER NOT NULL,
            PRIMARY KEY (hour, company, member)
        ) STRICT, WITHOUT ROWID;
        INSERT INTO call_hours (hour, company, member, inbound, answered, missed, outbound, talk)
            SELECT started_at - started_at % 3600, CASE direction WHEN 'out' THEN clid ELSE dnid END,
                coalesce(member_id, 0), sum(direction = 'in'), sum(direction = 'in' AND status = 'answered'),
                sum({_missed("calls")}), sum(direction = 'out'),
                sum(CASE WHEN ended_at > answered_at THEN ended_at - answered_at ELSE 0 END)
            FROM calls GROUP BY 1, 2, 3;

        CREATE TRIGGER calls_insert AFTER INSERT ON calls BEGIN
            {_hour_share("NEW", "+")}
            UPDATE calls SET answer_id = {_answer_after("NEW")} WHERE id = NEW.id AND {_missed("NEW")};
            {_claim("NEW", "NEW.status = 'answered'")}
        END;
        CREATE TRIGGER calls_delete AFTER DELETE ON calls BEGIN
            {_hour_share("OLD", "-")}
            {_unclaim("OLD", "OLD.status = 'answered'")}
        END;
        CREATE TRIGGER calls_hours_update
            AFTER UPDATE OF direction, clid, dnid, status, active, started_at, answered_at, ended_at, member_id
            ON calls
        BEGIN {_hour_share("OLD", "-")} {_hour_share("NEW", "+")} END;
        CREATE TRIGGER calls_answer_update AFTER UPDATE OF direction, clid, dnid, status, active, started_at ON calls
        BEGIN
            {_unclaim("OLD", f"OLD.status = 'answered' AND (NEW.status <> 'answered' OR {moved})")}
            {_claim("NEW", f"NEW.status = 'answered' AND (OLD.status <> 'answered' OR {moved})")}
            UPDATE calls SET answer_id = CASE WHEN {_missed("NEW")} THEN {_answer_after("NEW")} END
            WHERE id = NEW.id AND (({_missed("NEW")}) IS NOT ({_missed("OLD")}) OR {moved});
        END;
        """,
    )


@migration
def m007_live(db: Database) -> None:
    """The live watch: a card on each ringing phone's owner's screen (sent once, then edited), per-user ``/notify``,
    and the company's desk phones as last seen registered, for the chats subscribed with ``sip``."""
    _script(
        db,
        """
        ALTER TABLE users ADD COLUMN ringing_cards INTEGER NOT NULL DEFAULT 1 CHECK (ringing_cards IN (0, 1));
        ALTER TABLE chats ADD COLUMN sip INTEGER NOT NULL DEFAULT 0 CHECK (sip IN (0, 1));

        -- One card per call and user. The row is written before the card is sent, so a crash or a failed send
        -- never sends a second one; message_id NULL: not (known to be) sent, never edited.
        CREATE TABLE ringing_cards (
            vpbx_id TEXT NOT NULL,
            user_id INTEGER NOT NULL REFERENCES users (telegram_id) ON DELETE CASCADE,
            message_id INTEGER,
            shown TEXT NOT NULL,  -- what the card says now (the state it was rendered from): edited only on change
            final INTEGER NOT NULL DEFAULT 0 CHECK (final IN (0, 1)),  -- the call is over: nothing more to edit
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (vpbx_id, user_id)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX ringing_cards_open ON ringing_cards (vpbx_id) WHERE NOT final;

        -- Each internal number's registration as last seen, and whether its being offline was reported.
        CREATE TABLE phones (
            internal TEXT PRIMARY KEY,
            registered INTEGER NOT NULL CHECK (registered IN (0, 1)),
            since INTEGER NOT NULL,  -- when it was first seen so
            reported INTEGER NOT NULL DEFAULT 0 CHECK (reported IN (0, 1)),  -- offline, and said so
            updated_at INTEGER NOT NULL
        ) STRICT, WITHOUT ROWID;
        """,
    )


@migration
def m008_owners(db: Database) -> None:
    """Every missed call gets an owner and a deadline: who took an alert, reminders stored (not only scheduled in
    memory) so a restart neither loses nor repeats one, and per chat the deadline (``/sla``), business hours
    (``/hours``), the shortest ring worth an alert (``/subscribe … min``) and the pinned board of open alerts."""
    _script(
        db,
        """
        ALTER TABLE alerts ADD COLUMN owner_id INTEGER;  -- who pressed "I'll take it"; NULL: nobody
        ALTER TABLE alerts ADD COLUMN owner_name TEXT;
        ALTER TABLE alerts ADD COLUMN owned_at INTEGER;
        ALTER TABLE alerts ADD COLUMN deadline_at INTEGER;  -- when it is due to have been called back; NULL: none
        -- Seen outside the chat's business hours: told in the summary when the hours begin, not one by one.
        ALTER TABLE alerts ADD COLUMN held INTEGER NOT NULL DEFAULT 0 CHECK (held IN (0, 1));

        ALTER TABLE chats ADD COLUMN sla_minutes INTEGER CHECK (sla_minutes IS NULL OR sla_minutes >= 0);  -- 0: off
        ALTER TABLE chats ADD COLUMN hours TEXT CHECK (hours IS NULL OR json_valid(hours));  -- NULL: always
        ALTER TABLE chats ADD COLUMN min_ring INTEGER NOT NULL DEFAULT 0 CHECK (min_ring >= 0);  -- seconds
        ALTER TABLE chats ADD COLUMN board_message_id INTEGER;

        -- A reminder is sent once per (alert, kind, user): the key is the guarantee, a restart re-reads what is due.
        CREATE TABLE reminders (
            alert_id INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
            kind TEXT NOT NULL CHECK (kind IN ('callback', 'deadline', 'escalation')),
            user_id INTEGER NOT NULL DEFAULT 0,  -- who is reminded privately; 0: the alert's chat
            due_at INTEGER NOT NULL,
            state TEXT NOT NULL DEFAULT 'due' CHECK (state IN ('due', 'sent', 'cancelled')),
            message_id INTEGER,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (alert_id, kind, user_id)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX reminders_due ON reminders (due_at) WHERE state = 'due';
        CREATE INDEX alerts_owner ON alerts (owner_id) WHERE owner_id IS NOT NULL AND state <> 'closed';
        CREATE INDEX alerts_deadline ON alerts (deadline_at) WHERE deadline_at IS NOT NULL AND state <> 'closed';
        """,
    )


@migration
def m009_attempts(db: Database) -> None:
    """Every call back that reached nobody is kept on its alert (not only the last), and the alerts released by a
    business-hours summary are shown in it: several alerts share that one message, each with its buttons there."""
    _script(
        db,
        """
        -- [[started_at, name], ...] of the callbacks nobody answered, oldest first.
        ALTER TABLE alerts ADD COLUMN attempts TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(attempts));
        -- Shown in a summary message (its message_id) with the other alerts of that summary.
        ALTER TABLE alerts ADD COLUMN summary INTEGER NOT NULL DEFAULT 0 CHECK (summary IN (0, 1));
        -- A press names its message: which alert (or summary) it shows.
        CREATE INDEX alerts_message ON alerts (chat_id, message_id) WHERE message_id IS NOT NULL;
        -- A chat's live alerts, read every few seconds (the board, open_for): alerts_chat_last walks its closed too.
        CREATE INDEX alerts_chat_live ON alerts (chat_id, last_at) WHERE state <> 'closed';
        -- The private reminders on screen, whose buttons go once their alert closes.
        CREATE INDEX reminders_shown ON reminders (alert_id) WHERE state = 'sent' AND message_id IS NOT NULL;
        -- The one attempt an alert held so far (the last callback nobody answered) becomes its first.
        UPDATE alerts SET attempts = json_array(json_array(callback_started_at, callback_name))
        WHERE callback_outcome = 'no answer' AND callback_started_at IS NOT NULL;
        """,
    )


@migration
def m010_ledger(db: Database) -> None:
    """The boards and summaries the bot posts, each written down before it is sent: a kill or a lost answer leaves a
    row without its message, so what it may have left in the chat is known, and every board ever posted can be taken
    down once a newer one replaces it."""
    _script(
        db,
        """
        CREATE TABLE ledger (
            id INTEGER PRIMARY KEY,
            chat_id INTEGER NOT NULL REFERENCES chats (chat_id) ON UPDATE CASCADE ON DELETE CASCADE,
            kind TEXT NOT NULL CHECK (kind IN ('board', 'summary')),
            alert_ids TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(alert_ids)),  -- what a summary tells
            -- NULL: about to be sent, or sent and Telegram's answer lost (then a stub may be in the chat).
            message_id INTEGER,
            retired_at INTEGER,  -- a board a newer one replaced, taken down (deleted, or emptied and unpinned)
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        ) STRICT;
        CREATE INDEX ledger_live_boards ON ledger (chat_id)
            WHERE kind = 'board' AND message_id IS NOT NULL AND retired_at IS NULL;

        -- The boards posted so far are the first ones written down.
        INSERT INTO ledger (chat_id, kind, message_id, created_at, updated_at)
        SELECT chat_id, 'board', board_message_id, updated_at, updated_at FROM chats
        WHERE board_message_id IS NOT NULL;
        -- A summary marked in kv before a crash (its message unknown) is a summary maybe sent: its alerts, still held,
        -- are told again in a summary.
        INSERT INTO ledger (chat_id, kind, alert_ids, created_at, updated_at)
        SELECT chats.chat_id, 'summary', kv.value, kv.updated_at, kv.updated_at FROM kv
        JOIN chats ON chats.chat_id = CAST(substr(kv.key, 21) AS INTEGER)
        WHERE substr(kv.key, 1, 20) = 'alerts.held_summary.' AND json_valid(kv.value);
        DELETE FROM kv WHERE substr(key, 1, 20) = 'alerts.held_summary.';
        """,
    )


@migration
def m011_board_pins(db: Database) -> None:
    """Whether each board is pinned, so a kill or a failure between posting a board and pinning it is made good at
    a later refresh, and a refusal (no right to pin) is asked once per board, not at every refresh. And the summaries
    never seen found without reading the ledger's year of boards and summaries (each round of the morning release)."""
    _script(
        db,
        """
        CREATE INDEX ledger_unseen_summaries ON ledger (chat_id) WHERE kind = 'summary' AND message_id IS NULL;
        -- NULL: not pinned yet (a refresh pins it); 'refused': Telegram will not let the bot pin it.
        ALTER TABLE ledger ADD COLUMN pin TEXT CHECK (pin IN ('pinned', 'refused'));
        -- The boards posted so far were pinned right after they were posted, or refused: not asked again (an
        -- upgrade posts no "pinned a message" in every group).
        UPDATE ledger SET pin = 'pinned' WHERE kind = 'board' AND message_id IS NOT NULL;
        """,
    )


@migration
def m012_forgotten_calls(db: Database) -> None:
    """The calls of customers an admin had forgotten (``/forget``), by New-Tel's id alone: New-Tel keeps a day of
    calls, so the reconcile would bring them back. Each is kept until two days after its call began, then let go."""
    _script(
        db,
        """
        CREATE TABLE forgotten_calls (
            vpbx_id TEXT PRIMARY KEY,
            until INTEGER NOT NULL  -- let go from then on: New-Tel no longer has the call
        ) STRICT, WITHOUT ROWID;
        """,
    )


@migration
def m013_customer_notes(db: Database) -> None:
    """A note on a customer, written by a manager in the Mini App's card: kept apart from the book's names, since a
    customer may have a note before anyone knows their name."""
    _script(
        db,
        """
        CREATE TABLE customer_notes (
            number TEXT PRIMARY KEY,  -- international digits, as the archive and the book write them
            note TEXT NOT NULL CHECK (length(trim(note)) > 0 AND length(note) <= 500),
            updated_by INTEGER,
            updated_at INTEGER NOT NULL
        ) STRICT, WITHOUT ROWID;
        """,
    )
