"""How numbers, money, times and durations are shown to people."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from newtel.phones import format_for_people

__all__ = ["duration", "format_for_people", "moment", "money"]

_CURRENCY_SIGNS = {"RUB": "₽", "USD": "$", "EUR": "€"}


def money(amount: Decimal | None, currency: str, lang: str) -> str:
    if amount is None or not amount.is_finite():
        return "—"
    # No account holds 10^18: such a figure is nonsense from the API, shown in scientific notation (quantizing
    # it would overflow Decimal's precision, and printing all its digits could exceed a message).
    text = f"{amount:.3e}" if amount.adjusted() >= 18 else f"{amount.quantize(Decimal('0.01'), ROUND_HALF_UP):,.2f}"
    if lang == "ru":  # 12 345,67 ₽ — a narrow no-break space groups thousands
        text = text.replace(",", "\u202f").replace(".", ",")
        return f"{text}\u00a0{_CURRENCY_SIGNS.get(currency, currency)}"
    return f"{text} {currency}"


def duration(seconds: int | float | None) -> str:
    """2:05, or 1:02:05 past an hour."""
    if seconds is None:
        return "—"
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def moment(when: datetime, zone: ZoneInfo, lang: str, now: datetime) -> str:
    """14:32 today, "вчера 14:32" / "yesterday 14:32", else 25.11 14:32."""
    local, today = when.astimezone(zone), now.astimezone(zone).date()
    clock = local.strftime("%H:%M")
    if local.date() == today:
        return clock
    if local.date() == today - timedelta(days=1):
        return f"{'вчера' if lang == 'ru' else 'yesterday'} {clock}"
    return local.strftime("%d.%m ") + clock
