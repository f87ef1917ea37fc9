"""The acquirer's application faults (docs/faults.md), validated and held.

Names and parameters are a contract with the scenario engine:

=================  =======================================  ==========================
fault              params                                   effect while active
=================  =======================================  ==========================
expire_keys        regions [..] or tids [..] (default all)  those sessions revoked at
                                                            activation: A0 + nibble 3
rotate_keys        same                                     new keys host-side at
                                                            activation (terminals keep
                                                            the old ones)
stall_settlement   –                                        the worker closes nothing
                                                            and pays nothing
force_mismatch     share 0..1                               that share of 0500s → 2
day_end_cut        –                                        financial requests → 90
issuer_timeout     ms                                       the issuer deadline
min_software       version (6 digits), refuse (bool, false) below it → header nibble 6;
                                                            with refuse, their financial
                                                            requests → 96 (+ nibble 6)
=================  =======================================  ==========================

``min_software`` with ``refuse`` is row 12 of failure-modes.md ("outdated
software cannot talk to the host"): the host no longer serves a version below
the minimum, so a terminal that cannot download the update (its agent is
away) is stuck until it can; reversals, settlement and sign-on still pass, so
no money is left hanging. 96 (system malfunction, retry later) because for
the merchant it is the system failing, not the customer being declined.

Key faults act once, when set (the keys are gone; clearing the fault does not
bring them back); the others last until cleared. Bad parameters raise
:class:`FaultError` with the HTTP status the admin API answers.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["FAULTS", "FaultError", "FaultState"]


class FaultError(ValueError):
    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def _no_params(params: Mapping[str, Any]) -> dict[str, Any]:
    if params:
        raise FaultError(f"takes no parameters, got {sorted(params)}")
    return {}


def _names(params: Mapping[str, Any], name: str) -> list[str] | None:
    value = params.get(name)
    if value is None:
        return None
    if not (isinstance(value, list) and all(isinstance(v, str) and v for v in value)):
        raise FaultError(f"{name} must be a list of strings")
    return list(value)


def _selection(params: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(params) - {"regions", "tids"})
    if unknown:
        raise FaultError(f"unknown parameter(s) {unknown}; expected regions and/or tids")
    out: dict[str, Any] = {}
    for name in ("regions", "tids"):
        value = _names(params, name)
        if value is not None:
            out[name] = value
    return out


def _share(params: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(params) - {"share"})
    if unknown:
        raise FaultError(f"unknown parameter(s) {unknown}; expected share")
    share = params.get("share", 1.0)
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
        raise FaultError("share must be a number between 0 and 1")
    return {"share": float(share)}


def _timeout(params: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(params) - {"ms"})
    if unknown or "ms" not in params:
        raise FaultError("expects exactly one parameter: ms (the issuer deadline)")
    ms = params["ms"]
    if isinstance(ms, bool) or not isinstance(ms, int | float) or not 0 < ms <= 600_000:
        raise FaultError("ms must be a number of milliseconds between 1 and 600000")
    return {"ms": ms}


def _version(params: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(params) - {"version", "refuse"})
    version = params.get("version")
    if unknown or not (isinstance(version, str) and len(version) == 6 and version.isdigit()):
        raise FaultError("expects version: 6 digits (MMmmpp), and optionally refuse: true/false")
    refuse = params.get("refuse", False)
    if not isinstance(refuse, bool):
        raise FaultError("refuse must be true or false")
    return {"version": version, "refuse": refuse}


FAULTS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "expire_keys": _selection,
    "rotate_keys": _selection,
    "stall_settlement": _no_params,
    "force_mismatch": _share,
    "day_end_cut": _no_params,
    "issuer_timeout": _timeout,
    "min_software": _version,
}


class FaultState:
    """Active faults and the cheap accessors the hot path reads."""

    def __init__(self, seed: int = 0) -> None:
        self.active: dict[str, dict[str, Any]] = {}
        self._rng = random.Random(seed)
        self.day_end_cut = False
        self.stall_settlement = False
        self.issuer_timeout_s: float | None = None
        self.min_software: str | None = None
        self.refuse_outdated = False

    @staticmethod
    def validate(name: str, params: object) -> dict[str, Any]:
        check = FAULTS.get(name)
        if check is None:
            raise FaultError(f"unknown fault {name!r}; known: {sorted(FAULTS)}", 404)
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            raise FaultError("params must be a JSON object", 400)
        return check(params)

    def set(self, name: str, params: dict[str, Any]) -> None:
        self.active[name] = params
        self._refresh()

    def clear(self, name: str) -> None:
        if name not in FAULTS:
            raise FaultError(f"unknown fault {name!r}; known: {sorted(FAULTS)}", 404)
        self.active.pop(name, None)
        self._refresh()

    def reset(self) -> None:
        self.active.clear()
        self._refresh()

    def mismatch_now(self) -> bool:
        params = self.active.get("force_mismatch")
        return params is not None and self._rng.random() < params["share"]

    def _refresh(self) -> None:
        active = self.active
        self.day_end_cut = "day_end_cut" in active
        self.stall_settlement = "stall_settlement" in active
        timeout = active.get("issuer_timeout")
        self.issuer_timeout_s = timeout["ms"] / 1000 if timeout else None
        software = active.get("min_software")
        self.min_software = software["version"] if software else None
        self.refuse_outdated = bool(software and software.get("refuse"))
