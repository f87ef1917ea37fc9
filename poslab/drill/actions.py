"""Action items of a post-incident review, derived from what the drill measured.

Each item names what to change and why, from the facts alone: a detection
that came late or never, one that did not name the failure, a wrong
mitigation, a right one never run, no recovery, runbook steps skipped, money
left wrong. A drill where none of these holds gets one item saying so.
"""

from __future__ import annotations

from collections.abc import Sequence

from poslab.drill.incident import Incident
from poslab.drill.money import MoneyImpact
from poslab.drill.plan import DrillPlan
from poslab.drill.runbooks import StepOutcome
from poslab.report.wording import yuan

#: Beyond these, detection or recovery was too slow for a payment business.
DETECT_TARGET_S = 120.0
RECOVER_TARGET_S = 600.0


def action_items(
    plan: DrillPlan, incident: Incident, money: MoneyImpact, steps: Sequence[StepOutcome]
) -> list[str]:
    items: list[str] = []
    modes = plan.modes
    books = ", ".join(f"runbook {m.row:02d} ({m.runbook})" for m in modes)
    titles = "; ".join(m.title for m in modes)
    figures = incident.figures()
    if incident.fault_start is None:
        return ["The hidden fault never went in (the drill ended first): run a longer drill."]
    if incident.detect_at is None:
        what = f" ({incident.symptom})" if incident.symptom else ""
        items.append(
            f"Nobody declared the incident: alert on the first symptom{what} and practise {books}."
        )
    else:
        late = figures["detect_s"]
        if late is not None and late > DETECT_TARGET_S:
            items.append(
                f"Detection took {late:.0f} s (target {DETECT_TARGET_S:.0f} s): put an alert on "
                f"what showed first — {incident.symptom or 'the dashboard panels of ' + books}."
            )
        if not incident.detect_named:
            items.append(
                f"The detection “{incident.detect_text}” did not name the failure ({titles}): "
                f"walk the diagnosis steps of {books} before acting."
            )
    right = plan.right_mitigations()
    for m in incident.mitigations:
        if m.verdict == "wrong" and not m.before_fault:
            items.append(
                f"`{m.action}` does not address “{titles}” ({m.effect}); "
                f"{books} says: {', '.join(f'`{r}`' for r in right) or 'watch, do not act'}."
            )
        if not m.ok:
            items.append(f"`{m.action}` failed on the stack ({m.result}): fix the tooling.")
    took_right = any(
        m.verdict == "right" and m.ok and not m.before_fault for m in incident.mitigations
    )
    if right and not took_right and not incident.self_healed:
        items.append(f"The right mitigation ({', '.join(f'`{r}`' for r in right)}) was never run.")
    if incident.self_healed and any(not m.before_fault for m in incident.mitigations):
        items.append(
            "The system recovered by itself before any right mitigation: confirm such "
            "incidents on the dashboard before acting."
        )
    if incident.symptom_at is not None and incident.recovered_at is None:
        items.append("The payment world had not recovered when the drill ended: escalate sooner.")
    elif figures["recover_s"] is not None and figures["recover_s"] > RECOVER_TARGET_S:
        items.append(
            f"Recovery took {figures['recover_s']:.0f} s (target {RECOVER_TARGET_S:.0f} s)."
        )
    skipped = [s for s in steps if s.step.section == "diagnosis" and not s.taken]
    if skipped:
        items.append(
            "Diagnosis steps skipped: "
            + "; ".join(f"{s.step.id} {s.step.title} ({s.runbook})" for s in skipped)
            + "."
        )
    if incident.false_alarms:
        items.append(
            f"{len(incident.false_alarms)} detection(s) before the fault existed: "
            "check the dashboard's baseline before declaring."
        )
    debited = money.debited_without_sale
    if debited.count:
        items.append(
            f"{debited.count} customer(s) left debited without a sale ({yuan(debited.fen)}): "
            "refund them and review reversal handling."
        )
    for finding, words in (
        (money.lost_approvals, "approvals missing from the ledger"),
        (money.double_bookings, "sales booked twice"),
    ):
        if finding.count:
            items.append(f"{finding.count} {words}: an integrity failure to investigate first.")
    return items or ["None: detected, mitigated and recovered within targets, money reconciled."]
