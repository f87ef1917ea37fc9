"""A run's reports where a pipeline wants them: the ``--junit-xml``,
``--summary`` and ``--json`` copies, and GitHub Actions' step summary.

The run directory's name carries a timestamp, so a CI job cannot know it in
advance; these are fixed paths the job chose. Each is checked before the stack
starts — an unwritable path is exit 2 at once, not after the whole gate ran —
and written atomically (a reader sees the old file or the new one).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from poslab.common import SHARED, atomic_write
from poslab.errors import ConfigError
from poslab.report.report_files import ReportFiles

__all__ = ["PipelineOutputs", "append_step_summary", "check_writable"]


def check_writable(path: Path, what: str) -> None:
    """Raise :class:`ConfigError` (exit 2) unless ``path`` can be (re)placed.

    Creates missing parent folders (``--junit-xml reports/junit.xml`` on a
    fresh clone) and proves the folder takes a new file — what the atomic
    write needs; checking permission bits would be wrong for root.
    """
    if path.is_dir():
        raise ConfigError(f"{what} {path}: is a directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot write there: {exc.strerror or exc}") from exc


@dataclass(frozen=True, slots=True)
class PipelineOutputs:
    """Copies of the run's reports at paths given on the command line."""

    junit_xml: Path | None = None
    summary_md: Path | None = None
    result_json: Path | None = None

    def check(self) -> None:
        for what, path in self._targets():
            check_writable(path, what)

    def write(self, files: ReportFiles) -> None:
        sources = {
            "--junit-xml": files.junit_xml,
            "--summary": files.summary_md,
            "--json": files.result_json,
        }
        for what, path in self._targets():
            try:
                atomic_write(path, sources[what].read_bytes(), mode=SHARED)
            except OSError as exc:  # checked before the run; the disk may fill since
                raise ConfigError(f"{what} {path}: {exc.strerror or exc}") from exc

    def _targets(self) -> list[tuple[str, Path]]:
        given = (
            ("--junit-xml", self.junit_xml),
            ("--summary", self.summary_md),
            ("--json", self.result_json),
        )
        return [(what, path) for what, path in given if path is not None]


def append_step_summary(step_summary: Path, summary_md: Path) -> str | None:
    """Append the run's summary to ``$GITHUB_STEP_SUMMARY``; the problem, if any.

    The step summary is a courtesy: failing to write it never changes the
    verdict, so the problem is returned for a warning instead of raised.
    """
    try:
        text = summary_md.read_text(encoding="utf-8")
        with step_summary.open("a", encoding="utf-8") as out:
            out.write(text if text.endswith("\n") else text + "\n")
    except OSError as exc:
        return f"GITHUB_STEP_SUMMARY {step_summary}: {exc.strerror or exc}"
    return None
