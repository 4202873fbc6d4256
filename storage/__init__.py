"""SQLite storage for the bot (sqlite-utils): numbered migrations and one small repository per concern.

storage = Storage.open("bot.db")
storage.users.is_allowed(telegram_id)
"""

import sys

# sqlite-utils imports numpy (and pandas), when installed, only to map their types to SQLite's; the bot never hands
# it either. numpy is installed for the charts, and imported on the first one: until then it would cost the bot
# process ~18 MB for nothing. So sqlite-utils is imported with numpy masked, and the mask is lifted at once.
if "numpy" not in sys.modules:
    sys.modules["numpy"] = None  # type: ignore[assignment]
    try:
        import sqlite_utils  # noqa: F401
    finally:
        del sys.modules["numpy"]

from storage._db import DatabaseBusy
from storage.access_requests import AccessRequest, RequestStatus
from storage.alerts import (
    Alert,
    AlertState,
    Attempt,
    CallbackOutcome,
    CloseReason,
    MissedCall,
    RecordOutcome,
    RecordResult,
)
from storage.audit import AuditEntry
from storage.calls import CallChange, CallRecord, CustomerSummary, JournalEntry, JournalPage
from storage.cards import Card
from storage.chats import Chat
from storage.contacts import Contact, ImportResult
from storage.migrations import SchemaTooNew, latest_version, migrate
from storage.phones import Observed, Phone
from storage.recordings import RecordPost
from storage.storage import Storage
from storage.users import CompanyMember, Language, Role, User, UserStatus

__all__ = [
    "AccessRequest",
    "Alert",
    "AlertState",
    "Attempt",
    "AuditEntry",
    "CallChange",
    "CallRecord",
    "CallbackOutcome",
    "Card",
    "Chat",
    "CloseReason",
    "CompanyMember",
    "Contact",
    "CustomerSummary",
    "DatabaseBusy",
    "ImportResult",
    "JournalEntry",
    "JournalPage",
    "Language",
    "MissedCall",
    "Observed",
    "Phone",
    "RecordOutcome",
    "RecordPost",
    "RecordResult",
    "RequestStatus",
    "Role",
    "SchemaTooNew",
    "Storage",
    "User",
    "UserStatus",
    "latest_version",
    "migrate",
]
