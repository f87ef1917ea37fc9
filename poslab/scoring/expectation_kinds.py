"""The registry of scenario expectation kinds: names, parameters, validation.

A scenario lists its own checks as ``{"name", "kind", "params"}``; the share of
them that hold is the E component of its score. This module is the vocabulary
those checks may use, so the scenario model can validate a file before any
process starts (``validate_expectation``) and the scorer can evaluate it after
the run (``poslab.scoring.expectations``). Unknown kinds and unknown, missing or
ill-typed params are a :class:`~poslab.errors.ScenarioError` naming what is known.

Windows (the ``window`` param) are measured on the scenario clock:

- ``whole``         the judged load window (scenario start to load end);
- ``before_fault``  scenario start to the first fault's injection;
- ``during_fault``  the union of every fault's window (injected → cleared);
- ``after_fault``   the last fault's end to the load end.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from poslab.errors import ConfigError, ScenarioError

ParamType = Literal["number", "integer", "bool", "string", "string_list", "window"]

WINDOWS: tuple[str, ...] = ("whole", "before_fault", "during_fault", "after_fault")


@dataclass(frozen=True, slots=True)
class ParamSpec:
    """One parameter of an expectation kind."""

    name: str
    type: ParamType
    doc: str
    required: bool = False
    default: object = None
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True, slots=True)
class ExpectationKind:
    """One kind of check a scenario may declare."""

    name: str
    doc: str
    params: tuple[ParamSpec, ...] = ()

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)


def _window(default: str = "whole") -> ParamSpec:
    return ParamSpec("window", "window", f"one of {', '.join(WINDOWS)}", default=default)


_REGIONS = ParamSpec("regions", "string_list", "regions to measure (default: every region)")

_KINDS: tuple[ExpectationKind, ...] = (
    ExpectationKind(
        "success_ratio_min",
        "approved / non-declined financial attempts over the window is at least `min`",
        (
            ParamSpec("min", "number", "lowest share, 0..1", True, None, 0.0, 1.0),
            _window(),
            _REGIONS,
        ),
    ),
    ExpectationKind(
        "p99_max_ms",
        "p99 latency of financial attempts over the window is at most `max_ms`",
        (ParamSpec("max_ms", "number", "highest p99 in ms", True, None, 0.0), _window(), _REGIONS),
    ),
    ExpectationKind(
        "throughput_min_tps",
        "mean approved financial transactions per second over the window is at least `min_tps`",
        (ParamSpec("min_tps", "number", "lowest mean tps", True, None, 0.0), _window(), _REGIONS),
    ),
    ExpectationKind(
        "sign_on_rate_max_multiple",
        "sign-on tries per second (averaged over `window_s`) never exceed k x the baseline "
        "rate (mean before the first fault, cold start included, floored)",
        (
            ParamSpec("k", "number", "allowed multiple of the baseline", True, None, 0.0),
            ParamSpec("window_s", "integer", "moving-average width in seconds", False, 1, 1),
            ParamSpec(
                "baseline_floor_per_s", "number", "lowest baseline, tries/s", False, 1.0, 0.0
            ),
        ),
    ),
    ExpectationKind(
        "region_unaffected",
        "every region not in `affected` keeps its pre-fault success ratio and p99 during "
        "the fault windows (within tolerances)",
        (
            ParamSpec("affected", "string_list", "the regions the fault targets", True),
            ParamSpec("ratio_drop_max", "number", "allowed drop of success ratio", False, 0.01, 0),
            ParamSpec("p99_growth_max", "number", "allowed relative p99 growth", False, 0.5, 0),
            ParamSpec("p99_slack_ms", "number", "allowed absolute p99 growth, ms", False, 50.0, 0),
        ),
    ),
    ExpectationKind(
        "recovered_within_s",
        "the fleet meets the SLO again within `max_s` of the last fault's end",
        (ParamSpec("max_s", "number", "seconds", True, None, 0.0),),
    ),
    ExpectationKind(
        "no_unresolved",
        "no money transaction left unresolved and no reversal pending after the drain",
    ),
    ExpectationKind(
        "reversals_resolved",
        "every sale left with a pending reversal has a reversal the host acknowledged",
    ),
    ExpectationKind(
        "all_batches_settled",
        "every batch the host knows is closed at scenario end (and, with `paid_out`, every "
        "approved row has a settle date and a payout)",
        (ParamSpec("paid_out", "bool", "also require payouts", False, False),),
    ),
    ExpectationKind(
        "backup_path_used",
        "at least `min_count` financial attempts were approved over the backup host path "
        "during the fault windows",
        (ParamSpec("min_count", "integer", "lowest count", False, 1, 1), _REGIONS),
    ),
    ExpectationKind(
        "tickets_failover",
        "at least `min_count` merchant tickets were answered by the backup agent during the "
        "fault windows, and no ticket ended failed or unresolved",
        (ParamSpec("min_count", "integer", "lowest count", False, 1, 1),),
    ),
    ExpectationKind(
        "tms_resumed",
        "at least `min_count` TMS (parameter/software) downloads succeeded after the last "
        "fault's end",
        (ParamSpec("min_count", "integer", "lowest count", False, 1, 1),),
    ),
    ExpectationKind(
        "no_stuck_terminals",
        "of the terminals that transacted before the first fault, at least `min_share` "
        "complete a financial transaction after the last fault's end",
        (ParamSpec("min_share", "number", "share of terminals, 0..1", False, 1.0, 0.0, 1.0),),
    ),
    ExpectationKind(
        "probe_ok",
        "the scenario journaled at least one probe named `name`, and every one was ok",
        (ParamSpec("name", "string", "probe name", True),),
    ),
)

_BY_NAME: dict[str, ExpectationKind] = {k.name: k for k in _KINDS}
EXPECTATION_KINDS: Mapping[str, ExpectationKind] = _BY_NAME
"""Every expectation kind a scenario may use, by name (plugins' kinds included)."""

#: (the scoring context, validated params) -> (held, measured, detail)
PluginEvaluator = Callable[[Any, dict[str, Any]], tuple[bool, str, str]]

#: The evaluators of the kinds plugins registered (the built-in ones live in
#: poslab.scoring.expectations, which reads this table for the others).
PLUGIN_EVALUATORS: dict[str, PluginEvaluator] = {}


def register_expectation_kind(kind: ExpectationKind, evaluator: PluginEvaluator) -> None:
    """Add a plugin's kind (poslab.plugins calls this): validated like the built-in
    ones, evaluated by ``evaluator``. A name already taken is a :class:`ConfigError`
    (the same plugin registering twice is not)."""
    if kind.name in _BY_NAME and PLUGIN_EVALUATORS.get(kind.name) is not evaluator:
        raise ConfigError(f"expectation kind {kind.name!r} is already registered")
    _BY_NAME[kind.name] = kind
    PLUGIN_EVALUATORS[kind.name] = evaluator


def _bad(kind: str, message: str) -> ScenarioError:
    return ScenarioError(f"expectation kind {kind!r}: {message}")


def _coerce(kind: str, spec: ParamSpec, value: object) -> object:
    name = spec.name
    if spec.type == "bool":
        if not isinstance(value, bool):
            raise _bad(kind, f"param {name!r} must be true or false, got {value!r}")
        return value
    if spec.type in ("number", "integer"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _bad(kind, f"param {name!r} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise _bad(kind, f"param {name!r} must be finite, got {value!r}")
        if spec.type == "integer" and value != int(value):
            raise _bad(kind, f"param {name!r} must be a whole number, got {value!r}")
        if spec.minimum is not None and value < spec.minimum:
            raise _bad(kind, f"param {name!r} must be >= {spec.minimum}, got {value!r}")
        if spec.maximum is not None and value > spec.maximum:
            raise _bad(kind, f"param {name!r} must be <= {spec.maximum}, got {value!r}")
        return int(value) if spec.type == "integer" else float(value)
    if spec.type == "string":
        if not isinstance(value, str) or not value:
            raise _bad(kind, f"param {name!r} must be a non-empty string, got {value!r}")
        return value
    if spec.type == "window":
        if value not in WINDOWS:
            raise _bad(kind, f"param {name!r} must be one of {', '.join(WINDOWS)}, got {value!r}")
        return value
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise _bad(kind, f"param {name!r} must be a list of strings, got {value!r}")
    return list(value)


def validate_expectation(kind: str, params: Mapping[str, object] | None) -> dict[str, object]:
    """Check one expectation's kind and params; return the params with defaults filled in.

    Raises :class:`ScenarioError` naming the known kinds (or the kind's params)
    when something is wrong.
    """
    spec = EXPECTATION_KINDS.get(kind)
    if spec is None:
        known = ", ".join(sorted(EXPECTATION_KINDS))
        raise ScenarioError(f"unknown expectation kind {kind!r}; known kinds: {known}")
    given = dict(params or {})
    unknown = sorted(set(given) - set(spec.param_names))
    if unknown:
        allowed = ", ".join(spec.param_names) or "none"
        raise _bad(kind, f"unknown param(s) {', '.join(unknown)}; allowed: {allowed}")
    out: dict[str, object] = {}
    for p in spec.params:
        if p.name in given and given[p.name] is not None:
            out[p.name] = _coerce(kind, p, given[p.name])
        elif p.required:
            raise _bad(kind, f"param {p.name!r} is required ({p.doc})")
        else:
            out[p.name] = p.default
    return out
