"""The caller's story, from the archive: who this customer is to the company, in one line under an alert or a
call ("Иван Петров · 3-й звонок за 7 дней · последний разговор 28.11 с Поповым, 4:12 · не перезвонили: 1")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.formatting import duration
from bot.texts import Html, Texts, echo
from storage import CustomerSummary, Storage

STORY_DAYS = 7  # "3rd call in 7 days"
NAME_LIMIT = 40  # characters of a customer's name in a line (the card shows it whole)


@dataclass(frozen=True)
class Story:
    name: str | None  # from the customer book
    summary: CustomerSummary

    def line(self, texts: Texts, zone: ZoneInfo) -> Html:
        parts: list[str] = [texts("story_name", name=echo(self.name, NAME_LIMIT))] if self.name else []
        summary = self.summary
        if summary.is_new:
            parts.append(texts("story_new"))
        else:
            if summary.recent:  # this call is the (recent + 1)-th in the days before it
                parts.append(texts("story_nth", nth=ordinal(summary.recent + 1, texts.lang), days=STORY_DAYS))
            else:
                parts.append(texts("story_before", count=summary.calls_in + summary.calls_out))
            talk = summary.last_talk
            if talk is not None:
                day = datetime.fromtimestamp(talk.started_at, UTC).astimezone(zone).strftime("%d.%m")
                if talk.member_name:
                    who = echo(talk.member_name, NAME_LIMIT)
                    parts.append(texts("story_last_talk_with", day=day, who=who, talk=duration(talk.talk_seconds)))
                else:
                    parts.append(texts("story_last_talk", day=day, talk=duration(talk.talk_seconds)))
            if summary.unreturned:
                parts.append(texts("story_unreturned", count=summary.unreturned))
        return Html(" · ".join(parts))


def story(storage: Storage, number: str, before: int) -> Story:
    """The customer's story as it stood when a call of theirs began at ``before`` (that call left out)."""
    summary = storage.calls.customer(number, since=before - STORY_DAYS * 86_400, before=before)
    return Story(storage.contacts.names([number]).get(number), summary)


def ordinal(number: int, lang: str) -> str:
    if lang == "ru":
        return f"{number}-й"
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"
