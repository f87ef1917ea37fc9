"""A mixed run scored once per module, for every report test."""

from __future__ import annotations

from pathlib import Path

import pytest

from poslab.report import write_reports
from poslab.scoring import RunResult
from tests.report.report_runs import mixed_run


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunResult]:
    run, result = mixed_run(tmp_path_factory.mktemp("mixed"))
    write_reports(result, run)
    return run, result
