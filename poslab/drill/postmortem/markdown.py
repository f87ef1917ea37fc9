"""``postmortem.md``: the post-incident report as Markdown (for the ticket or the wiki)."""

from __future__ import annotations

from poslab.drill.postmortem.model import Postmortem
from poslab.drill.postmortem.wording import (
    clock,
    headline,
    money_rows,
    params_text,
    pauses_text,
    right_for_failure,
    seconds,
    who,
)
from poslab.report.wording import utc, utc_date


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def table(head: list[str], rows: list[list[object]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def render_markdown(report: Postmortem) -> str:
    inc, money, plan = report.incident, report.money, report.plan
    t0 = inc.t0
    out = [f"# Post-incident report — drill {report.name}", ""]
    out += [f"{utc_date(t0)} · {headline(report)}", ""]
    out += ["## What was hidden", ""]
    out += table(
        ["fault", "from scenario", "went in", "held", "what"],
        [
            [
                p.fault.id,
                p.scenario,
                next(
                    (clock(float(f["t"]), t0) for f in inc.faults if f["id"] == p.fault.id), "never"
                ),
                "until mitigated or the end" if p.held else f"{p.fault.for_s:g} s window",
                p.description,
            ]
            for p in plan.faults
        ],
    )
    out += ["", "## Timeline", ""]
    out += table(
        ["UTC", "drill clock", "since fault", "what", "detail"],
        [
            [
                utc(t),
                clock(t, t0),
                "" if inc.fault_start is None else f"{t - inc.fault_start:+.1f} s",
                what,
                detail,
            ]
            for t, what, detail in report.moments()
        ],
    )
    f = inc.figures()
    out += ["", "## Times (from the fault going in)", ""]
    out += table(
        [
            "first symptom",
            "time to detect",
            "first mitigation",
            "time to mitigate",
            "time to recover",
        ],
        [
            [
                seconds(f["symptom_s"]),
                seconds(f["detect_s"]),
                seconds(f["first_mitigation_s"]),
                seconds(f["mitigate_s"]),
                seconds(f["recover_s"]),
            ]
        ],
    )
    if pauses_text(report):
        out += ["", pauses_text(report)]
    if inc.detect_at is not None:
        named = ", ".join(inc.detect_named) or "none of the failure's words"
        out += ["", f"Detection: “{inc.detect_text}” — names {named}."]
    out += ["", "## Mitigations", ""]
    if inc.mitigations:
        out += table(
            [
                "drill clock",
                "by",
                "action",
                "verdict",
                "result",
                "what followed",
                "signals before",
                "signals after",
            ],
            [
                [
                    clock(m.t, t0),
                    who(m.by),
                    m.action + params_text(m.params),
                    m.verdict,
                    m.result if m.ok else f"FAILED: {m.result}",
                    m.effect,
                    m.signals_before,
                    m.signals_after,
                ]
                for m in inc.mitigations
            ],
        )
    else:
        out.append("None was run.")
    out += ["", f"Right for this failure: {right_for_failure(report)}."]
    out += ["", "## Money impact", ""]
    out += table(["what", "count", "value", "source"], money_rows(money))
    for note in money.notes:
        out.append(f"- note: {note}")
    out += ["", "## Runbook steps", ""]
    out += table(
        ["runbook", "step", "title", "taken", "how"],
        [
            [
                s.runbook,
                s.step.id,
                s.step.title,
                "taken " + clock(s.t, t0) if s.taken and s.t is not None else "skipped",
                "; ".join(s.how[:3]),
            ]
            for s in report.steps
        ],
    )
    out += ["", "## Action items", ""]
    out += [f"{i}. {item}" for i, item in enumerate(report.actions, start=1)]
    notes = [e for e in report.timeline if e.get("event") == "note"]
    if notes:
        out += ["", "## Notes from the team", ""]
        out += [
            f"- {clock(float(n['t']), t0)} {who(n.get('by'))}: {n.get('text', '')}" for n in notes
        ]
    return "\n".join(out) + "\n"
