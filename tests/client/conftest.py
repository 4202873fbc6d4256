from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from newtel import NewtelClient
from newtel.sandbox import Sandbox


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(ring_seconds=0.05, talk_seconds=0.1) as sb:
        yield sb


@pytest.fixture
async def client(sandbox: Sandbox) -> AsyncIterator[NewtelClient]:
    async with NewtelClient(
        sandbox.access_key, sandbox.signing_key, sandbox.url, timeout=2, retry_backoff=0.01, link_hosts=(sandbox.url,)
    ) as client:
        yield client
