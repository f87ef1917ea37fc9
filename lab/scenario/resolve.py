"""Resolve an authored scenario against a topology and the run's options.

Everything that needs the stack's vocabulary is checked here, and every
problem is collected (not just the first) with the path of the field it
belongs to, so the loader can name file, line and field for each:

- targets: proxies and services of the topology, regions of the world;
- network faults: toxic types and attributes (lab.scenario.toxic_table);
- application, process and fleet faults: names and typed params
  (lab.scenario.fault_actions); instant actions take no ``for``;
- the timeline: every window inside the load, at least the 0.1 s resolution
  after ``--time-scale``, coexistence on each target (lab.scenario.coexistence),
  room after the last fault to observe recovery, steady state before the first;
- expectations against lab.scoring's registry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import JsonValue, ValidationError

from lab.errors import ConfigError, ScenarioError
from lab.scenario.coexistence import conflicts
from lab.scenario.durations import format_duration, scale, scale_count
from lab.scenario.fault_actions import (
    APPLICATION_FAULTS,
    FLEET_ACTIONS,
    PROCESS_ACTIONS,
    SERVICE_FAMILY,
    ActionSpec,
    Params,
)
from lab.scenario.model import (
    ApplicationFaultDoc,
    FleetFaultDoc,
    IntegrityBreachDoc,
    NetworkFaultDoc,
    P99AboveDoc,
    ProcessFaultDoc,
    ScenarioDoc,
    SuccessRatioBelowDoc,
)
from lab.scenario.resolved import (
    AbortCondition,
    ApplicationFault,
    Expectation,
    Fault,
    FleetFault,
    IntegrityBreach,
    Load,
    NetworkFault,
    P99Above,
    ProcessFault,
    Recovery,
    ResolvedScenario,
    Slo,
    SteadyState,
    SuccessRatioBelow,
    Toxic,
    Window,
)
from lab.scenario.source import Loc
from lab.scenario.toxic_table import TOXICS, default_toxic_name
from lab.scoring import EXPECTATION_KINDS, validate_expectation
from lab.stack.topology import Mode, ServiceName, Topology, region_proxy_name

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


@dataclass(frozen=True)
class _Timing:
    at_s: float
    for_s: float
    unavoidable: bool


@dataclass
class Findings:
    """Problems found so far, as (path, message)."""

    items: list[tuple[Loc, str]] = field(default_factory=list)

    def add(self, loc: Loc, message: str) -> None:
        self.items.append((loc, message))

    def pydantic(self, prefix: Loc, exc: ValidationError) -> None:
        for err in exc.errors(include_url=False):
            msg = err["msg"].removeprefix("Value error, ").replace("Input should be", "must be", 1)
            if err["type"] == "extra_forbidden":
                msg = "unknown param"
            elif err["type"] == "missing":
                msg = "required param missing"
            self.add(prefix + tuple(err["loc"]), msg)


class _Resolver:
    def __init__(self, doc: ScenarioDoc, topology: Topology, options: RunOptions) -> None:
        self.doc, self.topology, self.options = doc, topology, options
        self.found = Findings()
        self.duration_s = self.s(doc.load.duration)
        self.suffix = "" if options.time_scale == 1 else f" at --time-scale {options.time_scale:g}"

    def s(self, seconds: float) -> float:
        return scale(seconds, self.options.time_scale)

    # -- faults ---------------------------------------------------------------

    def faults(self) -> list[Fault]:
        out: list[Fault] = []
        taken = {f.id for f in self.doc.faults if f.id is not None}
        seen: set[str] = set()
        for i, fault in enumerate(self.doc.faults):
            if fault.id is not None and fault.id in seen:
                self.found.add(("faults", i, "id"), f"duplicate fault id {fault.id!r}")
            group = fault.id or _unique(_auto_id(fault), taken)
            seen.add(group)
            taken.add(group)
            out += self.fault(i, group, fault)
        for conflict in conflicts(out):
            e = conflict.earlier
            when = f"{format_duration(e.at_s)}–{format_duration(e.end_s)}"
            self.found.add(
                ("faults", conflict.later.index),
                f"overlaps fault {e.id!r} ({when}) on {conflict.later.target}: {conflict.reason}",
            )
        return out

    def fault(
        self,
        i: int,
        group: str,
        doc: NetworkFaultDoc | ApplicationFaultDoc | ProcessFaultDoc | FleetFaultDoc,
    ) -> list[Fault]:
        loc: Loc = ("faults", i)
        if isinstance(doc, NetworkFaultDoc):
            return self.network(i, group, doc)
        spec = self.action_spec(loc, doc)
        if spec is None:
            return []
        timing = self.timing(loc, doc, windowed=spec.windowed, name=spec.name)
        params = self.params(loc, spec, doc.params)
        if timing is None or params is None:
            return []
        common = {
            "id": group,
            "group": group,
            "description": doc.description,
            "index": i,
            "at_s": timing.at_s,
            "for_s": timing.for_s,
            "unavoidable": timing.unavoidable,
            "action": spec.name,
            "params": params,
        }
        if isinstance(doc, ApplicationFaultDoc):
            return [ApplicationFault.model_validate({**common, "target": doc.target})]
        if isinstance(doc, ProcessFaultDoc):
            return [ProcessFault.model_validate({**common, "target": doc.target})]
        return [FleetFault.model_validate(common)]

    def action_spec(
        self, loc: Loc, doc: ApplicationFaultDoc | ProcessFaultDoc | FleetFaultDoc
    ) -> ActionSpec | None:
        if isinstance(doc, FleetFaultDoc):
            return _lookup(self.found, (*loc, "action"), "fleet action", doc.action, FLEET_ACTIONS)
        if doc.target not in {s.value for s in ServiceName}:
            known = ", ".join(s.value for s in ServiceName)
            self.found.add((*loc, "target"), f"unknown service {doc.target!r} (known: {known})")
            return None
        service = self.topology.service(doc.target)
        if isinstance(doc, ProcessFaultDoc):
            if service.name is ServiceName.PROXY:
                self.found.add((*loc, "target"), "the lab cannot kill the proxy it injects through")
                return None
            if not service.can_be_killed:
                self.found.add(
                    (*loc, "target"), f"{doc.target} is external: the lab cannot kill it"
                )
                return None
            return _lookup(
                self.found, (*loc, "action"), "process action", doc.action, PROCESS_ACTIONS
            )
        family = SERVICE_FAMILY.get(doc.target)
        if family is None:
            self.found.add((*loc, "target"), f"{doc.target} has no application faults")
            return None
        if not service.has_admin_api:
            self.found.add(
                (*loc, "target"),
                f"{doc.target} is external without an admin address: "
                "application faults cannot be switched on in it",
            )
            return None
        table = APPLICATION_FAULTS[family]
        return _lookup(self.found, (*loc, "fault"), f"{family.value} fault", doc.fault, table)

    def params(self, loc: Loc, spec: ActionSpec, raw: Mapping[str, object]) -> Params | None:
        try:
            return spec.params.model_validate(raw, context={"regions": self.topology.regions})
        except ValidationError as exc:
            self.found.pydantic((*loc, "params"), exc)
            return None

    def timing(
        self,
        loc: Loc,
        doc: NetworkFaultDoc | ApplicationFaultDoc | ProcessFaultDoc | FleetFaultDoc,
        *,
        windowed: bool,
        name: str,
    ) -> _Timing | None:
        """When the fault starts and how long it lasts after scaling; None when unusable."""
        if windowed and doc.for_ is None:
            self.found.add((*loc, "for"), "required field missing (how long the fault lasts)")
            return None
        if not windowed and doc.for_ is not None:
            self.found.add((*loc, "for"), f"{name} is instant: it takes no `for`")
            return None
        at_s = self.s(doc.at)
        for_s = round(self.s(doc.at + doc.for_) - at_s, 6) if doc.for_ is not None else 0.0
        run = format_duration(self.duration_s)
        if at_s >= self.duration_s:
            self.found.add(
                (*loc, "at"), f"starts at or after the end of the load ({run}){self.suffix}"
            )
            return None
        if windowed and for_s <= 0:
            self.found.add((*loc, "for"), f"window shorter than 0.1 s{self.suffix}")
            return None
        if at_s + for_s > self.duration_s + 1e-9:
            self.found.add(
                (*loc, "for"),
                f"window {format_duration(at_s)}–{format_duration(at_s + for_s)} extends past "
                f"the end of the load ({run}){self.suffix}",
            )
            return None
        return _Timing(at_s, for_s, doc.unavoidable)

    def network(self, index: int, group: str, doc: NetworkFaultDoc) -> list[Fault]:
        loc: Loc = ("faults", index)
        proxies = self.network_targets(loc, doc)
        timing = self.timing(loc, doc, windowed=True, name="network fault")
        toxic = self.toxic(loc, doc) if doc.toxic is not None else None
        if proxies is None or timing is None or (doc.toxic is not None and toxic is None):
            return []
        expanded = doc.regions is not None
        return [
            NetworkFault(
                id=f"{group}@{proxy}" if expanded else group,
                group=group,
                description=doc.description,
                index=index,
                at_s=timing.at_s,
                for_s=timing.for_s,
                unavoidable=timing.unavoidable,
                target=proxy,
                action="down" if doc.down else "toxic",
                toxic=toxic,
            )
            for proxy in proxies
        ]

    def network_targets(self, loc: Loc, doc: NetworkFaultDoc) -> list[str] | None:
        if doc.target is not None:
            if doc.target not in self.topology.proxy_names:
                known = ", ".join(self.topology.proxy_names)
                self.found.add((*loc, "target"), f"unknown proxy {doc.target!r} (known: {known})")
                return None
            return [doc.target]
        regions = list(self.topology.regions) if doc.regions == "all" else list(doc.regions or [])
        ok = True
        for j, region in enumerate(regions):
            if region not in self.topology.regions or region in regions[:j]:
                what = "listed twice" if region in regions[:j] else "unknown region"
                known = ", ".join(self.topology.regions)
                self.found.add((*loc, "regions", j), f"{what} {region!r} (world: {known})")
                ok = False
        if not regions:
            self.found.add((*loc, "regions"), "name at least one region (or `all`)")
            ok = False
        return [region_proxy_name(r) for r in regions] if ok else None

    def toxic(self, loc: Loc, doc: NetworkFaultDoc) -> Toxic | None:
        assert doc.toxic is not None
        spec = TOXICS.get(doc.toxic.type)
        tloc: Loc = (*loc, "toxic")
        if spec is None:
            known = ", ".join(TOXICS)
            self.found.add(
                (*tloc, "type"), f"unknown toxic type {doc.toxic.type!r} (known: {known})"
            )
            return None
        if spec.iso8583 and self.topology.service(ServiceName.PROXY).mode is Mode.EXTERNAL:
            self.found.add(
                (*tloc, "type"), f"{spec.name} is served only by the embedded proxy, not Toxiproxy"
            )
            return None
        problems = spec.problems(doc.toxic.attributes)
        for attribute, reason in problems:
            where = (*tloc, "attributes", attribute) if attribute else (*tloc, "attributes")
            self.found.add(where, reason)
        if problems:
            return None
        return Toxic(
            name=doc.toxic.name or default_toxic_name(spec.name, doc.toxic.stream),
            type=spec.name,
            stream=doc.toxic.stream,
            toxicity=doc.toxic.toxicity,
            attributes=dict(doc.toxic.attributes),
        )

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
            name = exp.name or _unique(exp.kind.replace("_", "-"), taken)
            seen.add(name)
            taken.add(name)
            kind = EXPECTATION_KINDS.get(exp.kind)
            if kind is None:
                known = ", ".join(sorted(EXPECTATION_KINDS))
                self.found.add(
                    (*loc, "kind"), f"unknown expectation kind {exp.kind!r} (known: {known})"
                )
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
        expectations=tuple(r.expectations()),
        abort=tuple(r.abort()),
        steady_state=r.steady_state(faults),
    )
    if r.found.items:
        return None, r.found.items
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
        **scenario,  # type: ignore[arg-type]
    )
    return resolved, []


def _lookup(
    found: Findings, loc: Loc, what: str, name: str, table: Mapping[str, ActionSpec]
) -> ActionSpec | None:
    spec = table.get(name)
    if spec is None:
        found.add(loc, f"unknown {what} {name!r} (known: {', '.join(table)})")
    return spec


def _auto_id(doc: NetworkFaultDoc | ApplicationFaultDoc | ProcessFaultDoc | FleetFaultDoc) -> str:
    if isinstance(doc, NetworkFaultDoc):
        what = "down" if doc.down else (doc.toxic.type if doc.toxic else "fault")
        base = f"{doc.target or 'regions'}-{what}"
    elif isinstance(doc, ApplicationFaultDoc):
        base = f"{doc.target}-{doc.fault}"
    else:
        base = f"{doc.target}-{doc.action}"
    return re.sub(r"[^a-z0-9-]+", "-", base.lower()).strip("-") or "fault"


def _unique(base: str, taken: set[str]) -> str:
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"
