"""What both renderings of the post-incident report say the same way.

The headline, durations and clock offsets, fault parameters and the money
table's rows, shared by :mod:`.markdown` and :mod:`.html` so the ticket and
the page never word a figure differently.
"""

from __future__ import annotations

from poslab.drill.money import MoneyImpact
from poslab.drill.postmortem.model import Postmortem
from poslab.report.wording import yuan


def seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:g} s"


def clock(t: float, t0: float) -> str:
    return f"T{t - t0:+.0f} s"


def headline(report: Postmortem) -> str:
    inc, f = report.incident, report.incident.figures()
    modes = ", ".join(f"{m.row} ({m.title})" for m in report.plan.modes)
    if inc.fault_start is None:
        return f"The hidden failure ({modes}) never went in before the drill ended."
    parts = [f"Hidden failure: {modes}."]
    parts.append(
        "No measurable symptom."
        if inc.symptom_at is None
        else f"First symptom after {seconds(f['symptom_s'])}."
    )
    parts.append(
        "Never declared." if inc.detect_at is None else f"Detected after {seconds(f['detect_s'])}."
    )
    if f["mitigate_s"] is not None:
        parts.append(f"Mitigated after {seconds(f['mitigate_s'])}.")
    if inc.recovered_at is not None:
        if inc.self_healed:
            how = " (by itself)"
        elif inc.credited_to:
            how = f" (after {inc.credited_to})"
        else:
            how = ""
        parts.append(f"Recovered after {seconds(f['recover_s'])}{how}.")
    elif inc.symptom_at is not None:
        parts.append("Not recovered when the drill ended.")
    return " ".join(parts)


def params_text(params: dict[str, object]) -> str:
    if not params:
        return ""

    def text(value: object) -> str:
        # regions=east,north, as the CLI's --param takes it
        return ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)

    return " (" + ", ".join(f"{k}={text(v)}" for k, v in params.items()) + ")"


def money_rows(money: MoneyImpact) -> list[list[object]]:
    rows: list[list[object]] = [
        [
            "sales failed during the incident",
            money.failed_sales.count,
            yuan(money.failed_sales.fen),
            "fleet journal",
        ],
        [
            "sales failed over the whole drill",
            money.failed_sales_all.count,
            yuan(money.failed_sales_all.fen),
            "fleet journal",
        ],
    ]
    for finding, words in (
        (money.debited_without_sale, "customers left debited without a sale"),
        (money.holds_without_sale, "cardholder holds left without a sale"),
        (money.lost_approvals, "approvals missing from the ledger"),
        (money.double_bookings, "sales booked twice"),
        (money.unresolved, "reversals given up (冲正不成功)"),
    ):
        if finding.status == "not_available":
            rows.append([words, "n/a", "", "reconciliation not available"])
        else:
            rows.append([words, finding.count, yuan(finding.fen), "reconciliation"])
    return rows


def right_for_failure(report: Postmortem) -> str:
    """What would have ended this failure: the playbook's right mitigations and what
    neutralises each fault held in place (``use_backup_path regions=east``)."""
    plan = report.plan
    right = plan.right_mitigations()
    if not right:
        return "none needed: the failure ends by itself"
    answers = [f"{fault}: {' or '.join(named)}" for fault, named in plan.answers().items() if named]
    text = ", ".join(right)
    return text + (f" ({'; '.join(answers)})" if answers else "")


def who(by: object) -> str:
    """A participant's name as the report shows it (the CLI's actions carry none)."""
    return str(by) if by else "CLI"


def pauses_text(report: Postmortem) -> str:
    """The facilitator's pauses, which the times leave out ("" when there were none)."""
    pauses = report.incident.pauses
    if not pauses:
        return ""
    total = sum(b - a for a, b in pauses)
    return (
        f"The facilitator paused the drill clock {len(pauses)} time(s), {total:.0f} s in all: "
        "not counted in these times."
    )
