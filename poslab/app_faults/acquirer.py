"""The acquirer's application faults (docs/faults.md).

Key faults act once, when set (the keys are gone; clearing the fault does not
bring them back); the others last until cleared.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import AfterValidator, Field

from poslab.app_faults.base import AppFault, RegionList, ServiceFamily, Share, SoftwareVersion
from poslab.app_faults.registry import register

__all__ = [
    "DayEndCut",
    "ExpireKeys",
    "ForceMismatch",
    "IssuerTimeout",
    "MinSoftware",
    "RotateKeys",
    "StallSettlement",
    "TerminalScope",
]


def _terminal_id(tid: str) -> str:
    if not (len(tid) == 8 and tid.isascii() and tid.isdigit()):
        raise ValueError(f"a terminal ID is 8 digits, got {tid!r}")
    return tid


TerminalId = Annotated[str, AfterValidator(_terminal_id)]


class _AcquirerFault(AppFault):
    family: ClassVar[ServiceFamily] = ServiceFamily.ACQUIRER


class TerminalScope(_AcquirerFault):
    """Which terminals a key fault hits: those of ``regions``, those of
    ``tids``, or (neither given) every terminal."""

    regions: RegionList | None = None
    tids: Annotated[list[TerminalId], Field(min_length=1)] | None = None


@register
class ExpireKeys(TerminalScope):
    name = "expire_keys"
    summary = "working keys invalid: A0 + sign on again"


@register
class RotateKeys(TerminalScope):
    name = "rotate_keys"
    summary = "new keys host-side; terminals hold old ones"


@register
class StallSettlement(_AcquirerFault):
    name = "stall_settlement"
    summary = "settlement worker stops closing batches"


@register
class ForceMismatch(_AcquirerFault):
    name = "force_mismatch"
    summary = "that share of 0500s answered not balanced"

    share: Share = 1.0


@register
class DayEndCut(_AcquirerFault):
    name = "day_end_cut"
    summary = "financial requests answered 90"


@register
class IssuerTimeout(_AcquirerFault):
    name = "issuer_timeout"
    summary = "the acquirer's issuer deadline"

    ms: Annotated[int, Field(gt=0, le=600_000)]


@register
class MinSoftware(_AcquirerFault):
    """Row 12 of failure-modes.md ("outdated software cannot talk to the host")."""

    name = "min_software"
    summary = "older terminals asked for a TMS download"

    version: SoftwareVersion
    # The host no longer serves older versions: their financial requests get
    # 96 (system malfunction: for the merchant it is the system failing, not
    # the customer declined) until they update; reversals, settlement and
    # sign-on still pass, so no money is left hanging.
    refuse: bool = False
