"""``NewtelClient.download``: a file New-Tel links to (a call's recording), over loopback from the sandbox."""

from __future__ import annotations

import pytest

import newtel
from newtel import NewtelClient
from newtel.sandbox import Sandbox


async def test_a_recording_is_downloaded_whole_or_not_at_all_past_the_limit(
    sandbox: Sandbox, client: NewtelClient
) -> None:
    call = sandbox.add_call(status="answered")
    link = await client.vpbx.get_call_record_link(call.vpbx_id)
    data = await client.download(link, max_bytes=50 * 2**20)
    assert data is not None and data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert await client.download(link, max_bytes=len(data) - 1) is None  # too big: read no further
    assert await client.download(link, max_bytes=len(data)) == data


async def test_a_missing_file_is_record_not_found_and_the_link_stays_out_of_the_error(
    sandbox: Sandbox, client: NewtelClient
) -> None:
    link = f"{sandbox.url}/records/{'f' * 40}.wav"
    with pytest.raises(newtel.RecordNotFound) as raised:
        await client.download(link, max_bytes=1_000)
    assert "f" * 40 not in str(raised.value)


async def test_a_dead_file_server_is_a_network_error(client: NewtelClient, unused_tcp_port: int) -> None:
    with pytest.raises(newtel.NetworkError) as raised:
        await client.download(f"http://127.0.0.1:{unused_tcp_port}/records/x.wav", max_bytes=1_000)
    assert "127.0.0.1" not in str(raised.value)
