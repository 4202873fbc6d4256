"""How numbers, money, times and durations are shown to people."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from newtel.phones import format_for_people

__all__ = ["duration", "elapsed", "format_for_people", "moment", "money", "size"]

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


def elapsed(seconds: float, lang: str) -> str:
    """How long, to the unit that matters: 45 с, 12 мин, 3 ч 05 мин, 2 дн 4 ч (45 s, 12 min, 3 h 05 min, 2 d 4 h).
    Abbreviations: no plural forms to agree with."""
    s, m, h, d = ("с", "мин", "ч", "дн") if lang == "ru" else ("s", "min", "h", "d")
    total = max(0, int(seconds))
    if total < 60:
        return f"{total}\u00a0{s}"
    if total < 3600:
        return f"{total // 60}\u00a0{m}"
    if total < 86_400:
        return f"{total // 3600}\u00a0{h} {total % 3600 // 60:02d}\u00a0{m}"
    return f"{total // 86_400}\u00a0{d} {total % 86_400 // 3600}\u00a0{h}"


def size(count: int, lang: str) -> str:
    """A size in bytes for people: 980 КБ, 12,3 МБ, 1,5 ГБ (980 KB, 12.3 MB, 1.5 GB)."""
    units = ("Б", "КБ", "МБ", "ГБ", "ТБ") if lang == "ru" else ("B", "KB", "MB", "GB", "TB")
    value, unit = float(max(0, count)), 0
    while value >= 1000 and unit < len(units) - 1:
        value, unit = value / 1024, unit + 1
    text = f"{value:.0f}" if unit == 0 or value >= 100 else f"{value:.1f}"
    return f"{text.replace('.', ',') if lang == 'ru' else text}\u00a0{units[unit]}"


def date_text(local: date, today: date) -> str:
    """25.11 in this year, 25.11.2025 in another: a date as every screen writes it."""
    return f"{local:%d.%m}" if local.year == today.year else f"{local:%d.%m.%Y}"


def moment(when: datetime, zone: ZoneInfo, lang: str, now: datetime) -> str:
    """14:32 today, "вчера 14:32" / "yesterday 14:32", else 25.11 14:32 (25.11.2025 14:32 in another year)."""
    local, today = when.astimezone(zone), now.astimezone(zone).date()
    clock = local.strftime("%H:%M")
    if local.date() == today:
        return clock
    if local.date() == today - timedelta(days=1):
        return f"{'вчера' if lang == 'ru' else 'yesterday'} {clock}"
    return f"{date_text(local.date(), today)} {clock}"
