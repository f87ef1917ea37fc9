"""``lab up`` is safe under concurrency (issue 18, item 5): a lock, not a check-then-write.

Three ``lab up`` at once with one state file, several rounds: exactly one stack
starts, the others exit 2 naming the stack that runs or starts, and ``lab
down`` stops everything. Two ``lab up`` on one ``--run-dir`` (different state
files): the second is refused naming what runs there, not with "proxy … does
not reach its upstream".
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.harness import kill_all_mentioning, processes_mentioning
from tests.support.processes import LAB, REPO, lab, lab_env

pytestmark = pytest.mark.timeout(300)

ROUNDS = 3


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    kill_all_mentioning(str(tmp_path))


def _service_pids(text: str) -> set[int]:
    return {
        p.pid
        for p in processes_mentioning(text)
        if any(m in " ".join(p.cmdline()) for m in ("poslab.mocks.", "poslab.proxy"))
    }


def _lab_up(state: Path, run_dir: Path, seed: int) -> subprocess.Popen[str]:
    argv = ["up", "--terminals", "12", "--seed", str(seed), "--state", str(state)]
    return subprocess.Popen(
        [*LAB, *argv, "--run-dir", str(run_dir)],
        cwd=REPO,
        env=lab_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_three_simultaneous_lab_up_start_one_stack(workdir: Path, round_: int) -> None:
    state = workdir / "runs" / ".stack.json"
    procs = [_lab_up(state, workdir / "runs" / f"stack-{i}", i) for i in range(3)]
    outcomes = [(p.wait(120), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in outcomes)
    print(f"\nround {round_}: exit codes {codes}")
    assert codes == [0, 2, 2], outcomes
    winner = next(i for i, (code, _, _) in enumerate(outcomes) if code == 0)
    for code, _, err in outcomes:
        if code == 2:
            assert err.count("\n") == 1 and "Traceback" not in err, err
            assert f"stack-{winner}" in err, err  # names the stack that runs or starts
            assert "does not reach its upstream" not in err
    # exactly one stack's services run
    assert _service_pids(str(workdir / "runs" / f"stack-{winner}"))
    for i in range(3):
        if i != winner:
            assert not _service_pids(str(workdir / "runs" / f"stack-{i}")), f"stack-{i} runs"
    done = lab("down", "--state", state, env=lab_env(), timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not _service_pids(str(workdir))


def test_a_second_lab_up_on_a_run_dir_in_use_is_refused(workdir: Path) -> None:
    run_dir = workdir / "runs" / "shared"
    first = lab(
        "up", "--terminals", "12", "--state", workdir / "a.json", "--run-dir", run_dir,
        env=lab_env(), timeout=120,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    second = lab(
        "up", "--terminals", "12", "--state", workdir / "b.json", "--run-dir", run_dir,
        env=lab_env(), timeout=120,
    )  # fmt: skip
    assert second.returncode == 2, second.stderr
    assert "is in use by a running stack" in second.stderr, second.stderr
    assert "does not reach its upstream" not in second.stderr
    assert not (workdir / "b.json").exists()
    done = lab("down", "--state", workdir / "a.json", env=lab_env(), timeout=60)
    assert done.returncode == 0, done.stderr
    assert not _service_pids(str(run_dir))
