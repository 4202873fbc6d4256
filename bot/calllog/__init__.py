"""The call log: the one ingest of every call the bot observes, into the archive past New-Tel's 24 hours."""
