"""poslab/report: a scored run as result.json, junit.xml, summary.md, report.html and a
console scorecard. Depends on poslab.scoring, never the other way.

For ``lab run`` (and anything else that ends a run): :func:`finish_run` scores
the run directory, writes the four files into it, prints the scorecard and
returns the result, whose ``gate.exit_code`` is the process's exit code.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from poslab.report.console import print_scorecard, scorecard_table
from poslab.report.pipeline_outputs import PipelineOutputs, append_step_summary, check_writable
from poslab.report.report_files import ReportFiles, result_json_text, write_reports
from poslab.scoring import DEFAULT_MARGIN, RunResult, score_run


def finish_run(
    run_dir: Path | str,
    *,
    min_score: float | None = None,
    baseline: Path | str | None = None,
    margin: float = DEFAULT_MARGIN,
    console: Console | None = None,
    html: bool = True,
) -> RunResult:
    """Score ``run_dir``, write its reports, print the scorecard; return the result."""
    result = score_run(run_dir, min_score=min_score, baseline=baseline, margin=margin)
    write_reports(result, Path(run_dir), html=html)
    print_scorecard(result, console)
    return result


__all__ = [
    "PipelineOutputs",
    "ReportFiles",
    "append_step_summary",
    "check_writable",
    "finish_run",
    "print_scorecard",
    "result_json_text",
    "scorecard_table",
    "write_reports",
]
