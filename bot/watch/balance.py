"""The balance watch: one alert per change (below the threshold, back above it, account status), not
one per poll, to the admins and to chats subscribed with ``/subscribe balance``."""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import asdict, dataclass
from decimal import Decimal

from telegram import Bot
from telegram.error import Forbidden, TelegramError

from bot.formatting import money
from bot.services import Services
from bot.texts import Html, Texts
from newtel import CompanyState
from storage import Storage

log = logging.getLogger(__name__)

# Hysteresis: once low, the balance counts as recovered only above threshold × 1.1. Spending moves it down
# in small steps and a top-up moves it up in a big one, so a real recovery clears the margin at once, while a
# balance wobbling around the threshold (499, 501, 499…) stays one "low" alert instead of one per wobble.
# Relative rather than a fixed sum, so it suits any threshold and currency.
RECOVERY_MARGIN = Decimal("1.1")


@dataclass(frozen=True)
class Condition:
    status: str
    low: bool

    @property
    def healthy(self) -> bool:
        return self.status == "active" and not self.low


def condition(state: CompanyState, threshold: Decimal, last: Condition) -> Condition:
    """The account's condition now, given the one last announced (for the recovery margin)."""
    limit = threshold * RECOVERY_MARGIN if last.low else threshold
    low = state.balance is not None and state.balance < limit
    return Condition(state.status, low)


class Announced:
    """The condition last announced to each recipient, kept in storage across restarts. Memory holds it too, for
    when storage cannot be written: otherwise the same change would be announced again every poll meanwhile."""

    def __init__(self, storage: Storage) -> None:
        self._kv, self._db = storage.kv, storage.db
        self._unrecorded: dict[int, Condition] = {}  # announced, not yet in storage

    def get(self, chat_id: int) -> Condition:
        if chat_id in self._unrecorded:
            return self._unrecorded[chat_id]
        return Condition(**self._kv.get(self._key(chat_id), {"status": "active", "low": False}))

    def set(self, chat_id: int, announced: Condition) -> None:
        self._unrecorded[chat_id] = announced
        self.flush()

    def flush(self) -> None:
        """Write what memory holds; while storage cannot take it, it stays in memory for a later poll."""
        try:
            for chat_id, announced in list(self._unrecorded.items()):
                self._kv.set(self._key(chat_id), asdict(announced), now=int(time.time()))
                del self._unrecorded[chat_id]
        except sqlite3.OperationalError as error:
            log.warning("Balance alerts announced but not recorded yet (%s); kept in memory", error)

    @staticmethod
    def _key(chat_id: int) -> str:
        return f"balance.notified:{chat_id}"


class BalanceWatch:
    def __init__(self, svc: Services) -> None:
        self._svc = svc
        self._announced = Announced(svc.storage)

    def recipients(self) -> list[tuple[int, str | None]]:
        """(chat id, language) of every admin and every chat that asked for balance alerts."""
        storage = self._svc.storage
        people: list[tuple[int, str | None]] = [
            (u.telegram_id, u.language) for u in storage.users.list(active_only=True) if u.is_admin
        ]
        chats = [(c.chat_id, c.language) for c in storage.chats.subscribed() if c.balance_alerts]
        return people + chats

    async def check(self, bot: Bot) -> None:
        state = await self._svc.background.company.get_state()
        self._announced.flush()
        for chat_id, language in self.recipients():
            last = self._announced.get(chat_id)
            now_condition = condition(state, self._svc.settings.low_balance_threshold, last)
            if now_condition == last:
                continue
            texts = Texts(language or self._svc.settings.bot_language)
            try:
                await bot.send_message(chat_id, self.describe(last, now_condition, state, texts))
            except Forbidden as error:  # blocked the bot or removed it: asking every poll would not help
                log.info("Balance alert to %s refused for good (%s)", chat_id, error)
            except TelegramError as error:
                log.warning("Balance alert to %s not delivered yet (%s); will retry", chat_id, error)
                continue  # the announced condition is unchanged, so the next poll tries again
            self._announced.set(chat_id, now_condition)

    def describe(self, last: Condition, now: Condition, state: CompanyState, texts: Texts) -> Html:
        balance = money(state.balance, state.currency, texts.lang)
        lines = []
        if now.status != last.status:
            if now.status == "active":
                lines.append(texts("balance_status_ok", balance=balance))
            else:
                lines.append(texts("balance_status", status=texts.account_status(now.status), balance=balance))
        if now.low != last.low:
            threshold = money(self._svc.settings.low_balance_threshold, state.currency, texts.lang)
            lines.append(
                texts("balance_low", balance=balance, threshold=threshold)
                if now.low
                else texts("balance_ok", balance=balance)
            )
        return Html("\n".join(lines))
