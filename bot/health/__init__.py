"""Health of the company's telephony: desk phones' registration."""
