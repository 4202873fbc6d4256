"""The Telegram bot: a package per feature (access, calls, company, profile, alerts), composed in ``app.py``."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("newtel-telegram")  # pyproject.toml's, as installed
except PackageNotFoundError:  # run from a checkout that was never installed
    __version__ = "0+unknown"
