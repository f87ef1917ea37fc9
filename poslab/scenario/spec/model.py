"""A scenario and a suite as their authors write them (the YAML files' schema).

This is the *shape* check: types, ranges, required fields, unknown fields,
durations parsed to seconds. What depends on the stack — proxy, service and
region names, toxic and admin-fault vocabularies, the timeline's consistency,
``--time-scale`` — is checked when the document is resolved against a topology
(:mod:`poslab.scenario.spec.resolution`), which turns it into a
:class:`~poslab.scenario.spec.resolved.ResolvedScenario` the runner executes.

docs/scenarios.md is the reference for every field below.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictStr, model_validator
from pydantic_core import PydanticCustomError

from poslab.scenario.spec.durations import Duration
from poslab.scenario.spec.toxic_table import Stream

#: Scenario, suite, fault and expectation names: lowercase words joined by - or _.
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
#: Toxiproxy toxic names are free text in Toxiproxy; the lab keeps them URL-safe.
ToxicName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")]
PositiveDuration = Annotated[Duration, Field(gt=0)]


def _plain_value(value: object) -> object:
    """Params are scalars or flat lists of one scalar type (no nested mappings)."""
    if value is None:
        raise PydanticCustomError("param_value", "a value is needed (this one is empty)")
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(v, bool | int | float | str) for v in items):
        raise PydanticCustomError(
            "param_value", "a number, a string, true/false, or a list of numbers or strings"
        )
    if isinstance(value, list) and len({type(v) for v in value}) > 1:
        raise PydanticCustomError("param_value", "a list must hold values of one type")
    return value


def _attribute_value(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PydanticCustomError(
            "attribute_value", "an integer (Toxiproxy attributes are integers) or a code string"
        )
    return value


#: A param value as YAML gives it; the action's own model types it on resolution.
ParamValue = Annotated[
    bool | int | float | str | list[str] | list[int] | list[float], BeforeValidator(_plain_value)
]
Params = dict[str, ParamValue]
AttributeValue = Annotated[int | str, BeforeValidator(_attribute_value)]

#: Rows of docs failure-modes.md.
FAILURE_MODE_ROWS = 13


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class LoadShape(StrEnum):
    STEADY = "steady"
    RAMP = "ramp"
    LUNCH_PEAK = "lunch-peak"
    DINNER_PEAK = "dinner-peak"


class Policy(StrEnum):
    RESILIENT = "resilient"
    NAIVE = "naive"


class LoadDoc(_Doc):
    """The load: a Locust shape driving ``terminals`` terminals for ``duration``."""

    shape: LoadShape = LoadShape.STEADY
    terminals: int = Field(default=150, ge=1, le=100_000)
    duration: PositiveDuration
    # Shape parameters (poslab/loadtests/shapes.py owns their meaning): numbers only.
    params: dict[Slug, int | float] = Field(default_factory=dict)


class ToxicDoc(_Doc):
    """A Toxiproxy toxic (or one of the lab's ISO 8583 toxics)."""

    type: StrictStr
    attributes: dict[str, AttributeValue] = Field(default_factory=dict)
    stream: Stream = Stream.DOWNSTREAM
    toxicity: float = Field(default=1.0, ge=0.0, le=1.0)
    name: ToxicName | None = None


class _FaultDoc(_Doc):
    id: Slug | None = None
    description: str = ""
    at: Duration
    for_: PositiveDuration | None = Field(default=None, alias="for")
    # The fault's window is excluded from availability: no stack could serve it.
    unavoidable: bool = False


class NetworkFaultDoc(_FaultDoc):
    """A toxic, or ``down``, on one proxy (``target``) or on regions' primary paths."""

    kind: Literal["network"]
    target: str | None = None
    regions: list[str] | Literal["all"] | None = None
    toxic: ToxicDoc | None = None
    down: bool = False

    @model_validator(mode="after")
    def _one_target_one_effect(self) -> NetworkFaultDoc:
        if (self.target is None) == (self.regions is None):
            raise ValueError("give exactly one of target (a proxy) or regions")
        if (self.toxic is None) == (not self.down):
            raise ValueError("give exactly one of toxic or down: true")
        return self


class ApplicationFaultDoc(_FaultDoc):
    """A fault switched on in a mock through its admin API."""

    kind: Literal["application"]
    target: str
    fault: str
    params: Params = Field(default_factory=dict)


class ProcessFaultDoc(_FaultDoc):
    """Kill or restart a service the lab started."""

    kind: Literal["process"]
    target: str
    action: str
    params: Params = Field(default_factory=dict)


class FleetFaultDoc(_FaultDoc):
    """Something done to the terminals themselves (crash, power cut, software...)."""

    kind: Literal["fleet"]
    target: Literal["fleet"] = "fleet"
    action: str
    params: Params = Field(default_factory=dict)


class PluginFaultDoc(_FaultDoc):
    """A fault action a plugin provides (docs/plugins.md): ``action`` names it,
    ``target`` is handed to it as written."""

    kind: Literal["plugin"]
    action: str
    target: str | None = None
    params: Params = Field(default_factory=dict)


FaultDoc = Annotated[
    NetworkFaultDoc | ApplicationFaultDoc | ProcessFaultDoc | FleetFaultDoc | PluginFaultDoc,
    Field(discriminator="kind"),
]


class SloDoc(_Doc):
    """What a good second is: success ratio among non-declined attempts, and p99."""

    success_ratio: float = Field(gt=0.0, le=1.0)
    p99_ms: float = Field(gt=0.0)


class RecoveryDoc(_Doc):
    """Recovered = ``good_seconds`` consecutive good seconds; full marks within ``target``."""

    target: PositiveDuration
    good_seconds: int = Field(default=5, ge=1)


class ProbeMode(StrEnum):
    """When a probe looks (Litmus's probe modes)."""

    START = "start"  # once, when the scenario clock starts
    END = "end"  # once, after the drain (before the stack stops)
    EDGE = "edge"  # at the start and at the end
    CONTINUOUS = "continuous"  # every `interval`, from the start to the load's end
    DURING_FAULT = "during_fault"  # every `interval` while a fault is in place


class ProbeDoc(_Doc):
    """A probe of the scenario's own: a built-in type (``http``, ``command``,
    ``prometheus``) or a plugin's, with the type's ``params`` (docs/plugins.md).

    Every answer is journaled as a ``probe`` event; with ``expect`` (the
    default) the scenario also holds a ``probe_ok`` check on it, so a failed
    probe counts in E and shows in every report.
    """

    name: Slug
    type: StrictStr
    mode: ProbeMode = ProbeMode.CONTINUOUS
    interval: PositiveDuration = 2.0
    # not scaled by --time-scale: a network or a program takes the time it takes
    timeout: PositiveDuration = 2.0
    expect: bool = True
    params: Params = Field(default_factory=dict)


class ExpectationDoc(_Doc):
    name: Slug | None = None
    kind: str
    params: Params = Field(default_factory=dict)


class WindowDoc(_Doc):
    at: Duration
    for_: PositiveDuration = Field(alias="for")


class SuccessRatioBelowDoc(_Doc):
    """Stop when the success ratio stays under ``ratio`` for ``for`` (outside unavoidable)."""

    kind: Literal["success_ratio_below"]
    ratio: float = Field(gt=0.0, le=1.0)
    for_: PositiveDuration = Field(alias="for")


class P99AboveDoc(_Doc):
    """Stop when p99 stays above ``ms`` for ``for`` (outside unavoidable windows)."""

    kind: Literal["p99_above"]
    ms: float = Field(gt=0.0)
    for_: PositiveDuration = Field(alias="for")


class IntegrityBreachDoc(_Doc):
    """Stop at the first integrity breach a probe observes (lost approval, double booking)."""

    kind: Literal["integrity_breach"]


AbortDoc = Annotated[
    SuccessRatioBelowDoc | P99AboveDoc | IntegrityBreachDoc,
    Field(discriminator="kind"),
]


class SteadyStateDoc(_Doc):
    """Before the first fault the stack must show ``good_seconds`` good seconds in a row,
    within ``within`` of the start (default: by the first fault's ``at``)."""

    within: PositiveDuration | None = None
    good_seconds: int = Field(default=3, ge=1)
    health: bool = True  # every service's health check answers


class AcquirerDoc(_Doc):
    """The acquirer's business calendar for this scenario (``AcquirerConfig`` names,
    handed to the host as ``--config``). Only an embedded acquirer can take them.

    A lab business day of the default 30 s lets no T+1 payout fall due in a run
    of under a minute; a scenario whose money must reach the merchants within
    the run shortens the day (it is a timeline duration: ``--time-scale``
    scales it like the faults' offsets).
    """

    day_seconds: PositiveDuration | None = None
    day_cut: Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")] | None = None
    payout_lag_days: int | None = Field(default=None, ge=0, le=30)
    d0_lag_days: int | None = Field(default=None, ge=0, le=30)
    batch_max_days: int | None = Field(default=None, ge=1, le=365)


class TerminalDoc(_Doc):
    """The terminals' own settings for this scenario (``TerminalConfig`` names).

    ``settle_interval``: a terminal settles (0500) its open batch this long
    after it opened, at its next customer — the lab's compressed "end of the
    business day"; like the think time it is scaled by the fleet with
    ``--time-scale``. ``settle_every``: or after this many transactions.
    ``tms_retry``: a terminal whose software download failed tries again this
    long after (scaled by the fleet too).
    """

    settle_interval: PositiveDuration | None = None
    settle_every: int | None = Field(default=None, ge=1, le=999)
    # how long a terminal whose software download failed waits before trying again
    tms_retry: PositiveDuration | None = None


class Essential(StrEnum):
    ESSENTIAL = "essential"  # without it the scenario proves nothing: skipped (could not run)
    OPTIONAL = "optional"  # it runs without it, and the report says so


class ServiceNeedsDoc(_Doc):
    """What a scenario needs of one service, beyond what its faults already say.

    A fault needs what it does (a ``kill`` a killable service, an application
    fault that fault); these add what the scenario relies on without a fault
    of its own, and say which of the service's settings are ``optional``:
    against a service the lab does not start, a setting it cannot impose is
    dropped with a note when optional, and skips the scenario when essential
    (every setting is essential unless named here).
    """

    killable: bool = False
    restartable: bool = False
    faults: list[Slug] = Field(default_factory=list)
    settings: dict[Slug, Essential] = Field(default_factory=dict)


class ScenarioDoc(_Doc):
    """One scenario file."""

    name: Slug
    description: str = ""
    failure_mode: int | None = Field(default=None, ge=1, le=FAILURE_MODE_ROWS)
    weight: float = Field(default=1.0, gt=0.0)
    min_score: float = Field(default=0.0, ge=0.0, le=100.0)
    policy: Policy | None = None
    load: LoadDoc
    drain: Duration = 10.0
    faults: list[FaultDoc] = Field(default_factory=list)
    slo: SloDoc
    recovery: RecoveryDoc
    expectations: list[ExpectationDoc] = Field(default_factory=list)
    probes: list[ProbeDoc] = Field(default_factory=list)
    unavoidable: list[WindowDoc] = Field(default_factory=list)
    abort: list[AbortDoc] = Field(default_factory=list)
    steady_state: SteadyStateDoc | None = Field(default_factory=SteadyStateDoc)
    acquirer: AcquirerDoc = Field(default_factory=AcquirerDoc)
    terminal: TerminalDoc = Field(default_factory=TerminalDoc)
    # service name -> what the scenario needs of it (checked against the topology)
    needs: dict[str, ServiceNeedsDoc] = Field(default_factory=dict)


class SuiteEntryDoc(_Doc):
    """A scenario in a suite, by catalogue name or file path, with optional overrides."""

    scenario: str = Field(min_length=1)
    weight: float | None = Field(default=None, gt=0.0)
    min_score: float | None = Field(default=None, ge=0.0, le=100.0)


class SuiteDoc(_Doc):
    """A suite file: the scenarios a gate runs and the score it must reach."""

    name: Slug
    description: str = ""
    min_score: float = Field(default=80.0, ge=0.0, le=100.0)
    # ``integrity``: the run refuses to pass (exit 2) when it cannot judge money
    # (no ledger: an external acquirer without a ledger source)
    require: list[Literal["integrity"]] = Field(default_factory=list)
    scenarios: list[Annotated[str, Field(min_length=1)] | SuiteEntryDoc] = Field(min_length=1)

    def entries(self) -> list[SuiteEntryDoc]:
        return [SuiteEntryDoc(scenario=s) if isinstance(s, str) else s for s in self.scenarios]
