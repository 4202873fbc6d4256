"""Run the New-Tel sandbox as a separate process, so a benchmark's client and server do not share a CPU loop."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass


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
