"""poslab.plugins: the lab's extension points — probe types, fault actions and
expectation kinds a team adds without editing the lab (docs/plugins.md).

A plugin module registers what it offers with the decorators below and is
named on the command line (``lab run --plugin my_team.lab_plugins``,
``LAB_PLUGINS``), or is found through its distribution's entry points (groups
``poslab.probes``, ``poslab.fault_actions``, ``poslab.expectations``)::

    from poslab.plugins import Probe, ProbeContext, ProbeParams, ProbeResult, probe_type

    class QueueDepthParams(ProbeParams):
        url: str
        max_depth: int = 100

    @probe_type
    class QueueDepth(Probe[QueueDepthParams]):
        type = "queue-depth"
        Params = QueueDepthParams

        async def check(self, ctx: ProbeContext) -> ProbeResult:
            depth = await read_depth(self.params.url)
            return ProbeResult(depth <= self.params.max_depth, depth, f"{depth} queued")

Built in: the ``http``, ``command`` and ``prometheus`` probe types.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from poslab.plugins.api import (
    ActionContext,
    ExpectationEvaluator,
    ExpectationPlugin,
    FaultAction,
    Probe,
    ProbeContext,
    ProbeParams,
    ProbeResult,
)
from poslab.plugins.registry import (
    BUILTIN_PROBES,
    EXPECTATIONS_GROUP,
    FAULT_ACTIONS_GROUP,
    PROBES_GROUP,
    PluginError,
    ensure_expectation_kind,
    fault_action_class,
    load_expectation_entry_points,
    load_plugins,
    probe_class,
    register_expectation,
    register_fault_action,
    register_probe,
)
from poslab.scoring import ExpectationKind, ParamSpec

__all__ = [
    "BUILTIN_PROBES",
    "EXPECTATIONS_GROUP",
    "FAULT_ACTIONS_GROUP",
    "PROBES_GROUP",
    "ActionContext",
    "ExpectationKind",
    "ExpectationPlugin",
    "FaultAction",
    "ParamSpec",
    "PluginError",
    "Probe",
    "ProbeContext",
    "ProbeParams",
    "ProbeResult",
    "ensure_expectation_kind",
    "expectation_kind",
    "fault_action",
    "fault_action_class",
    "load_expectation_entry_points",
    "load_plugins",
    "probe_class",
    "probe_type",
]

P = TypeVar("P", bound=type[Probe[Any]])
F = TypeVar("F", bound=type[FaultAction[Any]])


def probe_type(cls: P) -> P:
    """Class decorator: register a :class:`Probe` subclass under its ``type``."""
    register_probe(cls)
    return cls


def fault_action(cls: F) -> F:
    """Class decorator: register a :class:`FaultAction` subclass under its ``name``
    (scenarios use it as ``kind: plugin``, ``action: <name>``)."""
    register_fault_action(cls)
    return cls


def expectation_kind(
    name: str, doc: str, params: Sequence[ParamSpec] = ()
) -> Callable[[ExpectationEvaluator], ExpectationPlugin]:
    """Decorator of an evaluator ``(ctx, params) -> (held, measured, detail)``:
    register the expectation kind ``name`` with typed ``params``
    (:class:`ParamSpec`, checked like the built-in kinds')."""

    def register(evaluate: ExpectationEvaluator) -> ExpectationPlugin:
        plugin = ExpectationPlugin(ExpectationKind(name, doc, tuple(params)), evaluate)
        register_expectation(plugin, getattr(evaluate, "__module__", "?"))
        return plugin

    return register
