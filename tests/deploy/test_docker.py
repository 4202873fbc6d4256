"""The container files in ``deploy/``, as far as they can be tried without Docker's daemon and registry: the image's
health check run against a listener, its instructions, the build context ``.dockerignore`` leaves and compose.yaml
read by a YAML parser (when one is installed: the bot needs none)."""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, ``(keyword, arguments)`` in order: comments dropped, continued lines joined."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    lines = (line.strip() for line in text.splitlines())
    return [
        (word.upper(), rest.strip())
        for word, _, rest in (line.partition(" ") for line in lines if line and line[0] != "#")
    ]


def only(keyword: str) -> str:
    (found,) = [arguments for word, arguments in instructions() if word == keyword]
    return found


def test_the_image_runs_the_bot_as_a_user_of_its_own_with_the_database_on_the_volume() -> None:
    assert only("FROM") == "python:3.11-slim"
    words = [word for word, _ in instructions()]
    users = [arguments for word, arguments in instructions() if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert words.index("CMD") > words.index("USER")
    assert json.loads(only("CMD")) == ["python", "-m", "bot"]  # the exec form: the bot itself gets SIGTERM
    assert only("VOLUME") == "/data"
    env = dict(
        pair.split("=", 1) for word, arguments in instructions() if word == "ENV" for pair in shlex.split(arguments)
    )
    assert env["DATABASE_PATH"] == "/data/bot.db"


class Monitor:
    """A listener standing in for the bot's monitoring one: its /healthz answers ``status``."""

    def __init__(self) -> None:
        self.status = 200
        self.port = 0

    async def healthz(self, _: web.Request) -> web.Response:
        return web.json_response({}, status=self.status)


@pytest.fixture
async def monitor() -> AsyncIterator[Monitor]:
    monitor = Monitor()
    app = web.Application()
    app.router.add_get("/healthz", monitor.healthz)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    monitor.port = runner.addresses[0][1]
    yield monitor
    await runner.cleanup()


async def health_check(port: int) -> int:
    """The exit status of the image's HEALTHCHECK command, run by this Python against ``port`` instead of 8082."""
    options, _, command = only("HEALTHCHECK").partition("CMD ")
    assert "--timeout=" in options
    argv = json.loads(command)
    assert argv[0] == "python" and "http://127.0.0.1:8082/healthz" in argv[-1]
    argv = [sys.executable, *argv[1:-1], argv[-1].replace(":8082/", f":{port}/")]
    process = await asyncio.create_subprocess_exec(*argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return await asyncio.wait_for(process.wait(), 30)


async def test_the_health_check_follows_the_monitoring_listener(monitor: Monitor) -> None:
    assert await health_check(monitor.port) == 0
    monitor.status = 503
    assert await health_check(monitor.port) != 0


async def test_the_health_check_fails_when_nothing_listens(unused_tcp_port: int) -> None:
    assert await health_check(unused_tcp_port) != 0


def docker_ignores(path: str) -> bool:
    """Whether .dockerignore keeps ``path`` (relative, with /) out of the build context, as Docker reads it: each
    pattern matches the path or a directory above it (``*`` within a name, ``**`` across directories), ``!``
    takes a match back, the last matching line wins."""
    ignored = False
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        keep = pattern.startswith("!")
        parts = (
            re.escape(part).replace(r"\*", "[^/]*").replace(r"\?", "[^/]") for part in pattern.lstrip("!").split("**/")
        )
        if re.fullmatch("(?:.*/)?".join(parts) + "(?:/.*)?", path):
            ignored = not keep
    return ignored


def test_the_build_context_has_the_sources_and_nothing_secret_or_local() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    context = [path for path in tracked if not docker_ignores(path)]
    installed = ("bot/", "newtel/", "storage/")
    assert {"pyproject.toml", "README.md"} <= set(context)  # `pip install .` reads both (the readme is the description)
    assert [p for p in tracked if p.startswith(installed)] == [p for p in context if p.startswith(installed)]
    local = [".env", ".venv/bin/python", "bot.db", "bot.db-wal", "bot.db-shm", "data/bot.db", ".bot.db-litestream/x",
             "bot.db.lock", "bot/__pycache__/app.cpython-311.pyc", ".git/HEAD"]  # fmt: skip
    assert [path for path in local if not docker_ignores(path)] == []


YQ = shutil.which("yq")


@pytest.mark.skipif(YQ is None, reason="no YAML parser (yq) installed; the bot itself needs none")
def test_compose_builds_the_image_and_keeps_the_database_on_a_named_volume() -> None:
    assert YQ is not None
    read = subprocess.run([YQ, ".", str(DEPLOY / "compose.yaml")], capture_output=True, text=True, check=True)
    compose = json.loads(read.stdout)
    (bot,) = compose["services"].values()
    build = bot["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    assert (DEPLOY / bot["env_file"]).resolve() == ROOT / ".env"  # the one Quick start makes from .env.example
    (volume,) = bot["volumes"]
    name, mounted = volume.split(":")
    assert mounted == "/data" and name in compose["volumes"]  # named: kept across `down` and new images
    assert bot["environment"]["DATABASE_PATH"].startswith("/data/")
