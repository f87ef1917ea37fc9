"""Resolve an authored scenario against a topology and the run's options.

Everything that needs the stack's vocabulary is checked here, and every
problem is collected (not just the first) with the path of the field it
belongs to, so the loader can name file, line and field for each:

- targets: proxies and services of the topology, regions of the world;
- network faults: toxic types and attributes (poslab.scenario.spec.toxic_table);
- application, process and fleet faults: names and typed params
  (poslab.scenario.fault_actions); instant actions take no ``for``;
- the timeline: every window inside the load, at least the 0.1 s resolution
  after ``--time-scale``, coexistence on each target (poslab.scenario.spec.coexistence),
  room after the last fault to observe recovery, steady state before the first;
- expectations against poslab.scoring's registry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import JsonValue

from poslab.errors import ConfigError, ScenarioError
from poslab.plugins import PluginError, ensure_expectation_kind
from poslab.scenario.fault_actions import APPLICATION_FAULTS, SERVICE_FAMILY
from poslab.scenario.spec.durations import format_duration, scale_count
from poslab.scenario.spec.fault_resolution import unique_name
from poslab.scenario.spec.model import (
    AcquirerDoc,
    Essential,
    IntegrityBreachDoc,
    P99AboveDoc,
    ScenarioDoc,
    ServiceNeedsDoc,
    SuccessRatioBelowDoc,
)
from poslab.scenario.spec.probe_resolution import ProbeResolver
from poslab.scenario.spec.resolved import (
    AbortCondition,
    Expectation,
    Fault,
    IntegrityBreach,
    Load,
    NetworkFault,
    P99Above,
    Recovery,
    ResolvedScenario,
    Slo,
    SteadyState,
    SuccessRatioBelow,
    Window,
)
from poslab.scenario.spec.source import Loc
from poslab.scoring import validate_expectation
from poslab.stack.topology import Mode, PathRole, ServiceName, Topology

#: Expectation params that name regions (checked against the world).
_REGION_PARAMS = ("regions", "affected")
MAX_TIME_SCALE = 100.0


@dataclass(frozen=True)
class RunOptions:
    """What the run request changes in every scenario (``lab run`` options)."""

    time_scale: float = 1.0
    terminals: int | None = None

    def __post_init__(self) -> None:
        if not 0 < self.time_scale <= MAX_TIME_SCALE:
            raise ConfigError(f"--time-scale must be > 0 and ≤ {MAX_TIME_SCALE:g}")
        if self.terminals is not None and self.terminals < 1:
            raise ConfigError("--terminals must be at least 1")


class _Resolver(ProbeResolver):
    """The whole scenario: faults (from :class:`FaultResolver`) and everything else."""

    def __init__(self, doc: ScenarioDoc, topology: Topology, options: RunOptions) -> None:
        super().__init__(doc, topology, options.time_scale)
        self.options = options
        self.notes: list[str] = []

    # -- the rest of the scenario -----------------------------------------------

    def unavoidable(self, faults: Sequence[Fault]) -> list[Window]:
        windows = [f.window for f in faults if f.unavoidable and f.windowed]
        for i, declared in enumerate(self.doc.unavoidable):
            start, end = self.s(declared.at), self.s(declared.at + declared.for_)
            if end > self.duration_s:
                self.found.add(
                    ("unavoidable", i, "for"),
                    f"window ends after the load ({format_duration(self.duration_s)})",
                )
            windows.append(Window(start_s=start, end_s=min(end, self.duration_s)))
        merged: list[Window] = []
        for window in sorted(windows, key=lambda w: w.start_s):
            if merged and window.start_s <= merged[-1].end_s:
                last = merged.pop()
                window = Window(start_s=last.start_s, end_s=max(last.end_s, window.end_s))
            merged.append(window)
        return merged

    def expectations(self) -> list[Expectation]:
        out: list[Expectation] = []
        taken = {e.name for e in self.doc.expectations if e.name}
        seen: set[str] = set()
        for i, exp in enumerate(self.doc.expectations):
            loc: Loc = ("expectations", i)
            if exp.name is not None and exp.name in seen:
                self.found.add((*loc, "name"), f"duplicate expectation name {exp.name!r}")
            name = exp.name or unique_name(exp.kind.replace("_", "-"), taken)
            seen.add(name)
            taken.add(name)
            try:  # a plugin's kind is loaded (and registered with scoring) on first use
                ensure_expectation_kind(exp.kind)
            except PluginError as exc:
                self.found.add((*loc, "kind"), str(exc))
                continue
            try:
                params = validate_expectation(exp.kind, exp.params)
            except ScenarioError as exc:
                quoted = re.search(r"param(?:\(s\))? '?(\w+)", str(exc))
                where = (*loc, "params", quoted.group(1)) if quoted else (*loc, "params")
                self.found.add(where, str(exc).split(": ", 1)[-1])
                continue
            for pname in _REGION_PARAMS:
                value = params.get(pname)
                if isinstance(value, list):
                    for region in value:
                        if region not in self.topology.regions:
                            self.found.add((*loc, "params", pname), f"unknown region {region!r}")
            out.append(Expectation(name=name, kind=exp.kind, params=self.scaled(params)))
        return out

    def scaled(self, params: Mapping[str, object]) -> dict[str, JsonValue]:
        """Expectation params as JSON; those named ``*_s`` are durations and get scaled."""
        out: dict[str, JsonValue] = {}
        for key, value in params.items():
            if key.endswith("_s") and isinstance(value, int) and not isinstance(value, bool):
                value = scale_count(value, self.options.time_scale)
            elif key.endswith("_s") and isinstance(value, float):
                value = self.s(value)
            assert value is None or isinstance(value, bool | int | float | str | list)
            out[key] = value  # type: ignore[assignment]
        return out

    def abort(self) -> list[AbortCondition]:
        out: list[AbortCondition] = []
        for cond in self.doc.abort:
            if isinstance(cond, SuccessRatioBelowDoc):
                out.append(SuccessRatioBelow(ratio=cond.ratio, for_s=max(self.s(cond.for_), 0.1)))
            elif isinstance(cond, P99AboveDoc):
                out.append(P99Above(ms=cond.ms, for_s=max(self.s(cond.for_), 0.1)))
            else:
                assert isinstance(cond, IntegrityBreachDoc)
                out.append(IntegrityBreach())
        return out

    def steady_state(self, faults: Sequence[Fault]) -> SteadyState | None:
        doc = self.doc.steady_state
        if doc is None:
            return None
        first = min((f.at_s for f in faults), default=self.duration_s)
        within = self.s(doc.within) if doc.within is not None else first
        good = scale_count(doc.good_seconds, self.options.time_scale)
        if within > first:
            self.found.add(
                ("steady_state", "within"),
                f"steady state must be reached before the first fault ({format_duration(first)})",
            )
        elif good > within:
            field_loc = ("steady_state", "within") if doc.within else ("faults", 0, "at")
            self.found.add(
                field_loc,
                f"{good} good seconds cannot fit in the {format_duration(within)} before the "
                f"first fault{self.suffix} (or set steady_state: null)",
            )
        return SteadyState(within_s=within, good_seconds=good, health=doc.health)

    def acquirer(self) -> dict[str, JsonValue]:
        """The acquirer's settings; only a service the lab starts can be given them."""
        doc = self.doc.acquirer
        settings: dict[str, JsonValue] = {
            k: v for k, v in doc.model_dump(exclude_none=True).items() if k != "day_seconds"
        }
        if doc.day_seconds is not None:
            # Days pass on the scenario clock: a shorter run has shorter days.
            day = self.s(doc.day_seconds)
            settings["day_seconds"] = day
            if day <= 0:
                self.found.add(("acquirer", "day_seconds"), f"rounds to nothing{self.suffix}")
        acquirer = self.topology.service("acquirer")
        if acquirer.mode is Mode.EXTERNAL and (acquirer.hooks is None or not acquirer.hooks.reset):
            # Measured on the foreign host: its whole-run payouts, holds and batches
            # read against one scenario's transactions give false failures.
            self.notes.append(
                "the external acquirer keeps its books across the run's scenarios (no reset "
                "hook): a batch, payout or cardholder hold that spans scenarios is judged "
                "on part of its rows (docs/external.md)"
            )
        if not settings or acquirer.mode is Mode.EMBEDDED:
            return settings
        # An external acquirer runs with its own settings: each one the scenario
        # wants is either what the host declares (topology `settings:`), optional
        # (run without it, say so), or essential (the scenario cannot run here).
        wanted = self.doc.needs.get("acquirer", ServiceNeedsDoc()).settings
        for name, value in settings.items():
            have = acquirer.settings.get(name)
            if _same(have, value):
                continue
            theirs = "not declared" if have is None else f"the host runs with {have!r}"
            why = f"acquirer {name} = {value!r}{self.suffix} ({theirs})"
            if wanted.get(name, Essential.ESSENTIAL) is Essential.OPTIONAL:
                self.notes.append(
                    f"runs without {why}: the acquirer is external, the lab cannot impose it"
                )
            else:
                self.unmet.append(f"the acquirer is external and cannot be given {why}")
        return {}

    def unreached_paths(self, faults: Sequence[Fault]) -> None:
        """Network faults on a path an external acquirer does not take: noted.

        The ``issuer`` proxy carries the lab's acquirer to the lab's issuer; a
        host the lab did not write talks to its own issuer, so a fault there
        touches none of its traffic (the scenario runs without it, and says so).
        """
        if self.topology.service("acquirer").mode is not Mode.EXTERNAL:
            return
        unreached = {p.name for p in self.topology.proxies_with(PathRole.ISSUER)}
        for fault in faults:
            if isinstance(fault, NetworkFault) and fault.target in unreached:
                self.notes.append(
                    f"runs without fault {fault.id}: the external acquirer does not reach its "
                    f"issuer through the lab's proxy {fault.target}"
                )

    def needs(self) -> None:
        """The scenario's own ``needs:`` (what its faults need is checked with them)."""
        known_settings = set(AcquirerDoc.model_fields)
        for service_name, need in self.doc.needs.items():
            loc: Loc = ("needs", service_name)
            if service_name not in {s.value for s in ServiceName}:
                known = ", ".join(s.value for s in ServiceName)
                self.found.add(loc, f"unknown service {service_name!r} (known: {known})")
                continue
            for name in need.settings:
                if service_name != "acquirer" or name not in known_settings:
                    self.found.add(
                        (*loc, "settings", name),
                        f"not a setting the lab gives {service_name} "
                        f"(acquirer: {', '.join(sorted(known_settings))})",
                    )
            for what, flag in (("kill", need.killable), ("restart", need.restartable)):
                if flag:
                    if service_name == ServiceName.PROXY.value:
                        self.found.add(loc, "the lab cannot kill the proxy it injects through")
                        continue
                    reason = self.cannot(service_name, what, process=True)
                    if reason is not None:
                        self.unmet.append(f"needs.{service_name}: {reason}")
            family = SERVICE_FAMILY.get(service_name)
            for j, fault in enumerate(need.faults):
                if family is None or fault not in APPLICATION_FAULTS[family]:
                    self.found.add(
                        (*loc, "faults", j), f"{service_name} has no application fault {fault!r}"
                    )
                    continue
                reason = self.cannot(service_name, fault, process=False)
                if reason is not None:
                    self.unmet.append(f"needs.{service_name}: {reason}")

    def terminal(self) -> dict[str, JsonValue]:
        """TerminalConfig overrides, in the fleet config's names and (unscaled) seconds."""
        doc = self.doc.terminal
        settings: dict[str, JsonValue] = {}
        if doc.settle_interval is not None:
            settings["settle_interval_s"] = doc.settle_interval
        if doc.settle_every is not None:
            settings["settle_every"] = doc.settle_every
        if doc.tms_retry is not None:
            settings["tms_retry_s"] = doc.tms_retry
        return settings

    def recovery_room(self, faults: Sequence[Fault], recovery: Recovery) -> None:
        last = max(faults, key=lambda f: f.end_s, default=None)
        if last is None:
            return
        need = recovery.target_s + recovery.good_seconds
        if self.duration_s - last.end_s < need:
            self.found.add(
                ("faults", last.index, "for"),
                f"only {format_duration(round(self.duration_s - last.end_s, 6))} of load after "
                f"the last fault ends: recovery needs target + good_seconds = "
                f"{format_duration(need)}{self.suffix}",
            )


def resolve_scenario(
    doc: ScenarioDoc, topology: Topology, options: RunOptions, source: str
) -> tuple[ResolvedScenario | None, list[tuple[Loc, str]]]:
    """The resolved scenario, or None and every problem found (as paths + messages)."""
    r = _Resolver(doc, topology, options)
    faults = r.faults()
    recovery = Recovery(
        target_s=max(r.s(doc.recovery.target), 0.1),
        good_seconds=scale_count(doc.recovery.good_seconds, options.time_scale),
    )
    r.recovery_room(faults, recovery)
    scenario = dict(
        unavoidable=tuple(r.unavoidable(faults)),
        # the scenario's own checks, then one per probe that brings its own
        expectations=tuple((checks := r.expectations()) + r.probe_checks(checks)),
        probes=tuple(r.probes()),
        abort=tuple(r.abort()),
        steady_state=r.steady_state(faults),
        acquirer=r.acquirer(),
        terminal=r.terminal(),
    )
    r.needs()
    r.unreached_paths(faults)
    if r.found.items:
        return None, r.found.items
    skip = "; ".join(dict.fromkeys(r.unmet)) or None
    load = doc.load
    resolved = ResolvedScenario(
        name=doc.name,
        description=doc.description.strip(),
        source=source,
        failure_mode=doc.failure_mode,
        weight=doc.weight,
        min_score=doc.min_score,
        policy=doc.policy,
        time_scale=options.time_scale,
        load=Load(
            shape=load.shape,
            terminals=options.terminals or load.terminals,
            duration_s=r.duration_s,
            params=dict(load.params),
        ),
        duration_s=r.duration_s,
        drain_s=r.s(doc.drain),
        slo=Slo(success_ratio=doc.slo.success_ratio, p99_ms=doc.slo.p99_ms),
        recovery=recovery,
        faults=tuple(sorted(faults, key=lambda f: (f.at_s, f.index))),
        skip=skip,
        notes=tuple(r.notes),
        **scenario,  # type: ignore[arg-type]
    )
    return resolved, []


def _same(have: JsonValue | None, want: JsonValue) -> bool:
    """A declared setting equals the wanted one (seconds compared to the millisecond)."""
    if isinstance(have, int | float) and isinstance(want, int | float):
        return not isinstance(have, bool) and abs(float(have) - float(want)) < 1e-3
    return have == want
