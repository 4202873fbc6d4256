"""An alert message as the chat sees it: pure, so every state can be checked without Telegram."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardMarkup

from bot import keyboards
from bot.formatting import duration, format_for_people, moment
from bot.texts import Html, Texts
from storage import Alert

MESSAGE_LIMIT = 4096  # characters Telegram takes in a message
SUMMARY_INDENT = "    "  # under a summary's numbered line: what belongs to it
ATTEMPTS_SHOWN = 4  # of the call backs nobody answered, the latest this many are named; the count says the rest


def _at(seconds: int | None, zone: ZoneInfo, texts: Texts, now: datetime) -> str:
    if seconds is None:
        return "—"
    return moment(datetime.fromtimestamp(seconds, UTC), zone, texts.lang, now)


def render_alert(
    alert: Alert, texts: Texts, zone: ZoneInfo, now: datetime, story: Html | None = None, app: str | None = None
) -> tuple[Html, InlineKeyboardMarkup | None]:
    """``story``: the caller's story from the archive, a line under the numbers; ``app``: the Mini App's address, which
    its keyboard links to (``keyboards.alert``)."""
    customer = format_for_people(alert.clid)
    lines: list[str] = [
        texts("alert_title") if alert.missed_count == 1 else texts("alert_title_many", count=alert.missed_count),
        texts("alert_from", customer=customer),
        texts("alert_dialled", number=format_for_people(alert.dnid)),
    ]
    if story:
        lines.append(story)
    if alert.missed_count == 1:
        lines.append(texts("alert_when", when=_at(alert.last_at, zone, texts, now), ring=duration(alert.ring_seconds)))
    else:
        lines.append(
            texts(
                "alert_when_many",
                first=_at(alert.first_at, zone, texts, now),
                last=_at(alert.last_at, zone, texts, now),
                ring=duration(alert.ring_seconds),
            )
        )
    under = [
        line
        for line in (
            owner_line(alert, texts, zone, now),
            attempt_line(alert, texts, zone, now),
            status_line(alert, texts, zone, now),
        )
        if line
    ]
    if under:
        lines.append("")
        lines.extend(under)
    return Html("\n".join(lines)), keyboards.alert(alert, texts, app)


def render_summary(
    alerts: Sequence[Alert], texts: Texts, zone: ZoneInfo, now: datetime, stories: Mapping[int, Html] | None = None
) -> tuple[Html, InlineKeyboardMarkup | None]:
    """The business-hours summary: the alerts held outside the hours, each customer once, numbered, with what happened
    to each since under it and the buttons of the open ones by number. ``stories``: alert id -> its caller's story,
    left out when they would make the message longer than Telegram takes."""
    for told in (stories or {}, {}):
        lines: list[str] = [texts("held_summary_title", count=len(alerts))]
        for place, alert in enumerate(alerts, start=1):
            customer = format_for_people(alert.clid)
            if alert.missed_count == 1:
                lines.append(
                    texts(
                        "held_summary_line", place=place, customer=customer, when=_at(alert.last_at, zone, texts, now)
                    )
                )
            else:
                first, last = _at(alert.first_at, zone, texts, now), _at(alert.last_at, zone, texts, now)
                lines.append(
                    texts(
                        "held_summary_line_many",
                        place=place,
                        customer=customer,
                        count=alert.missed_count,
                        first=first,
                        last=last,
                    )
                )
            story = told.get(alert.id)
            lines.extend(SUMMARY_INDENT + line for line in ([story] if story else []) + _under(alert, texts, zone, now))
        if any(alert.state == "open" for alert in alerts):
            lines.extend(["", texts("held_summary_footer")])
        text = "\n".join(lines)
        if len(text) <= MESSAGE_LIMIT:
            break
    return Html(text), keyboards.summary(alerts, texts)


def _under(alert: Alert, texts: Texts, zone: ZoneInfo, now: datetime) -> list[Html]:
    """What became of the alert since: who took it, the call backs nobody answered, where it stands."""
    lines = (
        owner_line(alert, texts, zone, now),
        attempt_line(alert, texts, zone, now),
        status_line(alert, texts, zone, now),
    )
    return [line for line in lines if line]


def owner_line(alert: Alert, texts: Texts, zone: ZoneInfo, now: datetime) -> Html | None:
    """Who took the alert and when ("👤 Взял(а): Попов, 10:42"); kept once it is closed: that is who had it."""
    if alert.owner_name is None:
        return None
    return texts("alert_owner", name=alert.owner_name, when=_at(alert.owned_at, zone, texts, now))


def attempt_line(alert: Alert, texts: Texts, zone: ZoneInfo, now: datetime) -> Html | None:
    """The call backs that reached nobody, written in ("☎️ Попов: клиент не ответил, 10:42"); of many, the count and
    the latest few ("☎️ Не дозвонились (5): …, Попов 10:42, Иванов 11:05, …"). Kept once the alert is closed."""
    if not alert.attempts:
        return None
    if len(alert.attempts) == 1:
        (attempt,) = alert.attempts
        return texts("alert_attempt", name=attempt.name or "—", when=_at(attempt.at, zone, texts, now))
    shown = [
        f"{attempt.name or '—'} {_at(attempt.at, zone, texts, now)}" for attempt in alert.attempts[-ATTEMPTS_SHOWN:]
    ]
    if len(alert.attempts) > ATTEMPTS_SHOWN:
        shown.insert(0, "…")
    return texts("alert_attempts", count=len(alert.attempts), attempts=", ".join(shown))


def status_line(alert: Alert, texts: Texts, zone: ZoneInfo, now: datetime) -> Html | None:
    """Where the alert stands: being called back, closed and how, or a call back that could not start."""
    name = alert.callback_name or "—"
    if alert.state == "calling":
        return texts("alert_calling", name=name)
    if alert.state == "closed":
        if alert.close_reason == "called_back":
            return texts("alert_called_back", name=name, talk=duration(alert.talk_seconds))
        if alert.close_reason == "answered_later":
            return texts("alert_answered_later", when=_at(alert.closed_at, zone, texts, now))
        return texts("alert_done", name=alert.closed_name or "—", when=_at(alert.closed_at, zone, texts, now))
    if alert.callback_outcome == "failed":
        return texts("alert_failed", name=name)
    return None
