"""/balance, /members, /numbers: the company as New-Tel describes it."""
