"""/whoami, /phone, /lang, /help: the user and their own settings."""
