"""What scoring produces: the result model behind result.json and every report.

Plain dataclasses, so ``to_dict`` (``dataclasses.asdict``) gives result.json's
body directly; the schema is documented in ``docs/result-schema.md`` and
versioned by :data:`RESULT_VERSION`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

RESULT_SCHEMA = "pos-lab/result"
RESULT_VERSION = 1

# Integrity checks, in report order: (kind, title). Any failed one zeroes the
# scenario's score and fails the gate.
CHECKS: tuple[tuple[str, str], ...] = (
    ("lost_approvals", "approvals the terminal saw that the ledger lacks"),
    ("unreversed_failures", "money moved that the terminal believes failed (never reversed)"),
    ("double_bookings", "the same sale booked twice"),
    ("reversals_not_landed", "reversals acknowledged to the terminal but not applied"),
    ("unresolved", "transactions still unresolved after the drain"),
    ("unbalanced_batches", "batches whose totals disagree"),
    ("wrong_payouts", "payouts that differ from sales minus fees"),
    ("issuer_holds_without_sale", "cardholder holds left without an approved sale"),
)
CHECK_TITLES: dict[str, str] = dict(CHECKS)

PASSED, FAILED, NOT_AVAILABLE = "passed", "failed", "not_available"
SCORED, COULD_NOT_RUN = "scored", "could_not_run"
GATE_PASSED, GATE_FAILED, GATE_COULD_NOT_RUN, GATE_INTERRUPTED = (
    "passed",
    "failed",
    "could_not_run",
    "interrupted",
)
EXIT_CODES: dict[str, int] = {
    GATE_PASSED: 0,
    GATE_FAILED: 1,
    GATE_COULD_NOT_RUN: 2,
    GATE_INTERRUPTED: 130,
}


def mask_pan(pan: object) -> str | None:
    """First 6 + last 4, whatever the producer wrote (reports never show a full PAN)."""
    if pan is None or pan == "":
        return None
    text = str(pan)
    if len(text) <= 10:
        return "*" * len(text) if text.isdigit() else text
    return text[:6] + "*" * (len(text) - 10) + text[-4:]


@dataclass(slots=True)
class Example:
    """One transaction behind a finding."""

    detail: str
    tid: str | None = None
    mid: str | None = None
    stan: str | None = None
    batch: str | None = None
    pan: str | None = None
    t: float | None = None
    amount: int | None = None


@dataclass(slots=True)
class Check:
    """One integrity check of one scenario."""

    kind: str
    title: str
    status: str = PASSED
    count: int = 0
    examples: list[Example] = field(default_factory=list)
    note: str = ""
    example_limit: int = field(default=5, repr=False)

    def add(self, example: Example) -> None:
        self.tally()
        if len(self.examples) < self.example_limit:
            self.examples.append(example)

    def tally(self) -> None:
        """Count one more finding (without an example)."""
        self.count += 1
        self.status = FAILED

    def unavailable(self, why: str) -> None:
        self.status, self.note = NOT_AVAILABLE, why


def new_checks(example_limit: int) -> dict[str, Check]:
    return {k: Check(k, t, example_limit=example_limit) for k, t in CHECKS}


@dataclass(slots=True)
class Availability:
    value: float = 0.0
    judged_seconds: int = 0
    good_seconds: int = 0
    excluded_seconds: int = 0
    idle_seconds: int = 0
    aborted_seconds: int = 0
    note: str = ""


@dataclass(slots=True)
class Recovery:
    value: float = 0.0
    target_s: float = 0.0
    good_seconds: int = 0
    fault_end: float | None = None
    recovered_at: float | None = None
    recovery_s: float | None = None
    note: str = ""


@dataclass(slots=True)
class ExpectationResult:
    name: str
    kind: str
    params: dict[str, Any]
    held: bool
    measured: str = ""
    detail: str = ""


@dataclass(slots=True)
class Series:
    """Per-second figures of one region (or ``all``), columnar; index = second offset."""

    region: str
    attempts: list[int]
    approved: list[int]
    declined: list[int]
    success_ratio: list[float | None]
    p99_ms: list[float | None]
    good: list[bool | None]
    recovered_at_s: float | None = None


@dataclass(slots=True)
class FaultRecord:
    id: str
    kind: str
    target: str
    action: str
    injected_at: float | None
    cleared_at: float | None
    planned_at_s: float | None = None
    planned_for_s: float | None = None


@dataclass(slots=True)
class ScenarioResult:
    name: str
    status: str
    weight: float
    min_score: float
    score: float = 0.0
    passed: bool = False
    reason: str = ""
    run_status: str | None = None
    t0: float | None = None
    duration_s: float = 0.0
    slo: dict[str, float] = field(default_factory=dict)
    components: dict[str, float] = field(default_factory=dict)
    integrity_ok: bool = True
    checks: list[Check] = field(default_factory=list)
    availability: Availability = field(default_factory=Availability)
    recovery: Recovery = field(default_factory=Recovery)
    expectations: list[ExpectationResult] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    faults: list[FaultRecord] = field(default_factory=list)
    unavoidable: list[dict[str, float]] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    data_notes: list[str] = field(default_factory=list)

    @property
    def failed_checks(self) -> list[Check]:
        return [c for c in self.checks if c.status == FAILED]


@dataclass(slots=True)
class ScoreDelta:
    name: str
    baseline: float | None
    candidate: float | None
    delta: float | None
    dropped: bool


@dataclass(slots=True)
class Comparison:
    baseline: str
    margin: float
    deltas: list[ScoreDelta]
    suite_baseline: float
    suite_candidate: float
    suite_delta: float
    suite_dropped: bool

    @property
    def failed(self) -> bool:
        return self.suite_dropped or any(d.dropped for d in self.deltas)


@dataclass(slots=True)
class Gate:
    status: str
    exit_code: int
    suite_score: float
    min_score: float
    reasons: list[str] = field(default_factory=list)
    comparison: Comparison | None = None


@dataclass(slots=True)
class RunResult:
    run: dict[str, Any]
    scenarios: list[ScenarioResult]
    gate: Gate
    generated_at: float
    data_notes: list[str] = field(default_factory=list)
    schema: str = RESULT_SCHEMA
    version: int = RESULT_VERSION

    def to_dict(self) -> dict[str, Any]:
        body = dataclasses.asdict(self)
        for scenario in body["scenarios"]:
            for check in scenario["checks"]:
                check.pop("example_limit", None)
        # schema and version first: readers check them before anything else
        return {"schema": self.schema, "version": self.version, **body}
