"""``user/*``: the profile of the member the API keys belong to."""

from __future__ import annotations

from newtel._models import NewtelModel
from newtel._transport import Answer, Transport


class UserProfile(NewtelModel):
    name: str
    email: str | None = None
    internal_number: str | None = None
    personal_number: str | None = None
    time_zone: str | None = None


class _Profile(NewtelModel):
    profile_details: UserProfile


_PROFILE = Answer.model("user/get-profile-details", _Profile)


class UserMethods:
    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def get_profile_details(self) -> UserProfile:
        return (await self._transport.request(_PROFILE, read_only=True)).profile_details
