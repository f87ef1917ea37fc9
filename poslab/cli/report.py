"""``lab report RUN_DIR`` and ``lab compare A B``: re-score a run, gate on it, compare runs.

``lab report`` regenerates result.json, junit.xml, summary.md and report.html
in the run directory from the run directory alone, prints the scorecard and
exits with the gate's code (0 passed, 1 failed, 2 could not run, 130
interrupted). ``lab compare`` prints per-scenario score deltas between a
baseline and a candidate and exits 1 when a score dropped more than the margin.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import click
from rich.console import Console

from poslab.cli.options import plugin_option
from poslab.report import finish_run
from poslab.report.console import comparison_table
from poslab.scoring import DEFAULT_MARGIN, baseline_scores
from poslab.scoring import compare as compare_scores

__all__ = ["compare", "report"]

_RUN = click.Path(exists=True, path_type=Path)
_MARGIN = click.option(
    "--margin",
    type=click.FloatRange(0, 100),
    default=DEFAULT_MARGIN,
    show_default=True,
    help="points a score may drop below the baseline",
)


@click.command("report")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--min-score",
    type=click.FloatRange(0, 100),
    default=None,
    help="gate threshold for the suite score (default: the suite's own, else 80)",
)
@click.option(
    "--baseline",
    type=_RUN,
    default=None,
    help="a run directory (or result.json) to compare with; a drop beyond --margin fails",
)
@_MARGIN
@click.option("--no-html", is_flag=True, help="skip report.html (the slowest file to write)")
@click.option("--quiet", "-q", is_flag=True, help="print only the gate line")
@plugin_option()
@click.option(
    "--pushgateway",
    metavar="URL",
    envvar="LAB_PUSHGATEWAY",
    help="also push the scored run to this Prometheus Pushgateway (metrics.prom is "
    "rewritten either way)",
)
def report(
    run_dir: Path,
    min_score: float | None,
    baseline: Path | None,
    margin: float,
    no_html: bool,
    quiet: bool,
    pushgateway: str | None,
) -> int:
    """Score RUN_DIR again, write its reports and exit with the gate's verdict."""
    from poslab.plugins import load_expectation_entry_points
    from poslab.report.prometheus import check_pushgateway, export_result

    gateway = check_pushgateway(pushgateway) if pushgateway else None

    # installed plugins' expectation kinds, for a run whose scenarios used them
    for problem in load_expectation_entry_points():
        click.echo(f"lab: warning: {problem}", err=True)
    # CI logs are not terminals: give the scorecard room instead of Rich's 80 columns
    console = Console(quiet=quiet, width=None if sys.stdout.isatty() else 140)
    result = finish_run(
        run_dir,
        min_score=min_score,
        baseline=baseline,
        margin=margin,
        console=console,
        html=not no_html,
    )
    # metrics.prom again, of the new score (the live gauges were the run's own: not in it)
    for problem in export_result(result, run_dir, pushgateway=gateway):
        click.echo(f"lab: warning: {problem}", err=True)
    if quiet:
        click.echo(
            f"gate {result.gate.status}: suite score {result.gate.suite_score:.1f} "
            f"(minimum {result.gate.min_score:g})"
        )
    written = "result.json, junit.xml, summary.md" + ("" if no_html else ", report.html")
    console.print(f"wrote {written} in {run_dir}", highlight=False)
    return result.gate.exit_code


@click.command("compare")
@click.argument("baseline", type=_RUN)
@click.argument("candidate", type=_RUN)
@_MARGIN
@click.option("--json", "as_json", is_flag=True, help="print the comparison as JSON")
def compare(baseline: Path, candidate: Path, margin: float, as_json: bool) -> int:
    """Per-scenario score deltas of CANDIDATE against BASELINE (run directories or
    result.json files); exit 1 when a score dropped more than --margin."""
    base_label, base_scores, base_suite = baseline_scores(baseline)
    _, scores, suite = baseline_scores(candidate)
    comparison = compare_scores(base_label, base_scores, base_suite, scores, suite, margin)
    if as_json:
        click.echo(json.dumps(asdict(comparison), indent=1))
    else:
        Console(width=None if sys.stdout.isatty() else 140).print(comparison_table(comparison))
        dropped = [d.name for d in comparison.deltas if d.dropped]
        if comparison.suite_dropped:
            dropped.append("suite")
        click.echo(
            f"dropped more than {margin:g}: {', '.join(dropped)}" if dropped else "no score dropped"
        )
    return 1 if comparison.failed else 0
