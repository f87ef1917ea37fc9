"""The application faults active in one mock, as typed values.

A board holds at most one fault of each name (setting it again replaces its
params). Requests are validated by the declarations in :mod:`poslab.app_faults`
(the same classes a scenario is checked with); a mock subclasses the board to
keep what its hot path reads cheap (:meth:`FaultBoard.changed`).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any, TypeVar

from poslab.app_faults import APP_FAULTS, AppFault, FaultError, ServiceFamily, parse_fault

__all__ = ["FaultBoard"]

F = TypeVar("F", bound=AppFault)


class FaultBoard:
    def __init__(self, family: ServiceFamily, rng: random.Random | None = None) -> None:
        self.family = family
        self.active: dict[str, AppFault] = {}
        # the draws of share faults: seeded, so a run can be replayed
        self.rng = rng or random.Random()

    def parse(
        self, name: str, params: object, *, context: Mapping[str, Any] | None = None
    ) -> AppFault:
        """The fault a request asks for (:class:`FaultError` when refused)."""
        return parse_fault(self.family, name, params, context=context)

    def set(self, fault: AppFault) -> None:
        self.active[fault.name] = fault
        self.changed()

    def clear(self, name: str) -> None:
        """Clear ``name``; clearing an inactive fault is fine, an unknown one is a 404."""
        if name not in APP_FAULTS[self.family]:
            known = ", ".join(sorted(APP_FAULTS[self.family]))
            raise FaultError(f"unknown {self.family} fault {name!r} (known: {known})", 404)
        self.active.pop(name, None)
        self.changed()

    def reset(self) -> None:
        self.active.clear()
        self.changed()

    def get(self, kind: type[F]) -> F | None:
        """The active fault of that class, or None."""
        fault = self.active.get(kind.name)
        return fault if isinstance(fault, kind) else None

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """``{name: params}`` as ``GET /admin/faults`` answers it."""
        return {name: fault.to_json() for name, fault in self.active.items()}

    def changed(self) -> None:
        """Called after every change; subclasses refresh their hot-path reads."""
