"""`lab run` for pipelines, without a stack: exit codes, `--help`, the output
paths checked before anything starts, the copies, `--json -`, `--quiet`,
`runs/latest`, `$GITHUB_STEP_SUMMARY` and `--catalogue`/`LAB_SCENARIOS`.

The run itself is a stand-in (``launch_run`` replaced) that leaves a run
directory as a real run does; tests/cli_kit/test_ci_templates.py and
tests/packaging run the real thing.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import poslab.scenario
from poslab.cli import main
from poslab.cli.exit_codes import ENVIRONMENT, ExitCode
from poslab.scenario import CATALOGUE_DIR
from poslab.scenario.launch import Launched
from poslab.scenario.runner import RunOutcome

REPO = Path(__file__).resolve().parents[2]
RESULT = {"schema": "pos-lab/result", "gate": {"status": "failed", "exit_code": 1}}


def _lab(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    code = info.value.code
    return (code if isinstance(code, int) else 0), out, err


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """``launch_run`` that writes the report files a judged run leaves; the plans it got."""
    plans: list[Any] = []

    def launch_run(plan: Any, judge: Any, *, console: Any, **options: Any) -> Launched:
        plans.append(plan)
        run_dir = plan.runs_dir / f"20260101T00000{len(plans)}Z-{plan.settings.name}"
        run_dir.mkdir(parents=True)
        (run_dir / "result.json").write_text(json.dumps(RESULT) + "\n", encoding="utf-8")
        (run_dir / "junit.xml").write_text("<testsuites/>\n", encoding="utf-8")
        (run_dir / "summary.md").write_text("## gate failed\n", encoding="utf-8")
        console.print("scorecard for people")
        return Launched(run_dir, RunOutcome(run_dir), "failed", 1)

    monkeypatch.setattr(poslab.scenario, "launch_run", launch_run)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("LAB_SCENARIOS", raising=False)
    return plans


def test_help_lists_the_exit_codes_and_the_environment(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _lab(["run", "--help"], capsys)
    assert code == 0
    for exit_code in ExitCode:
        assert re.search(rf"^\s+{int(exit_code)}\s+\S", out, re.M), exit_code
    # every LAB_ variable that `lab run` itself or the servers it starts read
    read = {
        name
        for path in ("cli/run.py", "cli/options.py", "server_runtime.py")
        for name in re.findall(r"\bLAB_[A-Z_]+\b", (REPO / "poslab" / path).read_text())
    }
    assert read <= set(ENVIRONMENT), read - set(ENVIRONMENT)
    for name in ENVIRONMENT:
        assert name in out


def test_an_unwritable_junit_path_is_exit_2_before_anything_starts(
    stand_in: list[Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("", encoding="utf-8")
    argv = ["run", "acquirer-outage", "--runs-dir", str(tmp_path / "runs")]
    code, _, err = _lab([*argv, "--junit-xml", str(not_a_dir / "junit.xml")], capsys)
    assert code == ExitCode.COULD_NOT_RUN
    assert "--junit-xml" in err and "cannot write there" in err
    assert stand_in == []  # the stack never started
    assert not (tmp_path / "runs").exists()


def test_copies_latest_link_and_step_summary(
    stand_in: list[Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    step_summary = tmp_path / "step_summary.md"
    step_summary.write_text("earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    out_dir = tmp_path / "out" / "nested"  # missing folders are made
    runs = tmp_path / "runs"
    for _ in range(2):  # the second run moves the link
        code, out, _ = _lab(
            ["run", "acquirer-outage", "--runs-dir", str(runs),
             "--junit-xml", str(out_dir / "junit.xml"), "--summary", str(out_dir / "summary.md"),
             "--json", str(out_dir / "result.json")],
            capsys,
        )  # fmt: skip
        assert code == ExitCode.GATE_FAILED
    assert (out_dir / "junit.xml").read_text() == "<testsuites/>\n"
    assert (out_dir / "summary.md").read_text() == "## gate failed\n"
    assert json.loads((out_dir / "result.json").read_text()) == RESULT
    latest = runs / "latest"
    assert latest.is_symlink() and not Path(latest.readlink()).is_absolute()
    assert latest.resolve() == sorted(runs.glob("2026*"))[-1].resolve()
    assert step_summary.read_text() == "earlier step\n" + "## gate failed\n" * 2
    assert "scorecard for people" in out


def test_json_to_stdout_keeps_stdout_for_the_json(
    stand_in: list[Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["run", "acquirer-outage", "--runs-dir", str(tmp_path), "--json", "-"]
    code, out, err = _lab(argv, capsys)
    assert code == ExitCode.GATE_FAILED
    assert json.loads(out) == RESULT
    assert "scorecard for people" in err and "gate failed (exit 1)" in err


def test_quiet_prints_the_verdict_line_only(
    stand_in: list[Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _lab(["run", "acquirer-outage", "--runs-dir", str(tmp_path), "-q"], capsys)
    assert code == ExitCode.GATE_FAILED
    assert out.splitlines() == [f"run directory {tmp_path}/20260101T000001Z-acquirer-outage: "
                                "gate failed (exit 1)"]  # fmt: skip
    assert err == ""


def test_a_crash_is_exit_3_never_1(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def launch_run(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug in the runner")

    monkeypatch.setattr(poslab.scenario, "launch_run", launch_run)
    code, _, err = _lab(["run", "acquirer-outage", "--runs-dir", str(tmp_path)], capsys)
    assert code == ExitCode.INTERNAL_ERROR
    assert "RuntimeError: a bug in the runner" in err and "internal error" in err


def _own_catalogue(tmp_path: Path) -> Path:
    own = tmp_path / "our-scenarios"
    (own / "suites").mkdir(parents=True)
    text = (CATALOGUE_DIR / "acquirer-outage.yaml").read_text(encoding="utf-8")
    (own / "our-outage.yaml").write_text(
        text.replace("name: acquirer-outage", "name: our-outage"), encoding="utf-8"
    )
    (own / "suites" / "ours.yaml").write_text(
        "name: ours\nscenarios:\n  - our-outage\n", encoding="utf-8"
    )
    return own


@pytest.mark.parametrize("how", ["option", "environment"])
def test_every_command_reads_the_same_catalogue(
    how: str,
    stand_in: list[Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    own = _own_catalogue(tmp_path)
    extra = ["--catalogue", str(own)] if how == "option" else []
    if how == "environment":
        monkeypatch.setenv("LAB_SCENARIOS", str(own))
    runs = ["--runs-dir", str(tmp_path / "runs")]
    for argv in (
        ["scenario", "validate", "our-outage", "ours"],
        ["scenario", "show", "our-outage"],
        ["run", "our-outage", "--dry-run"],
        ["run", "--suite", "ours", "--dry-run"],
        ["run", "our-outage", *runs],
    ):
        code, _, err = _lab([*argv, *extra], capsys)
        assert code in (0, 1), (argv, err)
    assert [s.name for s in stand_in[0].scenarios] == ["our-outage"]
    # the lab's own names are not in that catalogue
    code, _, err = _lab(["run", "acquirer-outage", "--dry-run", *extra], capsys)
    assert code == ExitCode.COULD_NOT_RUN and "no scenario named acquirer-outage" in err
