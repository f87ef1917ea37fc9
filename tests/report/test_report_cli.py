"""``lab report`` and ``lab compare`` as a pipeline runs them: real subprocesses,
exit codes, files written into the run directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from poslab.report import write_reports
from poslab.scoring import score_run
from poslab.testing import SyntheticScenario, write_run
from tests.support.processes import lab


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli")
    return {
        "good": write_run(root / "good", [SyntheticScenario(name="a"),
                                          SyntheticScenario(name="b")]),
        "slow": write_run(root / "slow", [SyntheticScenario(name="a", recovery_delay_s=15.0),
                                          SyntheticScenario(name="b")]),
        "lost": write_run(root / "lost", [SyntheticScenario(inject={"lost_approvals": 1})]),
        "dead": write_run(root / "dead", [SyntheticScenario(status="error")]),
        "stopped": write_run(root / "stopped", [SyntheticScenario()], interrupted=True),
    }  # fmt: skip


def test_report_passes_and_writes_every_file(runs: dict[str, Path]) -> None:
    run = runs["good"]
    done = lab("report", run)
    assert done.returncode == 0, done.stderr
    assert "gate PASSED" in done.stdout and "93.3" in done.stdout
    for name in ("result.json", "junit.xml", "summary.md", "report.html"):
        assert (run / name).stat().st_size > 0
    assert json.loads((run / "result.json").read_text())["gate"]["status"] == "passed"


def test_report_regenerates_and_min_score_overrides(runs: dict[str, Path]) -> None:
    run = runs["good"]
    (run / "result.json").unlink(missing_ok=True)
    done = lab("report", run, "--min-score", "95", "--no-html", "-q")
    assert done.returncode == 1
    assert "gate failed: suite score 93.3 (minimum 95)" in done.stdout
    assert json.loads((run / "result.json").read_text())["gate"]["min_score"] == 95


@pytest.mark.parametrize(
    ("name", "code", "words"),
    [
        ("lost", 1, "integrity failed"),
        ("dead", 2, "COULD NOT RUN"),
        ("stopped", 130, "INTERRUPTED"),
    ],
)
def test_report_exit_codes(runs: dict[str, Path], name: str, code: int, words: str) -> None:
    done = lab("report", runs[name], "--no-html")
    assert done.returncode == code, (done.stdout, done.stderr)
    assert words in done.stdout


def test_report_on_something_that_is_not_a_run(tmp_path: Path) -> None:
    done = lab("report", tmp_path)
    assert done.returncode == 2
    assert "no run.json" in done.stderr
    assert "Traceback" not in done.stderr


def test_report_with_baseline_fails_on_a_drop(runs: dict[str, Path]) -> None:
    done = lab("report", runs["slow"], "--baseline", runs["good"], "--no-html")
    assert done.returncode == 1
    assert "below the baseline" in done.stdout
    lenient = lab("report", runs["slow"], "--baseline", runs["good"], "--margin", "50",
                  "--no-html", "--min-score", "0")  # fmt: skip
    assert lenient.returncode == 0, lenient.stdout


def test_compare(runs: dict[str, Path]) -> None:
    same = lab("compare", runs["good"], runs["good"])
    assert same.returncode == 0 and "no score dropped" in same.stdout
    worse = lab("compare", runs["good"], runs["slow"], "--json")
    assert worse.returncode == 1, worse.stderr
    doc = json.loads(worse.stdout)
    deltas = {d["name"]: d for d in doc["deltas"]}
    assert deltas["a"]["dropped"] and deltas["a"]["delta"] < -5
    assert not deltas["b"]["dropped"] and deltas["b"]["delta"] == 0.0
    better = lab("compare", runs["slow"], runs["good"])
    assert better.returncode == 0
    # a result.json works as either side
    write_reports(score_run(runs["good"]), runs["good"], html=False)
    assert lab("compare", runs["good"] / "result.json", runs["good"]).returncode == 0
