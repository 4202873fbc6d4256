"""A New-Tel API sandbox: an aiohttp server that speaks the provider's documented HTTP API.

It authenticates and signs exactly as the document says, serves all 31 methods over a demo company with a
24-hour call history, lets calls started through the API progress in time, can inject faults, push call and
registration events to a URL (``push_url``) and count the bytes it serves (``traffic``).
It shares no code with the client except the signing formula (``newtel._signing``), so client-vs-sandbox
tests check two independent readings of the document against each other.

    async with Sandbox() as sb:
        ...  # sb.url, sb.access_key, sb.signing_key

Command line: ``python -m newtel.sandbox --port 8080`` (``--help`` lists the options: the company's
background activity, pushing events to a URL).
"""

from ._app import RecordedRequest, Traffic, make_app
from ._calls import Call
from ._company import Company, Member, Profile, State, generate_company
from ._faults import Fault, Faults
from ._methods import METHODS
from ._sandbox import Sandbox

__all__ = [
    "METHODS",
    "Call",
    "Company",
    "Fault",
    "Faults",
    "Member",
    "Profile",
    "RecordedRequest",
    "Sandbox",
    "State",
    "Traffic",
    "generate_company",
    "make_app",
]
