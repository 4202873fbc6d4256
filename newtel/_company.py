"""``company/*``: the subscriber company's state, profile, members and numbers."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import AliasChoices, Field

from newtel import _validation as check
from newtel._models import TEXTS, NewtelModel
from newtel._transport import Answer, Transport


class CompanyState(NewtelModel):
    balance: Decimal | None = None
    credit: Decimal | None = None
    currency: str
    day_traffic_cost: Decimal | None = None
    month_traffic_cost: Decimal | None = None
    status: str  # "active", "blocked", "testing" or "suspended"

    @property
    def is_blocked(self) -> bool:
        return self.status == "blocked"


class CompanyProfile(NewtelModel):
    id: int
    company_name: str
    registered_by: str | None = None
    registered_on: datetime | None = None
    agreement_number: str | None = None
    agreement_date: str | None = None


class Member(NewtelModel):
    # The document's tables capitalize Id/Name/Email while its examples do not: accept both.
    id: int = Field(validation_alias=AliasChoices("Id", "id"))
    name: str = Field(validation_alias=AliasChoices("Name", "name"))
    email: str | None = Field(default=None, validation_alias=AliasChoices("Email", "email"))
    internal_number: str | None = None
    personal_number: str | None = None
    time_zone: str | None = None


class CompanyNumbers(NewtelModel):
    external: list[str] = []
    internal: list[str] = []
    virtual: list[str] = []


class _State(NewtelModel):
    state: CompanyState


class _Profile(NewtelModel):
    profile_details: CompanyProfile


class _Members(NewtelModel):
    members: list[Member]


class _MemberDetails(NewtelModel):
    member_details: Member


class _Numbers(NewtelModel):
    numbers: CompanyNumbers


# Each method's answer, parsed straight from the bytes where it is a model.
_STATE = Answer.model("company/get-state", _State)
_PROFILE = Answer.model("company/get-profile-details", _Profile)
_MEMBERS = Answer.model("company/get-members", _Members)
_MEMBERS_LIST = Answer.field("company/get-members-list", "membersList", TEXTS)
_MEMBER_DETAILS = Answer.model("company/get-member-details", _MemberDetails)
_NUMBERS = Answer.model("company/get-numbers", _Numbers)


class CompanyMethods:
    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def get_state(self) -> CompanyState:
        """Balance, credit, spend and account status; the one method that answers while blocked."""
        return (await self._transport.request(_STATE, read_only=True)).state

    async def get_profile_details(self) -> CompanyProfile:
        return (await self._transport.request(_PROFILE, read_only=True)).profile_details

    async def get_members(self) -> list[Member]:
        return (await self._transport.request(_MEMBERS, read_only=True)).members

    async def get_members_list(self) -> list[str]:
        return await self._transport.request(_MEMBERS_LIST, read_only=True)

    async def get_member_details(self, name: str) -> Member:
        params = {"name": check.member_name(name)}
        return (await self._transport.request(_MEMBER_DETAILS, params, read_only=True)).member_details

    async def get_numbers(self) -> CompanyNumbers:
        return (await self._transport.request(_NUMBERS, read_only=True)).numbers
