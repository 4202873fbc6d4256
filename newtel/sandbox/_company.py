"""The demo company: profile, members, numbers, account state and a 24-hour call history.

Everything is drawn from one ``random.Random(seed)``, so a seed always gives the same company (times are
relative to the moment it is generated).
"""

from __future__ import annotations

import bisect
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any

from ._calls import DAY, Call, Direction

STATUSES = ("active", "blocked", "testing", "suspended")
CURRENCIES = ("RUB", "EUR", "USD")


@dataclass(slots=True)
class Member:
    id: int
    name: str
    email: str
    internal_number: str | None
    personal_number: str | None
    time_zone: str

    def numbers(self) -> tuple[str, ...]:
        return tuple(n for n in (self.internal_number, self.personal_number) if n)


@dataclass(slots=True)
class Profile:
    id: int
    company_name: str
    registered_by: str | None
    registered_on: int
    agreement_number: str | None
    agreement_date: str | None


@dataclass(slots=True)
class State:
    balance: float | None
    credit: float | None
    currency: str
    day_traffic_cost: float
    month_traffic_cost: float
    status: str

    def update(self, **changes: Any) -> None:
        for name, value in changes.items():
            if name not in {f.name for f in fields(self)}:
                raise TypeError(f"unknown state field: {name}")
            if name == "status" and value not in STATUSES:
                raise ValueError(f"status must be one of {STATUSES}, not {value!r}")
            if name == "currency" and value not in CURRENCIES:
                raise ValueError(f"currency must be one of {CURRENCIES}, not {value!r}")
            setattr(self, name, value)


class Company:
    """The company's data and its calls, kept sorted by start time."""

    def __init__(
        self,
        *,
        profile: Profile,
        state: State,
        members: list[Member],
        external_numbers: list[str],
        virtual_numbers: list[str],
        registered_numbers: list[str],
        rng: random.Random,
    ) -> None:
        self.profile = profile
        self.state = state
        self.members = members
        self.external_numbers = external_numbers
        self.virtual_numbers = virtual_numbers
        self.registered_numbers = registered_numbers
        self.rng = rng
        self.calls: list[Call] = []
        self.observers: list[Callable[[Call], None]] = []  # told of every call ``add`` stores
        self._by_vpbx_id: dict[str, Call] = {}
        self._by_call_id: dict[str, Call] = {}

    # --- members and numbers -------------------------------------------------------------------------
    @property
    def internal_numbers(self) -> list[str]:
        return [m.internal_number for m in self.members if m.internal_number]

    def member_by_name(self, name: str) -> Member | None:
        return next((m for m in self.members if m.name == name), None)

    def member_by_number(self, number: str) -> Member | None:
        return next((m for m in self.members if number in m.numbers()), None)

    def set_registered(self, number: str, registered: bool) -> None:
        """A desk phone goes offline or comes back; the list keeps the members' order either way."""
        order = self.internal_numbers
        if number not in order:
            raise ValueError(f"{number!r} is not a member's internal number")
        if registered == (number in self.registered_numbers):
            return
        if not registered:
            self.registered_numbers.remove(number)
            return
        rank = order.index(number)
        later = (i for i, n in enumerate(self.registered_numbers) if n in order and order.index(n) > rank)
        self.registered_numbers.insert(next(later, len(self.registered_numbers)), number)

    # --- calls ---------------------------------------------------------------------------------------
    def new_vpbx_id(self) -> str:
        return f"{self.rng.getrandbits(160):040x}"

    def new_call_id(self) -> str:
        return str(self.rng.randrange(10**15, 10**16))

    def add(self, call: Call) -> Call:
        bisect.insort(self.calls, call, key=lambda c: c.start)
        self._by_vpbx_id[call.vpbx_id] = call
        if call.call_id:
            self._by_call_id[call.call_id] = call
        for observe in self.observers:
            observe(call)
        return call

    def __contains__(self, call: object) -> bool:
        """Whether this very call is stored (``clear_calls`` forgets them all)."""
        return isinstance(call, Call) and self._by_vpbx_id.get(call.vpbx_id) is call

    def clear_calls(self) -> None:
        """Forget every call (e.g. for a test that wants only its own)."""
        self.calls.clear()
        self._by_vpbx_id.clear()
        self._by_call_id.clear()

    def extend_sorted(self, calls: Iterable[Call]) -> None:
        """Bulk load calls already sorted by start and later than every stored call (fast path)."""
        for call in calls:
            self.calls.append(call)
            self._by_vpbx_id[call.vpbx_id] = call

    def calls_within_day(self, now: float) -> list[Call]:
        """Calls the PBX cache still holds: started during the last 24 hours (and not in the future)."""
        first = bisect.bisect_left(self.calls, now - DAY, key=lambda c: c.start)
        last = bisect.bisect_right(self.calls, now, key=lambda c: c.start)
        return self.calls[first:last]

    @staticmethod
    def _visible(call: Call | None, now: float) -> Call | None:
        return call if call is not None and now - DAY <= call.start <= now else None

    def find(self, vpbx_id: str, now: float) -> Call | None:
        return self._visible(self._by_vpbx_id.get(vpbx_id), now)

    def find_by_call_id(self, call_id: str, now: float) -> Call | None:
        return self._visible(self._by_call_id.get(call_id), now)

    def active_calls(self, now: float) -> list[Call]:
        return [c for c in self.calls_within_day(now) if c.active(now)]

    def ringing_numbers(self, now: float) -> list[str]:
        return self._numbers(c.ringing_now(now) for c in self.active_calls(now))

    def active_numbers(self, now: float) -> list[str]:
        return self._numbers(c.talking_now(now) for c in self.active_calls(now))

    def _numbers(self, groups: Iterable[tuple[str, ...]]) -> list[str]:
        internal = set(self.internal_numbers)
        found = {n for group in groups for n in group if n in internal}
        return sorted(found)

    def start_simple_call(
        self,
        now: float,
        *,
        caller_id: str,
        dst_number: str,
        src_numbers: list[str],
        answered: bool,
        ring_seconds: float,
        talk_seconds: float,
        timeout: int,
    ) -> Call:
        """call/start-simple-call: ring the source first, then the destination; an outbound call in the PBX."""
        members = [self.member_by_number(n) for n in src_numbers]
        ringing = tuple(m.internal_number for m in members if m and m.internal_number)
        first = members[0]
        internal_clid = first.internal_number if first and first.internal_number else src_numbers[0]
        connect = now + ring_seconds  # the manager picks up, then the destination rings
        answer = connect + ring_seconds if answered else None
        end = answer + talk_seconds if answer is not None else connect + ring_seconds
        call = Call(
            vpbx_id=self.new_vpbx_id(),
            direction="out",
            clid=caller_id,
            dnid=dst_number,
            start=now,
            answer=answer,
            end=end,
            internal_clid=internal_clid,
            ringing_numbers=ringing,
            connect=connect,
            call_id=self.new_call_id(),
            extra={"timeout": timeout, "srcNumber": ",".join(src_numbers)},
        )
        return self.add(call)

    def add_random_inbound(self, now: float, rng: random.Random) -> Call:
        """A customer calls now: the sales group rings, and someone answers (or nobody does)."""
        customer = f"79{rng.randrange(10**9):09d}"
        group = tuple(self.registered_numbers[:3]) or tuple(self.internal_numbers[:1])
        ring = rng.uniform(4, 20)
        answered_numbers: tuple[str, ...]
        if rng.random() < 0.3 or not group:
            answer, answered_numbers, end = None, (), now + ring
        else:
            answer = now + ring
            answered_numbers = (rng.choice(group),)
            end = answer + rng.uniform(20, 180)
        return self.add(
            Call(
                vpbx_id=self.new_vpbx_id(),
                direction="in",
                clid=customer,
                dnid=rng.choice(self.external_numbers),
                start=now,
                answer=answer,
                end=end,
                answered_numbers=answered_numbers,
                ringing_numbers=group,
                connect=answer,
            )
        )

    def add_short_ring(self, now: float, rng: random.Random) -> Call:
        """A customer hangs up after ringing the sales group for 1–2 s: over before a live watch looks twice."""
        group = tuple(self.registered_numbers[:3]) or tuple(self.internal_numbers[:1])
        return self.add(
            Call(
                vpbx_id=self.new_vpbx_id(),
                direction="in",
                clid=f"79{rng.randrange(10**9):09d}",
                dnid=rng.choice(self.external_numbers),
                start=now,
                answer=None,
                end=now + rng.uniform(1, 2),
                ringing_numbers=group,
            )
        )

    def add_random_transfer(self, now: float, rng: random.Random) -> Call:
        """A customer is answered by the sales group, then transferred to a colleague who finishes the call."""
        group = tuple(self.registered_numbers[:3]) or tuple(self.internal_numbers[:1])
        first = rng.choice(group)
        colleagues = [n for n in self.registered_numbers if n != first] or [
            n for n in self.internal_numbers if n != first
        ]
        answer = now + rng.uniform(4, 15)
        transfer = answer + rng.uniform(15, 60)
        return self.add(
            Call(
                vpbx_id=self.new_vpbx_id(),
                direction="in",
                clid=f"79{rng.randrange(10**9):09d}",
                dnid=rng.choice(self.external_numbers),
                start=now,
                answer=answer,
                end=transfer + rng.uniform(30, 180),
                answered_numbers=(first, rng.choice(colleagues)) if colleagues else (first,),
                ringing_numbers=group,
                connect=answer,
                transfer=transfer if colleagues else None,
            )
        )

    def add_random_outbound(self, now: float, rng: random.Random) -> Call:
        """A manager calls a customer from a desk phone; most customers pick up."""
        phones = self.registered_numbers or self.internal_numbers
        ring = rng.uniform(5, 20)
        answer = now + ring if rng.random() < 0.7 else None
        return self.add(
            Call(
                vpbx_id=self.new_vpbx_id(),
                direction="out",
                clid=self.external_numbers[0] if rng.random() < 0.7 else rng.choice(self.external_numbers),
                dnid=f"79{rng.randrange(10**9):09d}",
                start=now,
                answer=answer,
                end=answer + rng.uniform(20, 240) if answer is not None else now + ring + rng.uniform(5, 15),
                internal_clid=rng.choice(phones),
                connect=now,
            )
        )


# --- demo data ---------------------------------------------------------------------------------------
_COMPANIES = (
    ("ООО «Северный ветер»", "severveter.ru"),
    ("ООО «Техснаб-Плюс»", "tehsnabplus.ru"),
    ("АО «Волга Логистик»", "volgalogistic.ru"),
    ("ООО «Мебельная фабрика „Уют“»", "mf-uyut.ru"),
    ("ООО «Окна и двери»", "oknadveri.ru"),
    ("ИП Соколов А. В.", "sokolov-service.ru"),
)
_MALE = (
    ("Иванов", "Иван"),
    ("Смирнов", "Алексей"),
    ("Кузнецов", "Дмитрий"),
    ("Попов", "Сергей"),
    ("Волков", "Андрей"),
    ("Морозов", "Михаил"),
    ("Лебедев", "Николай"),
    ("Новиков", "Павел"),
)
_FEMALE = (
    ("Петрова", "Анна"),
    ("Соколова", "Мария"),
    ("Фёдорова", "Екатерина"),
    ("Козлова", "Ольга"),
    ("Васильева", "Татьяна"),
    ("Орлова", "Наталья"),
)
_TRANSLIT = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
        [
            "a",
            "b",
            "v",
            "g",
            "d",
            "e",
            "e",
            "zh",
            "z",
            "i",
            "y",
            "k",
            "l",
            "m",
            "n",
            "o",
            "p",
            "r",
            "s",
            "t",
            "u",
            "f",
            "kh",
            "ts",
            "ch",
            "sh",
            "shch",
            "-",
            "y",
            "-",
            "e",
            "yu",
            "ya",
        ],
        strict=True,
    )
)


def _latin(text: str) -> str:
    return "".join(_TRANSLIT.get(ch, ch) for ch in text.lower()).replace("-", "")


def _digits(rng: random.Random, count: int) -> str:
    return f"{rng.randrange(10**count):0{count}d}"


def generate_company(seed: int = 1, history_size: int = 60, now: float | None = None) -> Company:
    """A believable company with ``history_size`` calls over the 24 hours before ``now``."""
    now = time.time() if now is None else now
    rng = random.Random(seed)
    company_name, domain = rng.choice(_COMPANIES)
    registered_on = int(now) - rng.randrange(200, 1500) * DAY
    profile = Profile(
        id=rng.randrange(5_000, 20_000),
        company_name=company_name,
        registered_by="ООО «Нью-Тел»",
        registered_on=registered_on,
        agreement_number=f"НТ-{rng.randrange(1000, 99999):05d}",
        agreement_date=time.strftime("%d.%m.%Y", time.gmtime(registered_on)),
    )
    people = rng.sample(_MALE, 3) + rng.sample(_FEMALE, 3)
    rng.shuffle(people)
    members: list[Member] = []
    member_id = rng.randrange(9_000, 12_000)
    without_mobile = rng.randrange(1, 6)  # never the key owner
    for index, (surname, first_name) in enumerate(people):
        member_id += rng.randrange(1, 400)
        members.append(
            Member(
                id=member_id,
                name=f"{surname} {first_name}",
                email=f"{_latin(first_name)[0]}.{_latin(surname)}@{domain}",
                internal_number=str(100 + index),
                personal_number=None if index == without_mobile else f"79{_digits(rng, 9)}",
                time_zone="Asia/Yekaterinburg" if index == 4 else "Europe/Moscow",
            )
        )
    external = [f"7495{_digits(rng, 7)}", f"7800{_digits(rng, 7)}", f"7812{_digits(rng, 7)}"]
    internal = [m.internal_number for m in members if m.internal_number]
    company = Company(
        profile=profile,
        state=State(
            balance=12_345.67,
            credit=0,
            currency="RUB",
            day_traffic_cost=0,
            month_traffic_cost=0,
            status="active",
        ),
        members=members,
        external_numbers=external,
        virtual_numbers=[],
        registered_numbers=internal[:-1],  # the last member's desk phone is switched off
        rng=rng,
    )
    company.extend_sorted(_history(company, rng, now, history_size))
    talk = sum((c.end or now) - c.answer for c in company.calls if c.direction == "out" and c.answer)
    company.state.day_traffic_cost = round(talk / 60 * 1.2, 2)  # ~1.20 RUB a minute outbound
    company.state.month_traffic_cost = round(company.state.day_traffic_cost * 21 + rng.uniform(100, 900), 2)
    return company


def _history(company: Company, rng: random.Random, now: float, size: int) -> list[Call]:
    """``size`` calls over the last 24 hours, oldest first; the last few are still going on."""
    internal = company.internal_numbers
    group = tuple(company.registered_numbers[:3])  # the sales line rings these phones
    external = company.external_numbers
    customers = [f"79{_digits(rng, 9)}" for _ in range(max(10, min(size // 3, 500)))]
    active = min(3, size // 20)
    finished = size - active
    # Finished calls start between 24 h and 10 min ago, the ongoing ones within the last few minutes.
    starts = sorted(rng.uniform(now - DAY + 600, now - 600) for _ in range(finished))
    calls: list[Call] = []
    rand, choice, uniform = rng.random, rng.choice, rng.uniform
    for start in starts:
        start = float(int(start))
        ring = float(int(uniform(3, 25)))
        talk = float(int(rng.expovariate(1 / 150))) + 10
        if rand() < 0.6:  # inbound
            answered = rand() < 0.8
            answer = start + ring if answered else None
            if answered:
                first = choice(group)
                numbers: tuple[str, ...] = (first,)
                if rand() < 0.1:  # transferred to a colleague
                    numbers = (first, choice([n for n in internal if n != first]))
            else:
                numbers = ()
            calls.append(
                Call(
                    vpbx_id=f"{rng.getrandbits(160):040x}",
                    direction="in",
                    clid=choice(customers),
                    dnid=external[0] if rand() < 0.6 else choice(external),
                    start=start,
                    answer=answer,
                    end=(answer + talk) if answer is not None else start + ring + 15,
                    answered_numbers=numbers,
                    ringing_numbers=group,
                    connect=answer,
                )
            )
        else:  # outbound, placed from a desk phone
            answered = rand() < 0.7
            answer = start + ring if answered else None
            calls.append(
                Call(
                    vpbx_id=f"{rng.getrandbits(160):040x}",
                    direction="out",
                    clid=external[0] if rand() < 0.7 else choice(external),
                    dnid=choice(customers),
                    start=start,
                    answer=answer,
                    end=(answer + talk) if answer is not None else start + ring + 20,
                    internal_clid=choice(internal),
                    connect=start,
                )
            )
    calls.extend(_ongoing(rng, now, active, group, internal, external, customers))
    return calls


def _ongoing(
    rng: random.Random,
    now: float,
    count: int,
    group: tuple[str, ...],
    internal: list[str],
    external: list[str],
    customers: list[str],
) -> list[Call]:
    """Up to three calls in progress: a customer talking, a manager's outbound call, one still ringing."""
    plans: list[tuple[Direction, float, float | None, float]] = [
        ("in", now - 140, now - 131, now + rng.uniform(300, 900)),
        ("out", now - 70, now - 62, now + rng.uniform(300, 900)),
        ("in", now - 6, now + 14, now + 14 + rng.uniform(120, 300)),
    ]
    calls = []
    for direction, start, answer, end in plans[:count]:
        answerer = rng.choice(group) if group else internal[0]
        calls.append(
            Call(
                vpbx_id=f"{rng.getrandbits(160):040x}",
                direction=direction,
                clid=rng.choice(customers) if direction == "in" else external[0],
                dnid=external[0] if direction == "in" else rng.choice(customers),
                start=float(int(start)),
                answer=answer,
                end=end,
                answered_numbers=(answerer,) if direction == "in" else (),
                internal_clid=None if direction == "in" else rng.choice(internal),
                ringing_numbers=group if direction == "in" else (),
                connect=answer if direction == "in" else start,
            )
        )
    calls.sort(key=lambda c: c.start)
    return calls
