"""``python -m newtel.sandbox --port 8080``: a local New-Tel API for development and demos.

Keys come from NEWTEL_ACCESS_KEY / NEWTEL_SIGNING_KEY when set; otherwise fresh ones are generated and
printed, ready to paste into the bot's environment (it is a dev sandbox: printing them is the point).

``--activity SECONDS`` gives the company a life: customers calling in, short rings, transfers, managers
calling out, now and then a desk phone going offline for a few minutes; ``--unanswered SHARE``: the customers of
that share of the calls placed through the API (the bot's call backs) do not pick up. ``--push-url URL`` POSTs a
small JSON event there whenever a call rings, is answered, transferred or ends and whenever a phone (un)registers
(the format is the sandbox's own: New-Tel's is not documented). ``GET /sandbox/traffic`` answers the requests and
response bytes served per method, for benchmarks. Requests are not kept in memory, so it can run for days.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys

from newtel._signing import is_key

from ._sandbox import Sandbox, is_http_url, new_key


def _http_url(text: str) -> str:
    if not is_http_url(text):
        raise argparse.ArgumentTypeError(f"not an http:// or https:// URL: {text!r}")
    return text


def _share(text: str) -> float:
    try:
        share = float(text)
    except ValueError:
        share = -1.0
    if not 0 <= share <= 1:
        raise argparse.ArgumentTypeError(f"not a share from 0 to 1: {text!r}")
    return share


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m newtel.sandbox", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--seed", type=int, default=1, help="demo company seed (default 1)")
    parser.add_argument("--history", type=int, default=60, help="calls in the 24-hour history (default 60)")
    parser.add_argument(
        "--activity",
        type=float,
        default=20.0,
        help="mean seconds between random events (inbound and outbound calls, short rings, transfers, a phone "
        "going offline for a while); 0 turns them off (default 20)",
    )
    parser.add_argument(
        "--unanswered",
        type=_share,
        default=0.25,
        metavar="SHARE",
        help="the share of calls placed through the API (the bot's call backs) the customer does not pick up, "
        "from 0 to 1 (default 0.25)",
    )
    parser.add_argument(
        "--push-url",
        metavar="URL",
        type=_http_url,
        help="POST call and registration events there as JSON, e.g. the bot's webhook (default: none)",
    )
    return parser.parse_args(argv)


def keys_from_env() -> tuple[str, str, bool]:
    """(access key, signing key, whether they were generated); exits 2 on a malformed key."""
    generated = False
    keys = []
    for name in ("NEWTEL_ACCESS_KEY", "NEWTEL_SIGNING_KEY"):
        value = os.environ.get(name, "").strip()
        if not value:
            value, generated = new_key(), True
        elif not is_key(value):
            print(f"{name} must be 48 lowercase hex digits (got {len(value)} characters)", file=sys.stderr)
            raise SystemExit(2)
        keys.append(value)
    return keys[0], keys[1], generated


async def serve(args: argparse.Namespace) -> None:
    access_key, signing_key, generated = keys_from_env()
    sandbox = Sandbox(
        access_key,
        signing_key,
        host=args.host,
        port=args.port,
        seed=args.seed,
        history_size=args.history,
        activity=args.activity or None,
        unanswered=args.unanswered,
        push_url=args.push_url,
        record_requests=False,  # nobody in this process reads them, and a long run would keep them all
    )
    async with sandbox:
        if generated:
            print(f"NEWTEL_ACCESS_KEY={sandbox.access_key}")
            print(f"NEWTEL_SIGNING_KEY={sandbox.signing_key}")
        print(f"NEWTEL_API_URL={sandbox.url}", flush=True)
        company = sandbox.company
        logging.getLogger("newtel.sandbox").info(
            "%s: %d members, numbers %s, %d calls in history",
            company.profile.company_name,
            len(company.members),
            ", ".join(company.external_numbers),
            len(company.calls),
        )
        stop = asyncio.Event()
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows: Ctrl-C still works
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))


if __name__ == "__main__":
    main()
