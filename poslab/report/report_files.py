"""Writing the four report files into a run directory, each atomically.

A report is replaced only once its new version is complete (write to a
temporary file beside it, then rename), so a reader — a CI step uploading
artifacts, a person refreshing the HTML — never sees half a file, and an
interrupted ``lab report`` leaves the previous reports intact.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from poslab.common import SHARED, atomic_output, atomic_write
from poslab.report.html_report import report_html
from poslab.report.junit import junit_tree
from poslab.report.markdown import summary_markdown
from poslab.scoring.result import RunResult


@dataclass(frozen=True, slots=True)
class ReportFiles:
    result_json: Path
    junit_xml: Path
    summary_md: Path
    report_html: Path | None

    @classmethod
    def in_dir(cls, out_dir: Path, *, html: bool = True) -> ReportFiles:
        """Where :func:`write_reports` puts them (``html``: with report.html)."""
        return cls(
            out_dir / "result.json",
            out_dir / "junit.xml",
            out_dir / "summary.md",
            out_dir / "report.html" if html else None,
        )


def result_json_text(result: RunResult) -> str:
    return json.dumps(result.to_dict(), ensure_ascii=False, indent=1, allow_nan=False) + "\n"


def write_reports(result: RunResult, out_dir: Path, *, html: bool = True) -> ReportFiles:
    """result.json, junit.xml, summary.md and (unless ``html`` is False) report.html."""
    files = ReportFiles.in_dir(out_dir, html=html)
    # SHARED: reports are read by people and pipelines, not only by this user
    atomic_write(files.result_json, result_json_text(result), mode=SHARED)
    with atomic_output(files.junit_xml, mode=SHARED) as out:
        junit_tree(result).write(out, encoding="UTF-8", xml_declaration=True)
    atomic_write(files.summary_md, summary_markdown(result), mode=SHARED)
    if files.report_html is not None:
        atomic_write(files.report_html, report_html(result), mode=SHARED)
    return files
