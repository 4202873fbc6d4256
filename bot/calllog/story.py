"""The caller's story, from the archive: who this customer is to the company, in one line. The one place it is told,
for every place that shows it: under an alert, a ringing card and each ``/calls`` row it is the story at that call
("Иван Петров · 3-й звонок за 7 дн. · последний разговор 28.11: Попов, 4:12 · не перезвонили: 1"), above a customer's
``/calls`` list the story as it stands now ("звонков за 7 дн.: 6 · …").

At a call, the calls before it are counted; a call that was answered returned the misses before it, so its story
has none left unreturned. Until the archive holds New-Tel's day (``Ingest.caught_up``: just started, a downtime not
yet reconciled) the story says nothing of the calls, rather than "new number" for a customer it has not taken in yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.formatting import duration
from bot.services import Services
from bot.texts import Html, Texts, echo
from storage import CustomerSummary

STORY_DAYS = 7  # "3rd call in 7 days"
NAME_LIMIT = 40  # characters of a customer's name in a line (the card shows it whole)


@dataclass(frozen=True)
class Story:
    name: str | None  # from the customer book
    summary: CustomerSummary | None  # None: the archive cannot tell yet
    now: bool = False  # as it stands now ("calls in 7 days: 6"), not at one of their calls ("the 7th call")
    answered: bool = False  # at a call that was answered: it returned the misses before it

    def line(self, texts: Texts, zone: ZoneInfo) -> Html:
        parts: list[str] = [texts("story_name", name=echo(self.name, NAME_LIMIT))] if self.name else []
        if self.summary is not None:
            parts += self._calls(self.summary, texts, zone)
        return Html(" · ".join(parts))

    def _calls(self, summary: CustomerSummary, texts: Texts, zone: ZoneInfo) -> list[str]:
        if summary.is_new:
            return [texts("story_new")]
        parts: list[str]
        if summary.recent and self.now:
            parts = [texts("story_recent", count=summary.recent, days=STORY_DAYS)]
        elif summary.recent:  # this call is the (recent + 1)-th in the days before it
            parts = [texts("story_nth", nth=ordinal(summary.recent + 1, texts.lang), days=STORY_DAYS)]
        else:
            parts = [texts("story_before", count=summary.calls_in + summary.calls_out)]
        talk = summary.last_talk
        if talk is not None:
            day = datetime.fromtimestamp(talk.started_at, UTC).astimezone(zone).strftime("%d.%m")
            if talk.member_name:
                who = echo(talk.member_name, NAME_LIMIT)
                parts.append(texts("story_last_talk_with", day=day, who=who, talk=duration(talk.talk_seconds)))
            else:
                parts.append(texts("story_last_talk", day=day, talk=duration(talk.talk_seconds)))
        if summary.unreturned and not self.answered:
            parts.append(texts("story_unreturned", count=summary.unreturned))
        return parts


def story(svc: Services, number: str, before: int, *, answered: bool = False) -> Story:
    """The customer's story at a call of theirs that began at ``before`` (that call left out); ``answered``: that
    call was answered."""
    return _told(svc, number, before, now=False, answered=answered)


def story_now(svc: Services, number: str, now: int) -> Story:
    """The customer's story as it stands at ``now``: every call of theirs so far."""
    return _told(svc, number, now + 1, now=True, answered=False)


def _told(svc: Services, number: str, before: int, *, now: bool, answered: bool) -> Story:
    storage = svc.storage
    summary = (
        storage.calls.customer(number, since=before - STORY_DAYS * 86_400, before=before)
        if svc.ingest.caught_up
        else None
    )
    return Story(storage.contacts.names([number]).get(number), summary, now=now, answered=answered)


def ordinal(number: int, lang: str) -> str:
    if lang == "ru":
        return f"{number}-й"
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"
