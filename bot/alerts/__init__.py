"""Missed-call alerts in group chats, their "Call back" and "Done" buttons, the balance watch and the digest."""
