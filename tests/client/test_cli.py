"""``python -m newtel`` as a subprocess against the sandbox on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import sys

from newtel.sandbox import Sandbox


async def run_cli(
    sandbox: Sandbox, *args: str, env: dict[str, str] | None = None, drop: tuple[str, ...] = ()
) -> tuple[int, str, str]:
    environment = {
        **os.environ,
        "NEWTEL_API_URL": sandbox.url,
        "NEWTEL_ACCESS_KEY": sandbox.access_key,
        "NEWTEL_SIGNING_KEY": sandbox.signing_key,
        **(env or {}),
    }
    for name in drop:
        environment.pop(name, None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "newtel", *args, env=environment, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, cwd="/",
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_prints_the_data_as_json(sandbox: Sandbox) -> None:
    code, out, _ = await run_cli(sandbox, "company/get-state")
    assert code == 0
    assert json.loads(out)["currency"] == sandbox.company.state.currency


async def test_parameters_as_people_type_them(sandbox: Sandbox) -> None:
    caller = sandbox.company.external_numbers[0]
    code, out, _ = await run_cli(
        sandbox, "call/start-simple-call", "srcNumber=100", "dstNumber=+7 (916) 555-44-33", f"callerId={caller}"
    )
    assert code == 0 and len(json.loads(out)) == 16
    assert sandbox.requests[-1].params["dstNumber"] == "79165554433"


async def test_failures_exit_non_zero_with_the_message(sandbox: Sandbox) -> None:
    code, _, err = await run_cli(sandbox, "vpbx/get-call-details", "vpbxId=" + "0" * 40)
    assert (code, err.strip()) == (1, "error: Call not found (vpbx/get-call-details, HTTP 200)")
    code, _, err = await run_cli(sandbox, "call/get-vpbx-id", "callId=12")
    assert code == 1 and "callId: must be 16 digits" in err
    sandbox.faults.tamper_signature = True
    code, _, err = await run_cli(sandbox, "company/get-state")
    assert code == 1 and "signature does not match" in err
    for secret in (sandbox.access_key, sandbox.signing_key):
        assert secret not in err


async def test_bad_or_missing_keys_are_named(sandbox: Sandbox) -> None:
    code, _, err = await run_cli(sandbox, "company/get-state", env={"NEWTEL_SIGNING_KEY": "not-a-key"})
    assert (code, err.strip()) == (1, "error: signing_key must be 48 lowercase hexadecimal digits")
    code, _, err = await run_cli(sandbox, "company/get-state", drop=("NEWTEL_SIGNING_KEY",))
    assert (code, err.strip()) == (2, "error: set NEWTEL_SIGNING_KEY in the environment or .env")
