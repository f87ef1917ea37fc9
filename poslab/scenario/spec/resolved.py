"""A scenario resolved against a topology and the run's options: what the runner executes.

Every duration is float seconds *after* ``--time-scale`` (offsets from the
scenario clock's zero, ``t0`` of ``scenario_started``); every target is a real
proxy or service of the topology; region-scoped network faults are expanded to
one fault per ``region-<r>`` proxy; every param is typed by its action's model.
:meth:`ResolvedScenario.dump_resolved` is the scenario's entry in ``run.json``
(docs/run-directory.md lists the fields it must carry).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, SerializeAsAny

from poslab.app_faults import FaultParams
from poslab.scenario.spec.model import LoadShape, Policy, ProbeMode
from poslab.scenario.spec.toxic_table import AttributeValue, Stream


class _Resolved(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Load(_Resolved):
    shape: LoadShape
    terminals: int
    duration_s: float
    params: dict[str, int | float]


class Slo(_Resolved):
    success_ratio: float
    p99_ms: float


class Recovery(_Resolved):
    target_s: float
    good_seconds: int


class Window(_Resolved):
    """Seconds ``[start_s, end_s)`` on the scenario clock."""

    start_s: float
    end_s: float

    def overlaps(self, other: Window) -> bool:
        return self.start_s < other.end_s and other.start_s < self.end_s


class Expectation(_Resolved):
    name: str
    kind: str
    # As poslab.scoring.validate_expectation returns them: defaults filled in.
    params: dict[str, JsonValue]


class Probe(_Resolved):
    """A probe of the scenario's own, its params as its type's model gave them back."""

    name: str
    type: str
    mode: ProbeMode
    interval_s: float  # scaled like the timeline
    timeout_s: float  # not scaled
    params: dict[str, JsonValue]


class Toxic(_Resolved):
    """A toxic exactly as the proxy API takes it."""

    name: str
    type: str
    stream: Stream
    toxicity: float
    attributes: dict[str, AttributeValue]


class _Fault(_Resolved):
    id: str
    # The fault as the file names it: region expansion gives one id per proxy
    # (``<group>@region-north``) and keeps the file's id here.
    group: str
    description: str
    at_s: float
    # 0 for an instant action (a restart, a software push).
    for_s: float
    unavoidable: bool
    # Index in the file's `faults` list, for error messages and reports.
    index: int

    @property
    def end_s(self) -> float:
        return round(self.at_s + self.for_s, 6)

    @property
    def window(self) -> Window:
        return Window(start_s=self.at_s, end_s=self.end_s)

    @property
    def windowed(self) -> bool:
        return self.for_s > 0


class NetworkFault(_Fault):
    kind: Literal["network"] = "network"
    target: str  # a proxy name
    action: Literal["down", "toxic"]
    toxic: Toxic | None = None


class ApplicationFault(_Fault):
    kind: Literal["application"] = "application"
    target: str  # a service with an admin API
    action: str  # the admin fault's name
    params: SerializeAsAny[FaultParams]


class ProcessFault(_Fault):
    kind: Literal["process"] = "process"
    target: str  # an embedded service
    action: str  # kill | restart
    params: SerializeAsAny[FaultParams]


class FleetFault(_Fault):
    kind: Literal["fleet"] = "fleet"
    target: Literal["fleet"] = "fleet"
    action: str
    params: SerializeAsAny[FaultParams]


class PluginFault(_Fault):
    kind: Literal["plugin"] = "plugin"
    target: str  # as the file wrote it (the action's name when it gave none)
    action: str  # the plugin's fault action (poslab.plugins)
    params: SerializeAsAny[FaultParams]


Fault = Annotated[
    NetworkFault | ApplicationFault | ProcessFault | FleetFault | PluginFault,
    Field(discriminator="kind"),
]


class SuccessRatioBelow(_Resolved):
    kind: Literal["success_ratio_below"] = "success_ratio_below"
    ratio: float
    for_s: float


class P99Above(_Resolved):
    kind: Literal["p99_above"] = "p99_above"
    ms: float
    for_s: float


class IntegrityBreach(_Resolved):
    kind: Literal["integrity_breach"] = "integrity_breach"


AbortCondition = Annotated[
    SuccessRatioBelow | P99Above | IntegrityBreach, Field(discriminator="kind")
]


class SteadyState(_Resolved):
    within_s: float
    good_seconds: int
    health: bool


class ResolvedScenario(_Resolved):
    """One scenario ready to run: typed, scaled, checked against the topology."""

    name: str
    description: str
    source: str  # the file it came from
    failure_mode: int | None
    weight: float
    min_score: float
    policy: Policy | None
    time_scale: float
    load: Load
    duration_s: float  # the load's duration: faults and judging live inside it
    drain_s: float  # after the load stops: reversals and settlement finish
    slo: Slo
    recovery: Recovery
    steady_state: SteadyState | None
    faults: tuple[Fault, ...]
    unavoidable: tuple[Window, ...]  # merged, sorted; from `unavoidable` and faults
    expectations: tuple[Expectation, ...]
    probes: tuple[Probe, ...] = ()
    abort: tuple[AbortCondition, ...]
    # AcquirerConfig overrides the acquirer starts with (``--config``), durations
    # scaled like the timeline; empty: the host's defaults.
    acquirer: dict[str, JsonValue] = Field(default_factory=dict)
    # TerminalConfig overrides as the fleet config takes them: business
    # intervals in the file's seconds, which the fleet multiplies by ``time_scale``.
    terminal: dict[str, JsonValue] = Field(default_factory=dict)
    # Why this topology cannot run it (an essential need an external service
    # cannot meet): the runner skips it and scoring counts it could-not-run.
    skip: str | None = None
    # What it runs without (optional settings an external service cannot take).
    notes: tuple[str, ...] = ()

    @property
    def last_fault_end_s(self) -> float | None:
        return max((f.end_s for f in self.faults), default=None)

    def fault(self, fault_id: str) -> Fault:
        for fault in self.faults:
            if fault.id == fault_id:
                return fault
        raise KeyError(f"scenario {self.name} has no fault {fault_id!r}")

    def dump_resolved(self) -> dict[str, JsonValue]:
        """This scenario as run.json stores it (see docs/run-directory.md)."""
        data = self.model_dump(mode="json")
        for fault, dumped in zip(self.faults, data["faults"], strict=True):
            dumped["end_s"] = fault.end_s
        return data


#: Seconds a fresh embedded stack takes to be ready on the reference machine
#: (the stack's own goal is ≤ 10 s); each scenario in a suite starts one.
STACK_START_S = 10.0


class ResolvedSuite(_Resolved):
    """A suite ready to run: its scenarios resolved, per-suite overrides applied."""

    name: str
    description: str
    source: str
    min_score: float
    scenarios: tuple[ResolvedScenario, ...]
    # what the run must be able to judge before it may pass ("integrity")
    require: tuple[str, ...] = ()

    @property
    def total_weight(self) -> float:
        return sum(s.weight for s in self.scenarios)

    def estimated_wall_s(self, stack_start_s: float = STACK_START_S) -> float:
        """Stack start + load + drain for every scenario, one after the other."""
        return sum(stack_start_s + s.duration_s + s.drain_s for s in self.scenarios)
