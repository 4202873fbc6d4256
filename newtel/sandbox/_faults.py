"""Faults a test can inject: latency, error statuses, rate limiting, dropped connections, bad or missing
signatures, malformed call rows, recording links that lead elsewhere."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

FaultKind = Literal["fail", "rate_limit", "disconnect"]


@dataclass(slots=True)
class Fault:
    kind: FaultKind
    times: int
    methods: frozenset[str] | None  # None: any method
    status: int = 500
    message: str = "Internal server error"
    retry_after: int = 1

    def matches(self, method: str) -> bool:
        return self.times > 0 and (self.methods is None or method in self.methods)


class Faults:
    """Pending faults, each consumed by the next ``times`` matching requests, first armed first served."""

    def __init__(self) -> None:
        self.latency = 0.0  # seconds of extra delay before every answer
        self.tamper_signature = False  # when True, signed answers carry a wrong Signature
        self.drop_signature = False  # when True, no answer carries a Signature
        self.malformed: dict[str, dict[str, Any]] = {}  # vpbxId -> wire fields served instead of the call's own
        self.record_link: str | None = None  # served (signed) as every call's callRecordLink instead of its own
        self.record_redirect: str | None = None  # where every recording's own link redirects (302) instead
        self.pending: list[Fault] = []

    def fail(
        self,
        status: int = 500,
        times: int = 1,
        methods: Iterable[str] | None = None,
        message: str = "Internal server error",
    ) -> None:
        self._arm(Fault("fail", times, _methods(methods), status=status, message=message))

    def rate_limit(self, times: int = 1, retry_after: int = 1, methods: Iterable[str] | None = None) -> None:
        self._arm(Fault("rate_limit", times, _methods(methods), status=429, retry_after=retry_after))

    def disconnect(self, times: int = 1, methods: Iterable[str] | None = None) -> None:
        self._arm(Fault("disconnect", times, _methods(methods)))

    def malform(self, vpbx_id: str, **fields: Any) -> None:
        """Serve that call's row with these wire fields replaced, e.g. ``malform(call.vpbx_id, clid=None)``."""
        self.malformed.setdefault(vpbx_id, {}).update(fields)

    def clear(self) -> None:
        self.latency = 0.0
        self.tamper_signature = False
        self.drop_signature = False
        self.malformed.clear()
        self.record_link = self.record_redirect = None
        self.pending.clear()

    def take(self, method: str) -> Fault | None:
        """The fault for this request, if one is armed for it (and count it as used)."""
        for fault in self.pending:
            if fault.matches(method):
                fault.times -= 1
                if fault.times == 0:
                    self.pending.remove(fault)
                return fault
        return None

    def _arm(self, fault: Fault) -> None:
        if fault.times > 0:
            self.pending.append(fault)


def _methods(methods: Iterable[str] | None) -> frozenset[str] | None:
    if methods is None:
        return None
    if isinstance(methods, str):  # a single method name is a common slip
        methods = [methods]
    return frozenset(m.lstrip("/") for m in methods)
