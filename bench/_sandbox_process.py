"""Run the New-Tel sandbox as a separate process, so a benchmark's client and server do not share a CPU loop."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any


@dataclass(frozen=True)
class SandboxProcess:
    url: str
    access_key: str
    signing_key: str


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def sandbox_process(history: int = 60) -> Iterator[SandboxProcess]:
    port = _free_port()
    keys = SandboxProcess(f"http://127.0.0.1:{port}", secrets.token_hex(24), secrets.token_hex(24))
    env = {**os.environ, "NEWTEL_ACCESS_KEY": keys.access_key, "NEWTEL_SIGNING_KEY": keys.signing_key}
    command = [sys.executable, "-m", "newtel.sandbox", "--port", str(port), "--history", str(history)]
    process = subprocess.Popen(
        [*command, "--activity", "0"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the sandbox did not start")
            time.sleep(0.05)
        yield keys
    finally:
        process.terminate()
        process.wait(timeout=10)


# --- a steered sandbox: calls put into its PBX from the benchmark ----------------------------------------------
# ``python bench/_sandbox_process.py --port N --history N`` runs the same sandbox (no activity, requests not kept)
# and reads its standard input: one JSON object a line, each the keyword arguments of ``Sandbox.add_call``. A call
# may start in the future: the API shows it when its start comes. The process ends when its standard input closes.


@dataclass(frozen=True)
class SteeredSandboxProcess(SandboxProcess):
    calls_in: IO[bytes] | None = field(default=None, repr=False, compare=False)  # the process's standard input

    def add_calls(self, calls: Iterable[Mapping[str, Any]]) -> None:
        """Put calls into the sandbox's PBX: each the keyword arguments of ``Sandbox.add_call``."""
        assert self.calls_in is not None
        self.calls_in.write(b"".join(json.dumps(dict(call)).encode() + b"\n" for call in calls))
        self.calls_in.flush()


@contextlib.contextmanager
def steered_sandbox_process(history: int = 60) -> Iterator[SteeredSandboxProcess]:
    """Like ``sandbox_process``, and the calls ``add_calls`` gives it go into its PBX."""
    port = _free_port()
    access_key, signing_key = secrets.token_hex(24), secrets.token_hex(24)
    env = {**os.environ, "NEWTEL_ACCESS_KEY": access_key, "NEWTEL_SIGNING_KEY": signing_key}
    command = [sys.executable, os.path.abspath(__file__), "--port", str(port), "--history", str(history)]
    process = subprocess.Popen(
        command, env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the sandbox did not start")
            time.sleep(0.05)
        yield SteeredSandboxProcess(f"http://127.0.0.1:{port}", access_key, signing_key, process.stdin)
    finally:
        with contextlib.suppress(OSError):
            process.stdin.close()  # type: ignore[union-attr]
        process.terminate()
        process.wait(timeout=10)


async def _serve_steered(port: int, history: int) -> None:
    from newtel.sandbox import Sandbox

    keys = os.environ["NEWTEL_ACCESS_KEY"], os.environ["NEWTEL_SIGNING_KEY"]
    async with Sandbox(*keys, port=port, history_size=history, record_requests=False) as sandbox:
        reader = asyncio.StreamReader()
        await asyncio.get_running_loop().connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := await reader.readline():
            sandbox.add_call(**json.loads(line))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the project, from a clone
    parser = argparse.ArgumentParser(description="A steered New-Tel sandbox (see steered_sandbox_process)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--history", type=int, default=60)
    arguments = parser.parse_args()
    asyncio.run(_serve_steered(arguments.port, arguments.history))
