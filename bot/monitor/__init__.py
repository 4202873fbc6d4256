"""Health and metrics: what ``GET /healthz``, ``GET /metrics`` (on the monitoring listener, ``bot.web``) and the admins'
``/status`` tell. The measuring is in ``monitor``; ``status`` is the command."""

from bot.monitor.monitor import Freshness, Health, Monitor

__all__ = ["Freshness", "Health", "Monitor"]
