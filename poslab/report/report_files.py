"""Writing the four report files into a run directory, each atomically.

A report is replaced only once its new version is complete (write to a
temporary file beside it, then rename), so a reader — a CI step uploading
artifacts, a person refreshing the HTML — never sees half a file, and an
interrupted ``lab report`` leaves the previous reports intact.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

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


def _atomic(path: Path, write: Callable[[Path], object]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def result_json_text(result: RunResult) -> str:
    return json.dumps(result.to_dict(), ensure_ascii=False, indent=1, allow_nan=False) + "\n"


def write_reports(result: RunResult, out_dir: Path, *, html: bool = True) -> ReportFiles:
    """result.json, junit.xml, summary.md and (unless ``html`` is False) report.html."""
    files = ReportFiles(
        out_dir / "result.json",
        out_dir / "junit.xml",
        out_dir / "summary.md",
        out_dir / "report.html" if html else None,
    )
    _atomic(files.result_json, lambda p: p.write_text(result_json_text(result), encoding="utf-8"))
    _atomic(
        files.junit_xml,
        lambda p: junit_tree(result).write(p, encoding="UTF-8", xml_declaration=True),
    )
    _atomic(files.summary_md, lambda p: p.write_text(summary_markdown(result), encoding="utf-8"))
    if files.report_html is not None:
        _atomic(files.report_html, lambda p: p.write_text(report_html(result), encoding="utf-8"))
    return files
