"""The Telegram bot: a package per feature (access, calls, company, profile, alerts), composed in ``app.py``."""
