"""``python -m newtel.sandbox``: keys from the environment or printed, and a working server."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

import aiohttp

from newtel._signing import bearer_token


async def _spawn(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "newtel.sandbox",
        "--port",
        "0",
        "--activity",
        "0",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NEWTEL_ACCESS_KEY", "NEWTEL_SIGNING_KEY")}
    return {**env, **extra}


async def test_cli_prints_generated_keys_and_serves():
    process = await _spawn(_env(), "--history", "5")
    try:
        printed: dict[str, str] = {}
        while "NEWTEL_API_URL" not in printed:
            line = await asyncio.wait_for(process.stdout.readline(), timeout=20)
            assert line, "the sandbox exited early"
            name, _, value = line.decode().strip().partition("=")
            printed[name] = value
        access_key, signing_key = printed["NEWTEL_ACCESS_KEY"], printed["NEWTEL_SIGNING_KEY"]
        assert len(access_key) == len(signing_key) == 48
        body = b'""'
        token = bearer_token("vpbx/get-calls-list", int(time.time()), access_key, body, signing_key)
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{printed['NEWTEL_API_URL']}/vpbx/get-calls-list",
                data=body,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            ) as response,
        ):
            assert response.status == 200
            assert len(json.loads(await response.read())["data"]["callsList"]) == 5
    finally:
        process.terminate()
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=20)
    log = stderr.decode()
    assert "vpbx/get-calls-list 200" in log
    assert access_key not in log and "Bearer" not in log  # one line per request, no secrets


async def test_cli_uses_keys_from_the_environment_without_printing_them():
    process = await _spawn(_env(NEWTEL_ACCESS_KEY="a" * 48, NEWTEL_SIGNING_KEY="b" * 48))
    try:
        line = await asyncio.wait_for(process.stdout.readline(), timeout=20)
        assert line.decode().startswith("NEWTEL_API_URL=http://127.0.0.1:")
    finally:
        process.terminate()
        await asyncio.wait_for(process.communicate(), timeout=20)


async def test_cli_refuses_a_malformed_key():
    process = await _spawn(_env(NEWTEL_ACCESS_KEY="not-a-key", NEWTEL_SIGNING_KEY="b" * 48))
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=20)
    assert process.returncode == 2
    assert "NEWTEL_ACCESS_KEY must be 48 lowercase hex digits" in stderr.decode()


async def test_cli_pushes_its_activity_and_serves_its_traffic(receiver, eventually):
    process = await _spawn(_env(), "--history", "0", "--activity", "0.05", "--push-url", receiver.url)
    try:
        line = await asyncio.wait_for(process.stdout.readline(), timeout=20)
        while not line.startswith(b"NEWTEL_API_URL="):
            line = await asyncio.wait_for(process.stdout.readline(), timeout=20)
        url = line.decode().strip().partition("=")[2]

        async def pushed():
            return len(receiver.received) >= 3

        await eventually(pushed, timeout=10)
        assert {body["event"] for _, body in receiver.received} <= {
            "call.ringing",
            "call.answered",
            "call.transferred",
            "call.ended",
            "number.registered",
            "number.unregistered",
        }
        async with aiohttp.ClientSession() as session, session.get(f"{url}/sandbox/traffic") as response:
            assert response.status == 200
            assert await response.json() == {}  # nobody has asked the API anything
    finally:
        process.terminate()
        await asyncio.wait_for(process.communicate(), timeout=20)


async def test_cli_refuses_a_push_url_that_is_not_http():
    process = await _spawn(_env(), "--push-url", "mailto:someone@example.com")
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=20)
    assert process.returncode == 2
    assert "--push-url" in stderr.decode()


async def test_cli_refuses_an_unanswered_share_outside_0_to_1():
    process = await _spawn(_env(), "--unanswered", "1.5")
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=20)
    assert process.returncode == 2
    assert "--unanswered: not a share from 0 to 1: '1.5'" in stderr.decode()
