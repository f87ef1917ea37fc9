"""The acquirer's application faults on its board (docs/faults.md).

The faults and their params are declared in :mod:`poslab.app_faults.acquirer`
(shared with scenario validation); this board keeps what the hot path reads
as plain attributes, refreshed whenever a fault is set or cleared:

=================  ==========================================================
fault              effect while active
=================  ==========================================================
expire_keys        (at activation) those sessions revoked: A0 + nibble 3
rotate_keys        (at activation) new keys host-side; terminals keep the old
stall_settlement   the worker closes nothing and pays nothing
force_mismatch     that share of 0500s → 2 (not balanced)
day_end_cut        financial requests → 90
issuer_timeout     the issuer deadline
min_software       below it → header nibble 6; with refuse, their financial
                   requests → 96 (+ nibble 6)
=================  ==========================================================

Key faults act once, when set (the keys are gone; clearing the fault does not
bring them back): :mod:`poslab.mocks.acquirer.admin` applies them.
"""

from __future__ import annotations

import random

from poslab.app_faults import ServiceFamily
from poslab.app_faults.acquirer import (
    DayEndCut,
    ForceMismatch,
    IssuerTimeout,
    MinSoftware,
    StallSettlement,
)
from poslab.mocks.kit import FaultBoard

__all__ = ["FaultState"]


class FaultState(FaultBoard):
    """Active faults and the cheap accessors the hot path reads."""

    def __init__(self, seed: int = 0) -> None:
        self.day_end_cut = False
        self.stall_settlement = False
        self.issuer_timeout_s: float | None = None
        self.min_software: str | None = None
        self.refuse_outdated = False
        self._mismatch_share = 0.0
        super().__init__(ServiceFamily.ACQUIRER, random.Random(seed))

    def mismatch_now(self) -> bool:
        return self._mismatch_share > 0 and self.rng.random() < self._mismatch_share

    def changed(self) -> None:
        self.day_end_cut = self.get(DayEndCut) is not None
        self.stall_settlement = self.get(StallSettlement) is not None
        timeout = self.get(IssuerTimeout)
        self.issuer_timeout_s = timeout.ms / 1000 if timeout else None
        software = self.get(MinSoftware)
        self.min_software = software.version if software else None
        self.refuse_outdated = bool(software and software.refuse)
        mismatch = self.get(ForceMismatch)
        self._mismatch_share = mismatch.share if mismatch else 0.0
