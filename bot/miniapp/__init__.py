"""The Telegram Mini App: a page Telegram opens inside the chat, served by the bot itself (``server``), over the
same desk as the commands: the journal, the customer card, recordings, reports and the open misses, one module
each, with no second copy of any rule."""
