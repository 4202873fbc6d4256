"""Settings read from the environment as an operator writes them, and a bad one said in one line without its value
mattering (``describe_errors``)."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from bot.config import Settings, describe_errors

KEYS = {"telegram_bot_token": "1:" + "x" * 30, "newtel_access_key": "a" * 48, "newtel_signing_key": "b" * 48}


def test_recording_hosts_are_new_tels_by_default_and_read_by_commas(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    assert Settings(**KEYS).newtel_recording_hosts == ("web.new-tel.net", "api.new-tel.net")
    monkeypatch.setenv("NEWTEL_RECORDING_HOSTS", "web.new-tel.net, records.example:8443,http://127.0.0.1:8080,")
    assert Settings(**KEYS).newtel_recording_hosts == (
        "web.new-tel.net",
        "records.example:8443",
        "http://127.0.0.1:8080",
    )


@pytest.mark.parametrize("hosts", ["web.new-tel.net,file:///etc", "https://web.new-tel.net/public", "ftp://x"])
def test_a_recording_host_that_is_not_one_stops_the_bot_with_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, hosts: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEWTEL_RECORDING_HOSTS", hosts)
    with pytest.raises(pydantic.ValidationError) as raised:
        Settings(**KEYS)
    assert describe_errors(raised.value) == (
        "Invalid settings (environment or .env):\n"
        "  NEWTEL_RECORDING_HOSTS must be host names (web.new-tel.net), host:port or http(s)://host[:port], by commas"
    )
