"""The balance watch: one alert per change (below the threshold, back above it, account status), not
one per poll, to the admins and to chats subscribed with ``/subscribe balance``."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from decimal import Decimal

from telegram import Bot
from telegram.error import Forbidden, TelegramError

from bot.formatting import money
from bot.services import Services
from bot.texts import Html, Texts
from newtel import CompanyState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Condition:
    status: str
    low: bool

    @property
    def healthy(self) -> bool:
        return self.status == "active" and not self.low


def condition(state: CompanyState, threshold: Decimal) -> Condition:
    low = state.balance is not None and state.balance < threshold
    return Condition(state.status, low)


class BalanceWatch:
    def __init__(self, svc: Services) -> None:
        self._svc = svc

    def recipients(self) -> list[tuple[int, str | None]]:
        """(chat id, language) of every admin and every chat that asked for balance alerts."""
        storage = self._svc.storage
        people: list[tuple[int, str | None]] = [
            (u.telegram_id, u.language) for u in storage.users.list(active_only=True) if u.is_admin
        ]
        chats = [(c.chat_id, c.language) for c in storage.chats.subscribed() if c.balance_alerts]
        return people + chats

    async def check(self, bot: Bot) -> None:
        state = await self._svc.newtel.company.get_state()
        now_condition = condition(state, self._svc.settings.low_balance_threshold)
        kv = self._svc.storage.kv
        for chat_id, language in self.recipients():
            key = f"balance.notified:{chat_id}"
            stored = kv.get(key)
            last = Condition(**stored) if stored else Condition("active", False)
            if last == now_condition:
                continue
            texts = Texts(language or self._svc.settings.bot_language)
            try:
                await bot.send_message(chat_id, self.describe(last, now_condition, state, texts))
            except Forbidden as error:  # blocked the bot or removed it: asking every poll would not help
                log.info("Balance alert to %s refused for good (%s)", chat_id, error)
            except TelegramError as error:
                log.warning("Balance alert to %s not delivered yet (%s); will retry", chat_id, error)
                continue  # the stored condition is unchanged, so the next poll tries again
            kv.set(key, asdict(now_condition), now=int(time.time()))

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
