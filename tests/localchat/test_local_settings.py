"""The one builder of the bot's settings for local runs takes them from the code only."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.config import Settings
from localchat.settings import local_settings


class Endpoint:
    url = "http://127.0.0.1:9"
    access_key = "a" * 48
    signing_key = "b" * 48


def test_the_developers_shell_and_env_file_do_not_leak_in(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LOW_BALANCE_THRESHOLD", "9999")
    monkeypatch.setenv("ADMIN_IDS", "42")
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("POLL_INTERVAL=1\nTELEGRAM_BOT_TOKEN=1:" + "x" * 30 + "\n")
    settings = local_settings(Endpoint(), Endpoint(), tmp_path / "bot.db", bot_language="en")
    assert settings.low_balance_threshold == Decimal("500")
    assert settings.admin_ids == () and settings.poll_interval == Settings.model_fields["poll_interval"].default
    assert settings.bot_language == "en" and settings.telegram_api_url == "http://127.0.0.1:9"


def test_the_sandboxs_recordings_over_plain_http_are_allowed_by_name(tmp_path: Path) -> None:
    local = local_settings(Endpoint(), Endpoint(), tmp_path / "bot.db")
    assert local.newtel_recording_hosts == ("http://127.0.0.1:9",)
