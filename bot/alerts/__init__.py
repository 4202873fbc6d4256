"""Missed-call alerts in group chats: told in each chat's lane, their desk (buttons, reminders), the board, the held
summaries and the digest. What watches New-Tel (the poll, the live check, the balance) is ``bot.watch``."""
