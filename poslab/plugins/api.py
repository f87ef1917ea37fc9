"""What a plugin writes: a probe type, a fault action, an expectation kind.

Modelled on Chaos Toolkit's providers and Litmus's probes: a scenario names a
probe type or a fault action and gives it ``params``; the plugin declares the
params as a pydantic model, so ``lab scenario validate`` checks them (file,
line and field) before any process starts, and does the work at run time.

- :class:`Probe` — ``check(ctx)`` answers a :class:`ProbeResult` (ok, value,
  detail). The runner calls it in the probe's mode and journals each answer
  as a ``probe`` event; an exception or a timeout is a failed probe with the
  error as its detail, and the run goes on (a probe observes, it never stops
  the run).
- :class:`FaultAction` — ``inject(ctx)`` at the fault's ``at`` and, for a
  windowed action, ``clear(ctx)`` at its end and at every rollback; an
  exception is a fault that could not be injected, as for the built-in kinds.
- :class:`ExpectationPlugin` — a kind of the scenario's own checks: its
  :class:`~poslab.scoring.ExpectationKind` (names and typed params) and an
  evaluator of the scored context, pure like the rest of scoring.
"""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, JsonValue

from poslab.app_faults import FaultParams
from poslab.scoring import ExpectationKind

__all__ = [
    "ActionContext",
    "ExpectationEvaluator",
    "ExpectationPlugin",
    "FaultAction",
    "Probe",
    "ProbeContext",
    "ProbeParams",
    "ProbeResult",
]


class ProbeParams(BaseModel):
    """Base of a probe type's params: unknown params are errors, values immutable.

    String params may hold placeholders filled in at run time, when the
    stack's ports are known: ``{proxy_api}``, ``{admin.<service>}``,
    ``{service.<service>}``, ``{proxy.<proxy>}``, ``{scenario_dir}``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class ProbeResult:
    """One answer of a probe: the verdict, what was measured, and why."""

    ok: bool
    value: JsonValue = None
    detail: str = ""


@dataclass(frozen=True)
class ProbeContext:
    """What a probe may use at run time."""

    scenario: str
    #: the scenario's folder in the run directory (files a probe leaves go there)
    scenario_dir: Path
    #: the folder of the scenario file (a command probe runs there)
    source_dir: Path
    #: seconds the probe's answer may take (the runner cuts it off after that)
    timeout_s: float
    #: the placeholders' values, e.g. ``admin.acquirer`` → ``http://127.0.0.1:41234``
    addresses: Mapping[str, str] = field(default_factory=dict)


P = TypeVar("P", bound=ProbeParams)


class Probe(ABC, Generic[P]):
    """A probe type: ``type`` is the name scenarios use, ``Params`` its params' model."""

    type: ClassVar[str]
    # builtins.type: `type` above names the probe type inside this class
    Params: ClassVar[builtins.type[ProbeParams]]
    summary: ClassVar[str] = ""

    def __init__(self, params: P) -> None:
        self.params = params

    @abstractmethod
    async def check(self, ctx: ProbeContext) -> ProbeResult:
        """Look once and answer; raising is a failed probe (the error is its detail)."""


@dataclass(frozen=True)
class ActionContext:
    """What a fault action may use at run time."""

    scenario: str
    fault_id: str
    #: the fault's ``target`` as the scenario wrote it (the action's name when it gave none)
    target: str
    scenario_dir: Path
    source_dir: Path
    addresses: Mapping[str, str] = field(default_factory=dict)


A = TypeVar("A", bound=FaultParams)


class FaultAction(ABC, Generic[A]):
    """A fault action: ``name`` is what scenarios write as ``action`` (with ``kind:
    plugin``); ``Params`` its params' model; ``windowed`` False for an instant action
    (no ``for``, nothing to clear)."""

    name: ClassVar[str]
    Params: ClassVar[type[FaultParams]]
    summary: ClassVar[str] = ""
    windowed: ClassVar[bool] = True

    def __init__(self, params: A) -> None:
        self.params = params

    @abstractmethod
    async def inject(self, ctx: ActionContext) -> None:
        """Put the fault in place; raising means it is not in place."""

    async def clear(self, ctx: ActionContext) -> None:
        """Undo it (the window's end, or the rollback); must be safe to call twice."""


#: (the scoring context, the validated params) → (held, measured, detail)
ExpectationEvaluator = Callable[[Any, dict[str, Any]], tuple[bool, str, str]]


@dataclass(frozen=True)
class ExpectationPlugin:
    """An expectation kind and its evaluator (see :func:`poslab.plugins.expectation_kind`)."""

    kind: ExpectationKind
    evaluate: ExpectationEvaluator
