"""``NewtelClient.download``: a file New-Tel links to (a call's recording), over loopback from the sandbox; and where
such a link may lead (``link_hosts``), for the link itself and for every redirect on the way."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web

import newtel
from newtel import NewtelClient
from newtel._links import DEFAULT_LINK_HOSTS, LinkRule
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


async def test_a_dead_file_server_is_a_network_error(sandbox: Sandbox, unused_tcp_port: int) -> None:
    dead = f"http://127.0.0.1:{unused_tcp_port}"
    async with NewtelClient(sandbox.access_key, sandbox.signing_key, sandbox.url, link_hosts=(dead,)) as client:
        with pytest.raises(newtel.NetworkError) as raised:
            await client.download(f"{dead}/records/x.wav", max_bytes=1_000)
    assert "127.0.0.1" not in str(raised.value)


# --- where a link may lead ---------------------------------------------------------------------------------------
NEW_TEL = LinkRule(DEFAULT_LINK_HOSTS, "https://api.new-tel.net")


@pytest.mark.parametrize(
    "link",
    [
        "https://web.new-tel.net/public/audio/rec123456789.mp3",  # as the document shows one
        "https://WEB.new-tel.net:443/public/audio/rec1.mp3?sig=abc",
        "https://api.new-tel.net/records/1.wav",
        r"https://web.new-tel.net\@evil.example/",  # a URL parser reads the backslash as a slash: New-Tel's path
    ],
)
def test_new_tels_own_https_links_are_followed(link: str) -> None:
    assert NEW_TEL.link(link, "m").host in ("web.new-tel.net", "api.new-tel.net")


@pytest.mark.parametrize(
    "link",
    [
        "/proc/self/environ",
        "pyproject.toml",
        "file:///etc/passwd",
        "ftp://web.new-tel.net/rec.mp3",
        "javascript:alert(1)",
        "",
        "http://web.new-tel.net/public/audio/rec1.mp3",  # plain http, even to New-Tel
        "https://web.new-tel.net:8443/public/audio/rec1.mp3",
        "https://web.new-tel.net.evil.example/rec1.mp3",
        "https://web.new-tel.net@evil.example/rec1.mp3",
        "https://evil.example/?https://web.new-tel.net/",
        "https://new-tel.net/rec1.mp3",
        "http://127.0.0.1:8080/records/1.wav",
        "http://169.254.169.254/latest/meta-data/",
    ],
)
def test_any_other_link_is_refused_and_the_error_does_not_say_it(link: str) -> None:
    with pytest.raises(newtel.LinkRefused) as raised:
        NEW_TEL.link(link, "vpbx/get-call-record-link")
    assert isinstance(raised.value, newtel.RecordNotFound)  # to a person: there is no recording
    assert (link or "\0") not in str(raised.value)


def admits(rule: LinkRule, link: str) -> bool:
    try:
        rule.link(link, "m")
    except newtel.LinkRefused:
        return False
    return True


def test_plain_http_only_to_an_origin_named_whole_and_the_apis_own_https_origin_is_new_tels() -> None:
    sandbox = "http://127.0.0.1:8080"
    assert not admits(LinkRule(DEFAULT_LINK_HOSTS, sandbox), f"{sandbox}/records/1.wav")
    named = LinkRule((sandbox,), sandbox)
    assert admits(named, f"{sandbox}/records/1.wav")
    assert not admits(named, "http://127.0.0.1:8081/records/1.wav")
    assert not admits(named, "https://web.new-tel.net/rec.mp3")  # the hosts given replace the default
    assert admits(LinkRule((), "https://api.example.com:8443/v1"), "https://api.example.com:8443/rec.mp3")


@pytest.mark.parametrize("entry", ["", "ftp://web.new-tel.net", "https://web.new-tel.net/public", "u@web.new-tel.net"])
def test_a_host_that_is_not_one_is_a_configuration_error(entry: str) -> None:
    assert not newtel.is_link_host(entry)
    with pytest.raises(newtel.ConfigurationError):
        NewtelClient("0" * 48, "0" * 48, link_hosts=(entry,))


@pytest.mark.parametrize(
    ("setting", "hosts"),
    [
        ("web.new-tel.net", ("web.new-tel.net",)),
        (
            " web.new-tel.net, records.example:8443,,http://127.0.0.1:8080,",
            ("web.new-tel.net", "records.example:8443", "http://127.0.0.1:8080"),
        ),
        (" , ", ()),
    ],
)
def test_a_settings_hosts_are_read_by_commas_for_the_bot_and_the_command_line_alike(
    setting: str, hosts: tuple[str, ...]
) -> None:
    assert newtel.parse_link_hosts(setting) == hosts


@dataclass
class FileServer:
    """A file server that redirects: /hop to /file on itself, /away to ``elsewhere``, /scheme to a local file."""

    url: str
    hits: list[str] = field(default_factory=list)


async def serve(port: int, elsewhere: str) -> tuple[FileServer, web.AppRunner]:
    server = FileServer(f"http://127.0.0.1:{port}")
    targets = {"/hop": "/file", "/away": elsewhere, "/scheme": "file:///etc/passwd", "/loop": "/loop"}

    async def handle(request: web.Request) -> web.Response:
        server.hits.append(request.path)
        if request.path in targets:
            raise web.HTTPFound(targets[request.path])
        return web.Response(body=b"RIFF-file")

    app = web.Application()
    app.router.add_get("/{path:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return server, runner


@pytest.fixture
async def servers(unused_tcp_port_factory: Callable[[], int]) -> AsyncIterator[tuple[FileServer, FileServer]]:
    inside, elsewhere = unused_tcp_port_factory(), unused_tcp_port_factory()
    other, other_runner = await serve(elsewhere, "/file")
    files, files_runner = await serve(inside, f"{other.url}/secret")
    yield files, other
    await files_runner.cleanup()
    await other_runner.cleanup()


async def test_redirects_are_followed_only_within_the_hosts_links_may_lead_to(
    sandbox: Sandbox, servers: tuple[FileServer, FileServer]
) -> None:
    files, elsewhere = servers
    async with NewtelClient(sandbox.access_key, sandbox.signing_key, sandbox.url, link_hosts=(files.url,)) as client:
        assert await client.download(f"{files.url}/hop", max_bytes=1_000) == b"RIFF-file"
        for hop in ("/away", "/scheme"):
            with pytest.raises(newtel.LinkRefused) as raised:
                await client.download(f"{files.url}{hop}", max_bytes=1_000)
            assert elsewhere.url.removeprefix("http://") not in str(raised.value)
        with pytest.raises(newtel.NetworkError):
            await client.download(f"{files.url}/loop", max_bytes=1_000)
        with pytest.raises(newtel.LinkRefused):  # not even the first hop
            await client.download(f"{elsewhere.url}/file", max_bytes=1_000)
    assert elsewhere.hits == []  # never connected to
    assert files.hits[:4] == ["/hop", "/file", "/away", "/scheme"]


async def test_a_signed_link_off_new_tels_hosts_is_refused_as_no_recording(
    sandbox: Sandbox, client: NewtelClient
) -> None:
    call = sandbox.add_call(status="answered")
    for link in ("/proc/self/environ", "file:///etc/passwd", "http://127.0.0.1:9/secret"):
        sandbox.faults.record_link = link
        with pytest.raises(newtel.LinkRefused) as raised:
            await client.vpbx.get_call_record_link(call.vpbx_id)
        assert link not in str(raised.value)
