"""Ringing cards: a private card to each user whose desk phone rings, edited as the call goes on; ``/notify``."""
