"""lab/scoring: pure scoring of a run directory (stdlib only).

Reads the run directory (``docs/run-directory.md``) and turns it into a
reconciliation of every yuan and a resilience score per scenario, the suite
score and the gate (``docs/result-schema.md``).
"""

from lab.scoring.expectation_kinds import (
    EXPECTATION_KINDS,
    WINDOWS,
    ExpectationKind,
    ParamSpec,
    validate_expectation,
)

__all__ = [
    "EXPECTATION_KINDS",
    "WINDOWS",
    "ExpectationKind",
    "ParamSpec",
    "validate_expectation",
]
