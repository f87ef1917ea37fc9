"""summary.md: the scorecard for a pull-request comment or a CI step summary.

GitHub-flavoured Markdown: a headline verdict, one table row per scenario,
then the reasons and findings in collapsible ``<details>`` blocks so a comment
stays short when all is well and says everything when it is not.
"""

from __future__ import annotations

from poslab.report.wording import (
    GATE_WORDS,
    example_words,
    expectations_words,
    integrity_word,
    recovery_words,
    share,
    utc_date,
    verdict,
)
from poslab.scoring.result import COULD_NOT_RUN, FAILED, NOT_AVAILABLE, RunResult

_MARK = {"passed": "✅", "failed": "❌", "could_not_run": "⚠️", "interrupted": "⏹️"}


def _cell(text: object) -> str:
    """Table cells cannot hold pipes or line breaks."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def summary_markdown(result: RunResult) -> str:
    g, run = result.gate, result.run
    out = [
        f"## {_MARK.get(g.status, '')} POS resilience gate {GATE_WORDS.get(g.status, g.status)}"
        f" — suite `{run.get('suite')}` {g.suite_score:.1f} / {g.min_score:g}",
        "",
        f"Run `{run.get('name')}` · policy `{run.get('policy') or '-'}` · seed "
        f"`{run.get('seed')}` · started {utc_date(run.get('started_at'))} · "  # type: ignore[arg-type]
        f"exit code {g.exit_code}",
        "",
        "| Scenario | Score | A | R | E | Recovery | Integrity | Min | Weight | Result |",
        "|---|---:|---:|---:|---:|---|---|---:|---:|---|",
    ]
    for s in result.scenarios:
        c = s.components
        ok = s.passed and s.status != COULD_NOT_RUN
        out.append(
            "| "
            + " | ".join(
                _cell(x)
                for x in (
                    s.name,
                    f"{s.score:.1f}",
                    share(c.get("A", 0.0)),
                    share(c.get("R", 0.0)),
                    expectations_words(s),
                    recovery_words(s),
                    integrity_word(s),
                    f"{s.min_score:g}",
                    f"{s.weight:g}",
                    ("✅ " if ok else "❌ ") + verdict(s),
                )
            )
            + " |"
        )
    if g.reasons:
        out += ["", "**Why the gate did not pass:**", ""]
        out += [f"- {_cell(r)}" for r in g.reasons]
    if g.comparison is not None:
        cmp = g.comparison
        out += [
            "",
            f"<details><summary>Against baseline <code>{cmp.baseline}</code> "
            f"(margin {cmp.margin:g}): suite {cmp.suite_delta:+.1f}</summary>",
            "",
            "| Scenario | Baseline | This run | Δ |",
            "|---|---:|---:|---:|",
        ]
        for d in cmp.deltas:
            base = "—" if d.baseline is None else f"{d.baseline:.1f}"
            mine = "—" if d.candidate is None else f"{d.candidate:.1f}"
            delta = "—" if d.delta is None else f"{d.delta:+.1f}" + (" ❌" if d.dropped else "")
            out.append(f"| {_cell(d.name)} | {base} | {mine} | {delta} |")
        out += ["", "</details>"]
    findings = [(s, k) for s in result.scenarios for k in s.checks if k.status == FAILED]
    if findings:
        out += ["", "<details><summary>Integrity findings</summary>", ""]
        for s, chk in findings:
            out.append(f"- **{_cell(s.name)}** `{chk.kind}` × {chk.count} — {chk.title}")
            out += [f"  - {_cell(example_words(e))}" for e in chk.examples[:3]]
        out += ["", "</details>"]
    missing = sorted(
        {c.kind for s in result.scenarios for c in s.checks if c.status == NOT_AVAILABLE}
    )
    if missing:
        out += ["", f"Not available (no ledger export): {', '.join(f'`{k}`' for k in missing)}."]
    unmet = [(s, e) for s in result.scenarios for e in s.expectations if not e.held]
    if unmet:
        out += ["", "<details><summary>Expectations not held</summary>", ""]
        out += [f"- **{_cell(s.name)}** {e.name} (`{e.kind}`): {_cell(e.detail)}" for s, e in unmet]
        out += ["", "</details>"]
    notes = [f"{s.name}: {n}" for s in result.scenarios for n in s.data_notes] + result.data_notes
    if notes:
        out += ["", "<details><summary>Data notes</summary>", ""]
        out += [f"- {_cell(n)}" for n in notes]
        out += ["", "</details>"]
    return "\n".join(out) + "\n"
