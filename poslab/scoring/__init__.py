"""poslab/scoring: pure scoring of a run directory (stdlib only).

Reads the run directory (``docs/run-directory.md``) and turns it into a
reconciliation of every yuan and a resilience score per scenario, the suite
score and the gate (``docs/result-schema.md``). The entry points:

- :func:`score_run` — a :class:`RunResult` for a run directory;
- :func:`gate` — only the verdict (``.status``, ``.exit_code``, ``.reasons``);
- :data:`EXPECTATION_KINDS` / :func:`validate_expectation` — the vocabulary of
  scenario expectations, for the scenario model's validation.
"""

from poslab.scoring.expectation_kinds import (
    EXPECTATION_KINDS,
    WINDOWS,
    ExpectationKind,
    ParamSpec,
    validate_expectation,
)
from poslab.scoring.gate import DEFAULT_MARGIN, DEFAULT_MIN_SCORE, compare, scenario_score
from poslab.scoring.result import (
    CHECKS,
    EXIT_CODES,
    RESULT_SCHEMA,
    RESULT_VERSION,
    Comparison,
    Gate,
    RunResult,
    ScenarioResult,
    mask_pan,
)
from poslab.scoring.scorer import baseline_scores, gate, score_run

__all__ = [
    "CHECKS",
    "DEFAULT_MARGIN",
    "DEFAULT_MIN_SCORE",
    "EXIT_CODES",
    "EXPECTATION_KINDS",
    "RESULT_SCHEMA",
    "RESULT_VERSION",
    "WINDOWS",
    "Comparison",
    "ExpectationKind",
    "Gate",
    "ParamSpec",
    "RunResult",
    "ScenarioResult",
    "baseline_scores",
    "compare",
    "gate",
    "mask_pan",
    "scenario_score",
    "score_run",
    "validate_expectation",
]
