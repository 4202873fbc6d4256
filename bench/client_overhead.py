"""What NewtelClient adds to a bare HTTP round trip, and what a 10,000-call history costs.

1. The median of N sequential ``company/get-state`` calls through ``NewtelClient`` versus a bare aiohttp
   POST of a pre-signed request on the same kept-alive session, both against the sandbox on loopback
   (a separate process). Target: ratio ≤ 1.10.
2. The round trip of ``vpbx/get-calls`` with 10,000 calls in the history, parse into models included.

Usage: python bench/client_overhead.py [N]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _sandbox_process import sandbox_process

from newtel import NewtelClient
from newtel._signing import bearer_token


async def overhead(n: int) -> None:
    with sandbox_process() as sandbox:
        async with aiohttp.ClientSession() as session:
            client = NewtelClient(sandbox.access_key, sandbox.signing_key, sandbox.url, session=session)
            body = b"{}"
            token = bearer_token("company/get-state", int(time.time()), sandbox.access_key, body, sandbox.signing_key)
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            url = f"{sandbox.url}/company/get-state"

            async def bare() -> None:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()

            async def through_client() -> None:
                await client.company.get_state()

            for _ in range(200):  # warm up both paths and the connection
                await bare()
                await through_client()
            timings: dict[str, list[float]] = {"bare": [], "client": []}
            for _ in range(n):  # alternate call by call, so drift and the machine's other load hit both alike
                for name, call in (("bare", bare), ("client", through_client)):
                    started = time.perf_counter()
                    await call()
                    timings[name].append(time.perf_counter() - started)
    bare_ms = statistics.median(timings["bare"]) * 1000
    client_ms = statistics.median(timings["client"]) * 1000
    print(f"company/get-state x{n}: bare aiohttp median {bare_ms:.3f} ms, NewtelClient median {client_ms:.3f} ms")
    print(f"  ratio {client_ms / bare_ms:.3f} (target <= 1.10)")


async def big_history(calls: int, rounds: int) -> None:
    with sandbox_process(history=calls) as sandbox:
        async with NewtelClient(sandbox.access_key, sandbox.signing_key, sandbox.url, timeout=60) as client:
            await client.vpbx.get_calls()
            timings = []
            for _ in range(rounds):
                started = time.perf_counter()
                history = await client.vpbx.get_calls()
                timings.append(time.perf_counter() - started)
    median = statistics.median(timings) * 1000
    print(
        f"vpbx/get-calls with {len(history)} calls in the last 24 h: median round trip {median:.1f} ms"
        f" (min {min(timings) * 1000:.1f}, max {max(timings) * 1000:.1f}; sandbox + client parse into models)"
    )


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    asyncio.run(overhead(n))
    asyncio.run(big_history(10_000, 15))
