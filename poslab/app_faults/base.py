"""What an application fault is: a typed, immutable set of params with a name.

One class per fault (as one toxic per module in ``poslab/proxy/toxics``): its
fields are the params of docs/faults.md with their types, ranges and defaults;
its class variables say which services take it (:class:`ServiceFamily`), its
name on the admin API and a one-line summary. The same class validates a
``POST /admin/faults/<name>`` body in the mock and a scenario's ``params``
before any process starts, so the two can never disagree.

Validation is strict (no ``"5"`` for 5, no ``true`` for 1): both sides read
JSON or YAML that a person wrote, and a coerced value would hide a mistake.
Region names are checked against the world when the caller knows it, through
the validation context ``{"regions": [...]}``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo

__all__ = [
    "AppFault",
    "FaultParams",
    "Millis",
    "RegionList",
    "ServiceFamily",
    "Share",
    "SoftwareVersion",
]


class ServiceFamily(StrEnum):
    """Services that share an admin-fault vocabulary (both agents speak the same)."""

    ACQUIRER = "acquirer"
    ISSUER = "issuer"
    AGENT = "agent"


class FaultParams(BaseModel):
    """Base of every fault's or action's params: unknown params are errors,
    values immutable (process and fleet actions of the scenario engine too)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class AppFault(FaultParams):
    """An application fault switched on in a mock through its admin API."""

    model_config = ConfigDict(strict=True)

    family: ClassVar[ServiceFamily]
    name: ClassVar[str]
    summary: ClassVar[str]

    def to_json(self) -> dict[str, Any]:
        """The params as the admin API answers them and the run journal keeps them."""
        return self.model_dump(mode="json", exclude_none=True)


def _known_regions(regions: list[str], info: ValidationInfo) -> list[str]:
    known = (info.context or {}).get("regions")
    if known is not None:
        unknown = [r for r in regions if r not in known]
        if unknown:
            raise ValueError(
                f"unknown region(s) {', '.join(unknown)} (the world has {', '.join(known)})"
            )
    if len(set(regions)) != len(regions):
        raise ValueError("a region is listed twice")
    return regions


def _six_digits(version: str) -> str:
    if not (len(version) == 6 and version.isascii() and version.isdigit()):
        raise ValueError(f"must be 6 digits (MMmmpp, such as 020100), got {version!r}")
    return version


#: A terminal software version as field 60 carries it.
SoftwareVersion = Annotated[str, AfterValidator(_six_digits)]
#: A non-empty list of the world's regions.
RegionList = Annotated[list[str], Field(min_length=1), AfterValidator(_known_regions)]
#: A share of the requests a fault touches; 0 leaves the fault named but idle.
Share = Annotated[float, Field(ge=0.0, le=1.0)]
#: The mocks refuse delays over 10 minutes: a longer one is a typo, and it
#: would outlive any scenario window.
Millis = Annotated[int, Field(ge=0, le=600_000)]
