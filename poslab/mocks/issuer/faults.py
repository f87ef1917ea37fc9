"""The issuer's application faults on its board (docs/faults.md: a contract with scenarios).

The faults and their params are declared in :mod:`poslab.app_faults.issuer`
(shared with scenario validation); this board answers what the hot path asks:

===========  ==============================================================
fault        effect while active
===========  ==============================================================
slow         every authorisation, reversal and advice answered after
             delay ± uniform jitter
unavailable  connections accepted and closed at once (open ones are dropped
             when it is set)
decline      that share of otherwise good purchases declined with ``rc``
===========  ==============================================================

Echoes (0820) are never slowed: the acquirer's link stays up, so a slow
issuer shows as 98 (no reply in time), not as 91 (unreachable).
"""

from __future__ import annotations

import random

from poslab.app_faults import ServiceFamily
from poslab.app_faults.issuer import IssuerDecline, IssuerSlow, IssuerUnavailable
from poslab.mocks.kit import FaultBoard

__all__ = ["IssuerFaults"]


class IssuerFaults(FaultBoard):
    def __init__(self, seed: int = 0) -> None:
        super().__init__(ServiceFamily.ISSUER, random.Random(seed))

    @property
    def unavailable(self) -> bool:
        return self.get(IssuerUnavailable) is not None

    def delay_s(self) -> float:
        slow = self.get(IssuerSlow)
        if slow is None:
            return 0.0
        jitter = slow.jitter_ms
        delay = slow.delay_ms + (self.rng.uniform(-jitter, jitter) if jitter else 0.0)
        return max(0.0, delay) / 1000

    def decline(self) -> tuple[float, str]:
        params = self.get(IssuerDecline)
        return (params.share, params.rc) if params else (0.0, "05")
