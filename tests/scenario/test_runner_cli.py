"""`lab run` before anything starts: validation, usage errors, the dry run."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from poslab.cli import main


def _lab(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    captured = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 0), captured.out + captured.err


def test_dry_run_prints_the_timeline_and_the_drawn_terminals_without_a_socket(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def no_socket(*args: object, **kwargs: object) -> None:
        raise AssertionError("the dry run opened a socket")

    monkeypatch.setattr(socket, "socket", no_socket)
    args = ["run", "response-timeout-reversal", "--dry-run", "--seed", "5", "--time-scale", "0.5"]
    code, out = _lab([*args, "--runs-dir", str(tmp_path / "runs")], capsys)
    assert code == 0, out
    assert "dry run of response-timeout-reversal: seed 5" in out
    assert "+3s  inject       proxy region-north toxic timeout" in out
    assert "fleet draw terminals-crash: 15 terminals: 100000" in out
    assert not (tmp_path / "runs").exists()  # nothing was created either
    # the same seed draws the same terminals
    code, again = _lab([*args, "--runs-dir", str(tmp_path / "runs")], capsys)
    assert again == out


def test_bad_input_is_refused_before_anything_starts(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\nload: {duration: 10s}\nslo: {success_ratio: 0.9, p99_ms: 100}\n"
        "recovery: {target: 2s}\nfaults:\n"
        "  - {kind: network, target: region-nowhere, down: true, at: 1s, for: 2s}\n",
        encoding="utf-8",
    )
    runs = tmp_path / "runs"
    code, out = _lab(["run", str(bad), "--runs-dir", str(runs)], capsys)
    assert code == 2
    assert f"{bad}:6: faults[0].target" in out and "region-nowhere" in out
    assert not runs.exists()

    code, out = _lab(["run", "acquirer-outage", "--suite", "gate"], capsys)
    assert code == 2 and "not both" in out
    code, out = _lab(["run"], capsys)
    assert code == 2 and "at least one scenario" in out
    code, out = _lab(["run", "peak-hour", "peak-hour", "--dry-run"], capsys)
    assert code == 2 and "named twice" in out
    code, out = _lab(["run", "--suite", "no-such-suite", "--dry-run"], capsys)
    assert code == 2 and "no suite named no-such-suite" in out


def test_suite_dry_run_uses_the_suites_pass_mark_unless_told(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = _lab(["run", "--suite", "gate", "--dry-run"], capsys)
    assert code == 0 and "min score 80;" in out
    code, out = _lab(["run", "--suite", "gate", "--dry-run", "--min-score", "65"], capsys)
    assert code == 0 and "min score 65;" in out and out.count("\nscenario ") == 5


def test_the_verdict_baseline_interruption_and_a_dead_stack(tmp_path: Path) -> None:
    from rich.console import Console

    from poslab.cli.run import _judge
    from poslab.scenario import RunOutcome
    from poslab.testing import SyntheticScenario, write_run

    good = write_run(tmp_path / "a", [SyntheticScenario(name="outage")])
    slower = SyntheticScenario(name="outage", recovery_delay_s=25.0)
    worse = write_run(tmp_path / "b", [slower])
    console = Console(file=open(tmp_path / "console.txt", "w"), width=120)  # noqa: SIM115

    status, code = _judge(None, None, console)(good, RunOutcome(good))
    assert (status, code) == ("passed", 0)
    # the same run, but its scores dropped more than the margin below a baseline
    status, code = _judge(50.0, good, console)(worse, RunOutcome(worse))
    assert (status, code) == ("failed", 1)
    result = (worse / "result.json").read_text()
    assert "below the baseline" in result
    # an interrupted run is scored and reported, and exits 130 whatever the gate said
    assert _judge(None, None, console)(good, RunOutcome(good, interrupted=True)) == (
        "interrupted", 130)  # fmt: skip
    # a stack that would not start: exit 2, the service's error printed
    dead = RunOutcome(good, stack_failure="scenario outage: acquirer: disk on fire")
    assert _judge(None, None, console)(good, dead) == ("could_not_run", 2)
    console.file.close()
    assert "disk on fire" in (tmp_path / "console.txt").read_text()
