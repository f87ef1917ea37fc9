"""Application, process and fleet faults: every name a scenario may use, with typed params.

The scenario-side copy of docs/faults.md (the contract with the mocks' admin
APIs and the fleet control file), kept in one place. Each action names the
pydantic model its ``params`` must fit; region names inside params are checked
against the topology through the validation context (``{"regions": (...)}``).

An action is either *windowed* (switched on at ``at``, undone at ``at + for``)
or *instant* (done once at ``at``; it has no ``for``): a restart, a push of a
software version and a forced sign-on cannot be "undone".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, model_validator


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


#: A non-empty list of the world's regions.
RegionList = Annotated[list[str], Field(min_length=1), AfterValidator(_known_regions)]
#: A share of something, strictly more than nothing.
Share = Annotated[float, Field(gt=0.0, le=1.0)]
SoftwareVersion = Annotated[str, Field(pattern=r"^\d{6}$")]
ResponseCode = Annotated[str, Field(pattern=r"^[0-9A-Z]{2}$")]


class Params(BaseModel):
    """Base of every params model: unknown params are errors, values immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(Params):
    pass


class TerminalScope(Params):
    """Which terminals an acquirer key fault hits (default: every terminal)."""

    regions: RegionList | None = None
    tids: Annotated[list[Annotated[str, Field(pattern=r"^\d{8}$")]], Field(min_length=1)] | None = (
        None
    )


class ForceMismatch(Params):
    share: Share = 1.0


#: The mocks refuse delays over 10 minutes; so does validation.
Millis = Annotated[int, Field(ge=0, le=600_000)]


class IssuerTimeout(Params):
    ms: Annotated[int, Field(gt=0, le=600_000)]


class MinSoftware(Params):
    version: SoftwareVersion
    # the host no longer serves older versions: their financial requests get 96
    refuse: bool = False


class IssuerSlow(Params):
    delay_ms: Millis
    jitter_ms: Millis = 0


class IssuerDecline(Params):
    share: Share = 1.0
    rc: ResponseCode = "05"

    @model_validator(mode="after")
    def _a_decline(self) -> IssuerDecline:
        if self.rc == "00":
            raise ValueError("rc 00 is an approval, not a decline")
        return self


class AgentSlow(Params):
    delay_ms: Millis


class AgentErrors(Params):
    share: Share


class SubsystemDown(Params):
    subsystem: Literal["tms", "tickets", "onboarding", "terminals"]


class KillParams(Params):
    """Kill a service; it stays dead for the window and is started again at its end."""

    signal: Literal["KILL", "TERM"] = "KILL"


class FleetShare(Params):
    """Some terminals: a ``share`` or a ``count`` of them, optionally only in ``regions``."""

    share: Share | None = None
    count: int | None = Field(default=None, ge=1)
    regions: RegionList | None = None

    @model_validator(mode="after")
    def _share_or_count(self) -> FleetShare:
        if (self.share is None) == (self.count is None):
            raise ValueError("give exactly one of share or count")
        return self


class PowerOutage(Params):
    regions: RegionList


class SetSoftware(Params):
    """Terminals run ``version`` from now on: a ``share`` of them, or all in ``regions``."""

    version: SoftwareVersion
    share: Share | None = None
    regions: RegionList | None = None

    @model_validator(mode="after")
    def _scope(self) -> SetSoftware:
        if self.share is None and self.regions is None:
            raise ValueError("give share, regions or both")
        return self


class OptionalRegions(Params):
    regions: RegionList | None = None


class Throttle(Params):
    factor: Annotated[float, Field(gt=0.0, le=1.0)]


@dataclass(frozen=True)
class ActionSpec:
    """One named fault or action: its params model and whether it has a window."""

    name: str
    params: type[Params]
    summary: str
    windowed: bool = True


def _table(*specs: ActionSpec) -> Mapping[str, ActionSpec]:
    return {s.name: s for s in specs}


class ServiceFamily(StrEnum):
    """Services that share an admin-fault vocabulary (both agents speak the same)."""

    ACQUIRER = "acquirer"
    ISSUER = "issuer"
    AGENT = "agent"


#: service name → family; the proxy has no application faults.
SERVICE_FAMILY: Mapping[str, ServiceFamily] = {
    "acquirer": ServiceFamily.ACQUIRER,
    "issuer": ServiceFamily.ISSUER,
    "agent-primary": ServiceFamily.AGENT,
    "agent-backup": ServiceFamily.AGENT,
}

APPLICATION_FAULTS: Mapping[ServiceFamily, Mapping[str, ActionSpec]] = {
    ServiceFamily.ACQUIRER: _table(
        ActionSpec("expire_keys", TerminalScope, "working keys invalid: A0 + sign on again"),
        ActionSpec("rotate_keys", TerminalScope, "new keys host-side; terminals hold old ones"),
        ActionSpec("stall_settlement", NoParams, "settlement worker stops closing batches"),
        ActionSpec("force_mismatch", ForceMismatch, "that share of 0500s answered not balanced"),
        ActionSpec("day_end_cut", NoParams, "financial requests answered 90"),
        ActionSpec("issuer_timeout", IssuerTimeout, "the acquirer's issuer deadline"),
        ActionSpec("min_software", MinSoftware, "older terminals asked for a TMS download"),
    ),
    ServiceFamily.ISSUER: _table(
        ActionSpec("slow", IssuerSlow, "every authorisation delayed"),
        ActionSpec("unavailable", NoParams, "connections accepted and closed at once"),
        ActionSpec("decline", IssuerDecline, "that share declined"),
    ),
    ServiceFamily.AGENT: _table(
        ActionSpec("slow", AgentSlow, "every request delayed"),
        ActionSpec("errors", AgentErrors, "that share answered 503"),
        ActionSpec("subsystem_down", SubsystemDown, "that subsystem answers 503"),
    ),
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


def params_regions(params: Params) -> frozenset[str] | None:
    """The regions a params object is limited to (None: not limited by region)."""
    regions = getattr(params, "regions", None)
    return frozenset(regions) if regions is not None else None
