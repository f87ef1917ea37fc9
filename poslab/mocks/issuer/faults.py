"""The issuer's application faults (docs/faults.md: a contract with scenarios).

===========  ==========================  ========================================
fault        params                      effect while active
===========  ==========================  ========================================
slow         delay_ms, jitter_ms         every authorisation, reversal and advice
                                         answered after delay ± uniform jitter
unavailable  –                           connections accepted and closed at once
                                         (open ones are dropped when it is set)
decline      share 0..1, rc (def. 05)    that share of otherwise good purchases
                                         declined with ``rc``
===========  ==========================  ========================================

Echoes (0820) are never slowed: the acquirer's link stays up, so a slow
issuer shows as 98 (no reply in time), not as 91 (unreachable).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

__all__ = ["FAULT_NAMES", "FaultError", "IssuerFaults"]

FAULT_NAMES = ("slow", "unavailable", "decline")


class FaultError(ValueError):
    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def _number(params: Mapping[str, Any], name: str, default: float, high: float) -> float:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= high:
        raise FaultError(f"{name} must be a number between 0 and {high:g}")
    return float(value)


def validate(name: str, params: object) -> dict[str, Any]:
    if name not in FAULT_NAMES:
        raise FaultError(f"unknown fault {name!r}; known: {list(FAULT_NAMES)}", 404)
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise FaultError("params must be a JSON object", 400)
    allowed = {"slow": {"delay_ms", "jitter_ms"}, "unavailable": set(), "decline": {"share", "rc"}}
    unknown = sorted(set(params) - allowed[name])
    if unknown:
        raise FaultError(f"unknown parameter(s) {unknown}; expected {sorted(allowed[name])}")
    if name == "slow":
        return {
            "delay_ms": _number(params, "delay_ms", 0, 600_000),
            "jitter_ms": _number(params, "jitter_ms", 0, 600_000),
        }
    if name == "decline":
        rc = params.get("rc", "05")
        if not (
            isinstance(rc, str) and len(rc) == 2 and rc.isascii() and rc.isalnum() and rc != "00"
        ):
            raise FaultError("rc must be a 2-character response code other than 00")
        return {"share": _number(params, "share", 1.0, 1.0), "rc": rc.upper()}
    return {}


class IssuerFaults:
    def __init__(self, seed: int = 0) -> None:
        self.active: dict[str, dict[str, Any]] = {}
        self._rng = random.Random(seed)

    def set(self, name: str, params: dict[str, Any]) -> None:
        self.active[name] = params

    def clear(self, name: str) -> None:
        if name not in FAULT_NAMES:
            raise FaultError(f"unknown fault {name!r}; known: {list(FAULT_NAMES)}", 404)
        self.active.pop(name, None)

    def reset(self) -> None:
        self.active.clear()

    @property
    def unavailable(self) -> bool:
        return "unavailable" in self.active

    def delay_s(self) -> float:
        slow = self.active.get("slow")
        if slow is None:
            return 0.0
        jitter = slow["jitter_ms"]
        delay = float(slow["delay_ms"]) + (self._rng.uniform(-jitter, jitter) if jitter else 0.0)
        return max(0.0, delay) / 1000

    def decline(self) -> tuple[float, str]:
        params = self.active.get("decline")
        return (params["share"], params["rc"]) if params else (0.0, "05")
