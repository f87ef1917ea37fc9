"""Resolve a scenario's faults: targets, vocabularies, typed params, timing, coexistence.

Part of the resolution of :mod:`poslab.scenario.spec.resolution`; every problem is
recorded in :class:`Findings` with the path of the field it belongs to.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import ValidationError

from poslab.app_faults import FaultParams, problems
from poslab.plugins import PluginError, fault_action_class
from poslab.scenario.fault_actions import (
    APPLICATION_FAULTS,
    FLEET_ACTIONS,
    PROCESS_ACTIONS,
    SERVICE_FAMILY,
    ActionSpec,
)
from poslab.scenario.spec.coexistence import conflicts
from poslab.scenario.spec.durations import format_duration, scale
from poslab.scenario.spec.model import (
    ApplicationFaultDoc,
    FleetFaultDoc,
    NetworkFaultDoc,
    PluginFaultDoc,
    ProcessFaultDoc,
    ScenarioDoc,
)
from poslab.scenario.spec.resolved import (
    ApplicationFault,
    Fault,
    FleetFault,
    NetworkFault,
    PluginFault,
    ProcessFault,
    Toxic,
)
from poslab.scenario.spec.source import Loc
from poslab.scenario.spec.toxic_table import TOXICS, default_toxic_name
from poslab.stack.topology import Mode, ServiceName, Topology, region_proxy_name

FaultDoc = NetworkFaultDoc | ApplicationFaultDoc | ProcessFaultDoc | FleetFaultDoc | PluginFaultDoc


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
        # worded as the mocks' admin APIs word the same params
        for where, msg in problems(exc):
            self.add(prefix + where, msg)


class FaultResolver:
    """Turns the file's faults into resolved ones, recording every problem."""

    def __init__(self, doc: ScenarioDoc, topology: Topology, time_scale: float) -> None:
        self.doc, self.topology, self.time_scale = doc, topology, time_scale
        self.found = Findings()
        # Needs this topology cannot meet (a fault on an external service without
        # its hook): not errors of the file — the scenario is skipped, with these.
        self.unmet: list[str] = []
        self.duration_s = self.s(doc.load.duration)
        self.suffix = "" if time_scale == 1 else f" at --time-scale {time_scale:g}"

    def s(self, seconds: float) -> float:
        """A duration of the file under the run's time scale."""
        return scale(seconds, self.time_scale)

    # -- faults ---------------------------------------------------------------

    def faults(self) -> list[Fault]:
        out: list[Fault] = []
        taken = {f.id for f in self.doc.faults if f.id is not None}
        seen: set[str] = set()
        for i, fault in enumerate(self.doc.faults):
            if fault.id is not None and fault.id in seen:
                self.found.add(("faults", i, "id"), f"duplicate fault id {fault.id!r}")
            group = fault.id or unique_name(_auto_id(fault), taken)
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
        doc: FaultDoc,
    ) -> list[Fault]:
        loc: Loc = ("faults", i)
        if isinstance(doc, NetworkFaultDoc):
            return self.network(i, group, doc)
        if isinstance(doc, PluginFaultDoc):
            return self.plugin_fault(i, group, doc)
        spec = self.action_spec(loc, doc)
        if spec is None:
            return []
        timing = self.timing(loc, doc, windowed=spec.windowed, name=spec.name)
        params = self.params(loc, spec, doc.params)
        if timing is None or params is None:
            return []
        if not isinstance(doc, FleetFaultDoc):
            unmet = self.cannot(doc.target, spec.name, process=isinstance(doc, ProcessFaultDoc))
            if unmet is not None:
                self.unmet.append(f"faults[{i}]: {unmet}")
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

    def plugin_fault(self, i: int, group: str, doc: PluginFaultDoc) -> list[Fault]:
        """A plugin's fault action (poslab.plugins): its name, its window, its typed params."""
        loc: Loc = ("faults", i)
        try:
            action = fault_action_class(doc.action)
        except PluginError as exc:
            self.found.add((*loc, "action"), str(exc))
            return []
        spec = ActionSpec(action.name, action.Params, action.summary, action.windowed)
        timing = self.timing(loc, doc, windowed=spec.windowed, name=spec.name)
        params = self.params(loc, spec, doc.params)
        if timing is None or params is None:
            return []
        return [
            PluginFault(
                id=group,
                group=group,
                description=doc.description,
                index=i,
                at_s=timing.at_s,
                for_s=timing.for_s,
                unavoidable=timing.unavoidable,
                target=doc.target or doc.action,
                action=spec.name,
                params=params,
            )
        ]

    def action_spec(
        self, loc: Loc, doc: ApplicationFaultDoc | ProcessFaultDoc | FleetFaultDoc
    ) -> ActionSpec | None:
        if isinstance(doc, FleetFaultDoc):
            return _lookup(self.found, (*loc, "action"), "fleet action", doc.action, FLEET_ACTIONS)
        if doc.target not in {s.value for s in ServiceName}:
            known = ", ".join(s.value for s in ServiceName)
            self.found.add((*loc, "target"), f"unknown service {doc.target!r} (known: {known})")
            return None
        if isinstance(doc, ProcessFaultDoc):
            if doc.target == ServiceName.PROXY.value:
                self.found.add((*loc, "target"), "the lab cannot kill the proxy it injects through")
                return None
            return _lookup(
                self.found, (*loc, "action"), "process action", doc.action, PROCESS_ACTIONS
            )
        family = SERVICE_FAMILY.get(doc.target)
        if family is None:
            self.found.add((*loc, "target"), f"{doc.target} has no application faults")
            return None
        table = APPLICATION_FAULTS[family]
        return _lookup(self.found, (*loc, "fault"), f"{family.value} fault", doc.fault, table)

    def cannot(self, target: str, action: str, *, process: bool) -> str | None:
        """Why this topology cannot do ``action`` to ``target`` (None: it can).

        An embedded service can be killed, restarted and faulted through its
        admin API; an external one only through its admin API or its hooks.
        """
        service = self.topology.service(target)
        if process:
            able = service.can_be_killed if action == "kill" else service.can_be_restarted
            if able:
                return None
            hooks = (
                "kill and start (or restart)" if action == "kill" else "restart (or kill and start)"
            )
            return (
                f"{target} is external: the lab cannot {action} it "
                f"(its topology entry has no {hooks} hooks)"
            )
        if service.can_inject(action):
            return None
        return (
            f"{target} is external: the lab cannot switch on {action} "
            f"(no admin address, no hooks.faults.{action} in the topology)"
        )

    def params(self, loc: Loc, spec: ActionSpec, raw: Mapping[str, object]) -> FaultParams | None:
        try:
            return spec.params.model_validate(raw, context={"regions": self.topology.regions})
        except ValidationError as exc:
            self.found.pydantic((*loc, "params"), exc)
            return None

    def timing(
        self,
        loc: Loc,
        doc: FaultDoc,
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


def _lookup(
    found: Findings, loc: Loc, what: str, name: str, table: Mapping[str, ActionSpec]
) -> ActionSpec | None:
    spec = table.get(name)
    if spec is None:
        found.add(loc, f"unknown {what} {name!r} (known: {', '.join(table)})")
    return spec


def _auto_id(doc: FaultDoc) -> str:
    if isinstance(doc, NetworkFaultDoc):
        what = "down" if doc.down else (doc.toxic.type if doc.toxic else "fault")
        base = f"{doc.target or 'regions'}-{what}"
    elif isinstance(doc, ApplicationFaultDoc):
        base = f"{doc.target}-{doc.fault}"
    elif isinstance(doc, PluginFaultDoc):
        base = f"{doc.target or 'plugin'}-{doc.action}"
    else:
        base = f"{doc.target}-{doc.action}"
    return re.sub(r"[^a-z0-9-]+", "-", base.lower()).strip("-") or "fault"


def unique_name(base: str, taken: set[str]) -> str:
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"
