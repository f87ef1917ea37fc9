"""The console scorecard printed at the end of ``lab run`` and by ``lab report``."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from poslab.report.wording import (
    GATE_WORDS,
    example_words,
    expectations_words,
    integrity_word,
    recovery_words,
    verdict,
)
from poslab.scoring.result import COULD_NOT_RUN, FAILED, Comparison, RunResult

_STYLE = {"passed": "bold green", "failed": "bold red", "could_not_run": "bold yellow",
          "interrupted": "bold yellow"}  # fmt: skip


def scorecard_table(result: RunResult) -> Table:
    g = result.gate
    table = Table(
        title=f"POS resilience — suite {result.run.get('suite')}",
        caption=f"suite score {g.suite_score:.1f} / minimum {g.min_score:g}",
        show_lines=False,
    )
    table.add_column("scenario", no_wrap=True)
    for name in ("score", "A", "R", "E"):
        table.add_column(name, justify="right")
    table.add_column("recovery")
    table.add_column("integrity", no_wrap=True)
    table.add_column("min", justify="right")
    table.add_column("result", no_wrap=True)
    for s in result.scenarios:
        c = s.components
        word = verdict(s)
        style = "green" if word == "pass" else ("yellow" if s.status == COULD_NOT_RUN else "red")
        table.add_row(
            s.name,
            f"{s.score:.1f}",
            f"{c.get('A', 0.0):.2f}",
            f"{c.get('R', 0.0):.2f}",
            expectations_words(s),
            recovery_words(s),
            Text(integrity_word(s), style="red" if not s.integrity_ok else ""),
            f"{s.min_score:g}",
            Text(word, style=style),
        )
    return table


def comparison_table(comparison: Comparison) -> Table:
    table = Table(title=f"against baseline {comparison.baseline} (margin {comparison.margin:g})")
    for name in ("scenario", "baseline", "this run", "delta"):
        table.add_column(name, justify="left" if name == "scenario" else "right")
    for d in comparison.deltas:
        table.add_row(
            d.name,
            "—" if d.baseline is None else f"{d.baseline:.1f}",
            "—" if d.candidate is None else f"{d.candidate:.1f}",
            Text("—" if d.delta is None else f"{d.delta:+.1f}", style="red" if d.dropped else ""),
        )
    table.add_row(
        "suite",
        f"{comparison.suite_baseline:.1f}",
        f"{comparison.suite_candidate:.1f}",
        Text(f"{comparison.suite_delta:+.1f}", style="red" if comparison.suite_dropped else ""),
    )
    return table


def print_scorecard(result: RunResult, console: Console | None = None, examples: int = 2) -> None:
    """Print the scorecard, the findings (a few examples each) and the gate verdict."""
    console = console or Console()
    console.print(scorecard_table(result))
    for s in result.scenarios:
        for check in s.checks:
            if check.status != FAILED:
                continue
            line = f"{s.name}: {check.kind} × {check.count} — {check.title}"
            console.print(Text.assemble(("✗ ", "red"), line))
            for e in check.examples[:examples]:
                console.print(f"    {example_words(e)}", markup=False, highlight=False)
    if result.gate.comparison is not None:
        console.print(comparison_table(result.gate.comparison))
    g = result.gate
    words = GATE_WORDS.get(g.status, g.status)
    console.print(
        Text(f"gate {words}: suite score {g.suite_score:.1f} (minimum {g.min_score:g}) — "
             f"exit {g.exit_code}", style=_STYLE.get(g.status, ""))
    )  # fmt: skip
    for reason in g.reasons:
        console.print(f"  - {reason}", markup=False, highlight=False)
