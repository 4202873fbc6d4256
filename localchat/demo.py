"""``python -m localchat.demo`` (``make demo``): the real bot on this machine, chatted with from the terminal.

One process, one event loop: the New-Tel sandbox (a made-up company with a call history and, unless
``--no-activity``, customers calling in now and then; some customers called back do not pick up), a fake Telegram
Bot API, the real ``Application`` and a terminal chat as the demo's admin, who can speak as a colleague or a stranger
too (``!as``). The files the bot sends are saved in a folder that outlives the demo. Nothing leaves loopback: no
token, no keys, no real calls.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from bot import logs
from bot.app import build_application, running
from bot.config import Settings
from bot.miniapp.auth import init_data_for
from localchat import FakeBotAPI, Person, run_terminal_chat
from localchat.settings import TOKEN, local_settings
from newtel.phones import format_for_people
from newtel.sandbox import Sandbox
from storage import Storage

DEMO_USER = 700_001  # Анна, the admin
COLLEAGUE = 700_002  # Татьяна, a manager
STRANGER = 700_003  # Ольга, whom nobody has let in yet
DEMO_GROUP = -100_700_001
GROUP_TITLE = "Отдел продаж"
ACTIVITY = 30.0  # mean seconds between random inbound calls: often enough to see, rare enough to read
UNANSWERED = 0.3  # customers called back who do not pick up: "Не дозвонились" and "Напомнить позже" show up
REMIND_MINUTES = 1.0  # "Напомнить позже" comes back within the demo, not in half an hour
POLL_INTERVAL = 5.0
APP_SIGN_IN = 24 * 3600  # seconds the printed Mini App link signs Анна in (Telegram's own sign-ins last an hour)

BANNER = """\
New-Tel bot demo: the real bot, chatted with from this terminal.
Everything is local: a New-Tel sandbox with a made-up company and a fake Telegram.
No Telegram account, no real calls, no money. Customers of the sandbox call in now and then.

Try:  /balance   /calls   /calls missed   /call +7 916 123-45-67   /record 1   /report 7d
      /members   /lang en   !group (write in the team group)   !help   !quit
Buttons show as [1] [2]…: type the number to press one on the message just shown (!press 12 1: on message #12).
Files: !file PATH /import sends one; what the bot sends (charts, workbooks, recordings) is saved, its path printed.
Others: !as tanya (a manager), !as olga (a stranger asking for access), !as anna (you again).
Ringing cards are off here, so that they do not interleave with the replies: /notify on shows them.
Against real Telegram: python -m bot with TELEGRAM_BOT_TOKEN and New-Tel keys set (see README).
"""


def demo_settings(sandbox: Sandbox, tg: FakeBotAPI, database: Path, app_port: int) -> Settings:
    return local_settings(
        sandbox,
        tg,
        database,
        admin_ids=(DEMO_USER,),
        poll_interval=POLL_INTERVAL,
        alert_remind_minutes=REMIND_MINUTES,
        bot_language="ru",
        log_level="WARNING",
        # The Mini App, on loopback as the bot serves it when polling Telegram.
        miniapp_url=f"http://127.0.0.1:{app_port}/app/",
        newtel_events_port=app_port,
        miniapp_auth_max_age=APP_SIGN_IN,
    )


def free_port() -> int:
    """A port nothing listens on now, on loopback (demos running at once must not fight over one)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def app_link(page: str, user_id: int, first_name: str) -> str:
    """The Mini App at ``page`` as Telegram opens it, outside a chat: its initData, signed with the demo's own
    token, in the address's fragment (as Telegram's script finds it), so a desktop browser opens it as this user."""
    signed = init_data_for(user_id, TOKEN, first_name=first_name, language_code="ru")
    return f"{page}#tgWebAppData={quote(signed, safe='')}&tgWebAppVersion=8.0"


def prepare(database: Path, sandbox: Sandbox, tg: FakeBotAPI) -> list[Person]:
    """The demo's people, before the bot starts (so its first poll already sees them): the admin acting as the
    company's first member, a colleague acting as the second, both without ringing cards (``/notify on``), and a
    stranger who is the third member; the team group subscribed. Returns them as ``!as`` names them."""
    company, now = sandbox.company, int(time.time())
    # The stranger is a member whose desk phone is not among those customers' calls ring: once let in, no card for
    # every inbound call comes to her chat.
    (admin, colleague), stranger = company.members[:2], company.members[3]
    for user_id, first_name, username in (
        (DEMO_USER, "Анна", "anna_demo"),
        (COLLEAGUE, "Татьяна", "tanya_demo"),
        (STRANGER, "Ольга", "olga_demo"),
    ):
        tg.user(user_id, first_name=first_name, username=username, language_code="ru")
    tg.group(DEMO_GROUP, title=GROUP_TITLE)
    with Storage.open(database) as storage:
        users = storage.users
        users.allow_member(DEMO_USER, "admin", admin, display_name="Анна", username="anna_demo", now=now)
        users.allow_member(COLLEAGUE, "manager", colleague, display_name="Татьяна", username="tanya_demo", now=now)
        for user_id in (DEMO_USER, COLLEAGUE):
            users.set_ringing_cards(user_id, False, now=now)
        storage.chats.subscribe(DEMO_GROUP, GROUP_TITLE, numbers=(), balance=True, now=now)
    mobile = format_for_people(stranger.personal_number)
    return [
        Person("anna", DEMO_USER, "Анна", f"an admin, acting as {admin.name} (ext. {admin.internal_number})"),
        Person(
            "tanya", COLLEAGUE, "Татьяна", f"a manager, acting as {colleague.name} (ext. {colleague.internal_number})"
        ),
        Person("olga", STRANGER, "Ольга", f"nobody let her in yet: /start, and her mobile is {mobile}"),
    ]


async def demo(args: argparse.Namespace) -> None:
    # A fresh database in a temp dir: the sandbox's keys, company and calls are new every run, so an old
    # demo.db would hold call indexes and alerts that point nowhere; and nothing is left in the checkout.
    # The files the bot sends go to a folder of their own that is kept, to be opened after the demo too.
    files = args.files or Path(tempfile.mkdtemp(prefix="newtel-demo-files-"))
    files.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="newtel-demo-") as tmp:
        database = Path(tmp) / "demo.db"
        activity = None if args.no_activity else ACTIVITY
        sandbox = Sandbox(seed=args.seed, activity=activity, unanswered=UNANSWERED)
        async with sandbox, FakeBotAPI(TOKEN) as tg:
            people = prepare(database, sandbox, tg)
            settings = demo_settings(sandbox, tg, database, free_port())
            logs.configure(settings.log_level, [TOKEN, sandbox.access_key, sandbox.signing_key])
            async with running(build_application(settings)):
                company = sandbox.company.profile.company_name
                print(f"{company}: you are Анна, {people[0].about}.")
                print(f"Missed-call alerts go to the team group «{GROUP_TITLE}», shown here too.")
                hours = APP_SIGN_IN // 3600
                print(f"The Mini App, as Анна, in a desktop browser (the link signs you in for {hours} h; a new demo")
                print(f"gives a new one): {app_link(str(settings.miniapp_url), DEMO_USER, 'Анна')}\n", flush=True)
                names = {person.user_id: person.name for person in people}

                def opened(user_id: int, page: str) -> str:  # /app's button, for whoever speaks (!as)
                    return app_link(page, user_id, names.get(user_id, str(user_id)))

                await run_terminal_chat(
                    tg, user_id=DEMO_USER, group_chat_id=DEMO_GROUP, people=people, files=files, web_app=opened
                )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m localchat.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--no-activity", action="store_true", help="no random inbound calls")
    parser.add_argument("--seed", type=int, default=1, help="the sandbox company's seed (default 1)")
    parser.add_argument(
        "--files", type=Path, metavar="DIR", help="where the files the bot sends are saved (default: a new temp dir)"
    )
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
