"""Resolve a scenario's own probes: their types, typed params, intervals and checks.

Part of :mod:`poslab.scenario.spec.resolution`. A probe's ``type`` is looked up
in :mod:`poslab.plugins` (built-in, ``--plugin`` module or entry point); its
``params`` go through the type's own model, so a wrong or missing param is a
problem at ``probes[i].params.<name>`` with its line, like every other field.
Placeholders (``{admin.acquirer}``) are checked by name here and filled in at
run time, once the stack's ports are known.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import ValidationError

from poslab.app_faults import problems
from poslab.plugins import PluginError, probe_class
from poslab.scenario.spec.fault_resolution import FaultResolver
from poslab.scenario.spec.resolved import Expectation, Probe
from poslab.scenario.spec.source import Loc

_PLACEHOLDER = re.compile(r"\{([a-z_]+)(?:\.([A-Za-z0-9_-]+))?\}")
#: placeholder → whether it takes a ``.name`` (the run fills in the values)
_PLACEHOLDERS = {
    "proxy_api": False,
    "scenario_dir": False,
    "admin": True,
    "service": True,
    "proxy": True,
    "agent": True,
}
#: the runner's own probe events (poslab.scenario.runner): a probe may not take their name
RESERVED = frozenset({"slo", "steady_state", "integrity", "settlement"})
#: the shortest interval a probe may be polled at after --time-scale
MIN_INTERVAL_S = 0.1


class ProbeResolver(FaultResolver):
    """The scenario's probes (:meth:`probes`) and the checks they bring (:meth:`probe_checks`)."""

    def probes(self) -> list[Probe]:
        out: list[Probe] = []
        seen: set[str] = set()
        for i, doc in enumerate(self.doc.probes):
            loc: Loc = ("probes", i)
            if doc.name in seen:
                self.found.add((*loc, "name"), f"duplicate probe name {doc.name!r}")
            elif doc.name in RESERVED:
                self.found.add((*loc, "name"), f"{doc.name!r} is the runner's own probe")
            seen.add(doc.name)
            try:
                cls = probe_class(doc.type)
            except PluginError as exc:
                self.found.add((*loc, "type"), str(exc))
                continue
            for key, value in doc.params.items():
                self._placeholders((*loc, "params", key), value)
            try:
                params = cls.Params.model_validate(doc.params)
            except ValidationError as exc:
                for where, msg in problems(exc):
                    self.found.add((*loc, "params", *where), msg)
                continue
            out.append(
                Probe(
                    name=doc.name,
                    type=cls.type,
                    mode=doc.mode,
                    interval_s=max(self.s(doc.interval), MIN_INTERVAL_S),
                    timeout_s=doc.timeout,
                    params=params.model_dump(mode="json"),
                )
            )
        return out

    def probe_checks(self, expectations: Sequence[Expectation]) -> list[Expectation]:
        """A ``probe_ok`` check for each probe with ``expect`` that the scenario does
        not already check itself."""
        checked = {e.params.get("name") for e in expectations if e.kind == "probe_ok"}
        taken = {e.name for e in expectations}
        out = []
        for doc in self.doc.probes:
            name = f"probe-{doc.name}"
            if doc.expect and doc.name not in checked and name not in taken:
                out.append(Expectation(name=name, kind="probe_ok", params={"name": doc.name}))
        return out

    def _placeholders(self, loc: Loc, value: object) -> None:
        texts = value if isinstance(value, list) else [value]
        for text in texts:
            if not isinstance(text, str):
                continue
            for match in _PLACEHOLDER.finditer(text):
                kind, name = match.group(1), match.group(2)
                takes_name = _PLACEHOLDERS.get(kind)
                if takes_name is None or takes_name != (name is not None):
                    known = ", ".join(
                        f"{{{k}.<name>}}" if n else f"{{{k}}}" for k, n in _PLACEHOLDERS.items()
                    )
                    self.found.add(loc, f"unknown placeholder {match.group(0)} (known: {known})")
                elif kind in ("admin", "service") and name not in {
                    s.name.value for s in self.topology.services
                }:
                    self.found.add(loc, f"{match.group(0)}: no service {name!r} in the topology")
                elif kind == "proxy" and name not in self.topology.proxy_names:
                    self.found.add(loc, f"{match.group(0)}: no proxy {name!r} in the topology")
