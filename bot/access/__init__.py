"""Who may use the bot: the checks every handler passes, access requests, and the admins' /allow, /deny, /users."""
