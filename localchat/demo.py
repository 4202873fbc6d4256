"""``python -m localchat.demo`` (``make demo``): the real bot on this machine, chatted with from the terminal.

One process, one event loop: the New-Tel sandbox (a made-up company with a call history and, unless
``--no-activity``, customers calling in now and then), a fake Telegram Bot API, the real ``Application`` and
a terminal chat as the demo user. Nothing leaves loopback: no token, no keys, no real calls.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from pathlib import Path

from bot import logs
from bot.app import build_application, running
from bot.config import Settings
from localchat import FakeBotAPI, run_terminal_chat
from localchat.settings import TOKEN, local_settings
from newtel.sandbox import Sandbox
from storage import Storage

DEMO_USER = 700_001
DEMO_GROUP = -100_700_001
GROUP_TITLE = "Отдел продаж"
ACTIVITY = 30.0  # mean seconds between random inbound calls: often enough to see, rare enough to read
POLL_INTERVAL = 5.0

BANNER = """\
New-Tel bot demo: the real bot, chatted with from this terminal.
Everything is local: a New-Tel sandbox with a made-up company and a fake Telegram.
No Telegram account, no real calls, no money. Customers of the sandbox call in now and then.

Try:  /balance   /calls   /calls missed   /call +7 916 123-45-67   /record 1
      /members   /lang en   !group (write in the team group)   !help   !quit
Buttons show as [1] [2]…: type the number to press one (an alert's "Call back" too).
Against real Telegram: python -m bot with TELEGRAM_BOT_TOKEN and New-Tel keys set (see README).
"""


def demo_settings(sandbox: Sandbox, tg: FakeBotAPI, database: Path) -> Settings:
    return local_settings(
        sandbox,
        tg,
        database,
        admin_ids=(DEMO_USER,),
        poll_interval=POLL_INTERVAL,
        bot_language="ru",
        log_level="WARNING",
    )


def prepare(database: Path, sandbox: Sandbox) -> str:
    """Bind the demo admin to the company's first member and subscribe the team group, before the bot
    starts (so its first poll already sees them). Returns who the admin acts as, for the greeting."""
    member = sandbox.company.members[0]
    now = int(time.time())
    with Storage.open(database) as storage:
        storage.users.allow_member(DEMO_USER, "admin", member, display_name="Анна", username="anna_demo", now=now)
        storage.chats.subscribe(DEMO_GROUP, GROUP_TITLE, numbers=(), balance=True, now=now)
    return f"{member.name} (ext. {member.internal_number})"


async def demo(args: argparse.Namespace) -> None:
    # A fresh database in a temp dir: the sandbox's keys, company and calls are new every run, so an old
    # demo.db would hold call indexes and alerts that point nowhere; and nothing is left in the checkout.
    with tempfile.TemporaryDirectory(prefix="newtel-demo-") as tmp:
        database = Path(tmp) / "demo.db"
        activity = None if args.no_activity else ACTIVITY
        async with Sandbox(seed=args.seed, activity=activity) as sandbox, FakeBotAPI(TOKEN) as tg:
            tg.user(DEMO_USER, first_name="Анна", username="anna_demo", language_code="ru")
            tg.group(DEMO_GROUP, title=GROUP_TITLE)
            acting_as = prepare(database, sandbox)
            settings = demo_settings(sandbox, tg, database)
            logs.configure(settings.log_level, [TOKEN, sandbox.access_key, sandbox.signing_key])
            async with running(build_application(settings)):
                company = sandbox.company.profile.company_name
                print(f"{company}: you are Анна, an admin of the bot, acting as {acting_as}.")
                print(f"Missed-call alerts go to the team group «{GROUP_TITLE}», shown here too.\n", flush=True)
                await run_terminal_chat(tg, user_id=DEMO_USER, group_chat_id=DEMO_GROUP)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m localchat.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--no-activity", action="store_true", help="no random inbound calls")
    parser.add_argument("--seed", type=int, default=1, help="the sandbox company's seed (default 1)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(BANNER, flush=True)
    # Ctrl-C cancels demo(); its context managers stop the bot, the fake API and the sandbox on the way out.
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(demo(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
