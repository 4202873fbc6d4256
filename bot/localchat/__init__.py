"""A fake Telegram Bot API server and a terminal chat on top of it, for running the bot with no internet."""

from bot.localchat.fake_api import ApiCall, FakeBotAPI
from bot.localchat.terminal import render_message, run_terminal_chat

__all__ = ["ApiCall", "FakeBotAPI", "render_message", "run_terminal_chat"]
