"""What the incident cost, in fen: failed sales, and customers left debited.

Two sources, each for what it knows best:

- the fleet journal says which sales the terminals saw fail (``failed`` or
  ``unresolved``) and for how much — during the incident (from the fault
  going in until recovery, or the end of the drill) and over the whole drill;
- the reconciliation of the run directory (:func:`poslab.scoring.score_run`,
  which joins the fleet journal with the acquirer's ledger and the issuer's
  holds exported at the end) says which customers were left debited for a sale
  their terminal believes failed, which holds were left without a sale, and
  any lost approval or double booking.

Amounts stay integer fen; the reports format them as yuan.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from poslab.errors import LabError
from poslab.fleet import iter_journal

#: Enough examples to sum every finding of a drill (they carry the amounts).
_EXAMPLES = 1_000_000


@dataclass(slots=True)
class Finding:
    count: int = 0
    fen: int = 0
    status: str = "not_available"


@dataclass(slots=True)
class MoneyImpact:
    window_start: float | None
    window_end: float
    failed_sales: Finding = field(default_factory=Finding)  # during the incident
    failed_sales_all: Finding = field(default_factory=Finding)  # the whole drill
    debited_without_sale: Finding = field(default_factory=Finding)
    holds_without_sale: Finding = field(default_factory=Finding)
    lost_approvals: Finding = field(default_factory=Finding)
    double_bookings: Finding = field(default_factory=Finding)
    unresolved: Finding = field(default_factory=Finding)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def failed_sales(fleet_dir: Path, start: float | None, end: float) -> tuple[Finding, Finding]:
    """Sales the terminals saw fail: (during ``[start, end)``, over the whole drill)."""
    during, total = Finding(status="measured"), Finding(status="measured")
    for record in iter_journal(fleet_dir):
        if record.get("type") != "sale" or record.get("outcome") not in ("failed", "unresolved"):
            continue
        amount = record.get("amount")
        fen = amount if type(amount) is int else 0
        total.count += 1
        total.fen += fen
        began = record.get("ts_start")
        if start is not None and isinstance(began, int | float) and start <= began < end:
            during.count += 1
            during.fen += fen
    return during, total


def money_impact(run_dir: Path, fleet_dir: Path, start: float | None, end: float) -> MoneyImpact:
    impact = MoneyImpact(window_start=start, window_end=end)
    impact.failed_sales, impact.failed_sales_all = failed_sales(fleet_dir, start, end)
    try:
        from poslab.scoring import score_run

        result = score_run(run_dir, example_limit=_EXAMPLES)
    except LabError as exc:
        impact.notes.append(f"reconciliation not available: {exc}")
        return impact
    if not result.scenarios:
        impact.notes.append("reconciliation not available: run.json lists no scenario")
        return impact
    scenario = result.scenarios[0]
    impact.notes += scenario.data_notes
    checks = {c.kind: c for c in scenario.checks}
    for kind, target in (
        ("unreversed_failures", impact.debited_without_sale),
        ("issuer_holds_without_sale", impact.holds_without_sale),
        ("lost_approvals", impact.lost_approvals),
        ("double_bookings", impact.double_bookings),
        ("unresolved", impact.unresolved),
    ):
        check = checks.get(kind)
        if check is None:
            continue
        target.status = check.status
        target.count = check.count
        target.fen = sum(e.amount or 0 for e in check.examples)
        if check.note:
            impact.notes.append(f"{kind}: {check.note}")
    return impact
