"""Application, process and fleet faults: every name a scenario may use, with typed params.

docs/faults.md as the scenario engine reads it. Application faults are the
mocks' own declarations (:mod:`poslab.app_faults`, the classes their admin
APIs validate with); process and fleet actions, which only the lab carries
out, are declared here. Each action names the pydantic model its ``params``
must fit; region names inside params are checked against the topology through
the validation context (``{"regions": (...)}``).

An action is either *windowed* (switched on at ``at``, undone at ``at + for``)
or *instant* (done once at ``at``; it has no ``for``): a restart, a push of a
software version and a forced sign-on cannot be "undone".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field, model_validator

from poslab.app_faults import APP_FAULTS, FaultParams, RegionList, ServiceFamily, SoftwareVersion

#: A share of the fleet, strictly more than nothing (a draw of no terminal
#: would be a fault that does nothing).
Share = Annotated[float, Field(gt=0.0, le=1.0)]


class NoParams(FaultParams):
    pass


class KillParams(FaultParams):
    """Kill a service; it stays dead for the window and is started again at its end."""

    signal: Literal["KILL", "TERM"] = "KILL"


class FleetShare(FaultParams):
    """Some terminals: a ``share`` or a ``count`` of them, optionally only in ``regions``."""

    share: Share | None = None
    count: int | None = Field(default=None, ge=1)
    regions: RegionList | None = None

    @model_validator(mode="after")
    def _share_or_count(self) -> FleetShare:
        if (self.share is None) == (self.count is None):
            raise ValueError("give exactly one of share or count")
        return self


class PowerOutage(FaultParams):
    regions: RegionList


class SetSoftware(FaultParams):
    """Terminals run ``version`` from now on: a ``share`` of them, or all in ``regions``."""

    version: SoftwareVersion
    share: Share | None = None
    regions: RegionList | None = None

    @model_validator(mode="after")
    def _scope(self) -> SetSoftware:
        if self.share is None and self.regions is None:
            raise ValueError("give share, regions or both")
        return self


class OptionalRegions(FaultParams):
    regions: RegionList | None = None


class Throttle(FaultParams):
    factor: Annotated[float, Field(gt=0.0, le=1.0)]


@dataclass(frozen=True)
class ActionSpec:
    """One named fault or action: its params model and whether it has a window."""

    name: str
    params: type[FaultParams]
    summary: str
    windowed: bool = True


def _table(*specs: ActionSpec) -> Mapping[str, ActionSpec]:
    return {s.name: s for s in specs}


#: service name → family; the proxy has no application faults.
SERVICE_FAMILY: Mapping[str, ServiceFamily] = {
    "acquirer": ServiceFamily.ACQUIRER,
    "issuer": ServiceFamily.ISSUER,
    "agent-primary": ServiceFamily.AGENT,
    "agent-backup": ServiceFamily.AGENT,
}

#: The mocks' registry (poslab.app_faults) as actions: every application fault is windowed.
APPLICATION_FAULTS: Mapping[ServiceFamily, Mapping[str, ActionSpec]] = {
    family: _table(*(ActionSpec(name, cls, cls.summary) for name, cls in faults.items()))
    for family, faults in APP_FAULTS.items()
}

PROCESS_ACTIONS: Mapping[str, ActionSpec] = _table(
    ActionSpec("kill", KillParams, "killed at `at`, started again at the window end"),
    ActionSpec("restart", NoParams, "TERM, then started again on the same files", False),
)

FLEET_ACTIONS: Mapping[str, ActionSpec] = _table(
    ActionSpec("crash", FleetShare, "terminals die, then reboot at the window end"),
    ActionSpec("power_outage", PowerOutage, "every terminal of the regions stops, then restarts"),
    ActionSpec("replace", FleetShare, "terminals die for good; the agent provisions new ones"),
    ActionSpec("set_software", SetSoftware, "terminals now run that software version", False),
    ActionSpec("force_sign_on", OptionalRegions, "every terminal signs on again", False),
    ActionSpec("use_backup_path", OptionalRegions, "terminals use the backup host path"),
    ActionSpec("use_backup_agent", NoParams, "merchants use the backup agent"),
    ActionSpec("throttle", Throttle, "transaction rate cut to factor of normal"),
)


def params_regions(params: FaultParams) -> frozenset[str] | None:
    """The regions a params object is limited to (None: not limited by region)."""
    regions = getattr(params, "regions", None)
    return frozenset(regions) if regions is not None else None
