"""A fake Telegram Bot API server and a terminal chat on top of it, for running the bot with no internet."""

from localchat.fake_api import ApiCall, FakeBotAPI
from localchat.terminal import Person, render_message, run_terminal_chat

__all__ = ["ApiCall", "FakeBotAPI", "Person", "render_message", "run_terminal_chat"]
