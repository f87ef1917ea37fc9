"""Errors a user can cause or meet end in one clear line and exit 2 (issue 18, items 3 and 7).

A full disk (a small tmpfs as the runs directory, and one that fills during a
run), a read-only runs directory, a ledger of random bytes, corrupt SQLite
files under each service, a state file that is not UTF-8, a port in use: each
is "could not run" (2) with nothing left running, never "gate failed" (1) and
never a traceback (3). And SIGTERM while the reports are written leaves no
report that calls the run passed.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from poslab.cli.run import _judge
from poslab.scenario.runner import RunOutcome
from poslab.testing.synthetic import write_run
from poslab.testing.synthetic_scenario import SyntheticScenario
from poslab.world import generate, save
from tests.reliability.harness import kill_all_mentioning, processes_mentioning
from tests.support.processes import LAB, REPO, lab, lab_env

pytestmark = pytest.mark.timeout(240)

SCENARIO = """\
name: full-disk-check
load: {terminals: 20, duration: 30s}
drain: 2s
steady_state: null
faults:
  - id: north-latency
    kind: network
    target: region-north
    toxic: {type: latency, stream: downstream, attributes: {latency: 200}}
    at: 10s
    for: 5s
slo: {success_ratio: 0.9, p99_ms: 3000}
recovery: {target: 5s, good_seconds: 2}
"""


def one_line_error(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("lab: error:")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    return lines[0]


Mount = Callable[..., Path]


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Mount]:
    """Mount a tmpfs (``size``, ``ro``) at a fresh folder; unmounted in teardown."""
    mounted: list[Path] = []

    def mount(size: str, *, readonly: bool = False) -> Path:
        where = tmp_path / f"mnt{len(mounted)}"
        where.mkdir()
        options = f"size={size}" + (",ro" if readonly else "")
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
        mounted.append(where)
        return where

    yield mount
    for where in reversed(mounted):
        kill_all_mentioning(str(where))
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_runs_directory_on_a_2_mb_tmpfs_is_could_not_run(tmpfs: Mount, tmp_path: Path) -> None:
    runs = tmpfs("2m")
    scenario = tmp_path / "full-disk-check.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    done = lab("run", scenario, "--runs-dir", runs, env=lab_env(), timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "MiB free" in one_line_error(done.stderr)
    assert not processes_mentioning(str(runs))


def test_a_disk_that_fills_during_the_run_is_could_not_run(tmpfs: Mount, tmp_path: Path) -> None:
    runs = tmpfs("80m")
    scenario = tmp_path / "full-disk-check.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    with (tmp_path / "run.log").open("wb") as log:
        proc = subprocess.Popen(
            [*LAB, "run", str(scenario), "--runs-dir", str(runs), "--seed", "3"],
            cwd=REPO, env=lab_env(), stdout=log, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
    deadline = time.monotonic() + 90
    while not list(runs.glob("*/scenarios/*/fleet/*.jsonl")):
        assert time.monotonic() < deadline and proc.poll() is None, "the load never started"
        time.sleep(0.2)
    # the disk fills under the running services and fleet
    with (runs / "filler").open("wb") as filler:
        try:
            while True:
                filler.write(b"\0" * (1 << 20))
        except OSError:
            pass
    _, err = proc.communicate(timeout=150)
    assert proc.returncode == 2, err
    assert "the disk filled up during the run" in one_line_error(err)
    run_dir = next(p for p in runs.iterdir() if p.is_dir())
    assert not processes_mentioning(str(run_dir)), "rollback left something running"
    assert not (run_dir / "result.json").exists()  # no verdict on a run that could not book


def test_a_read_only_runs_directory_is_could_not_run(tmpfs: Mount, tmp_path: Path) -> None:
    runs = tmpfs("100m", readonly=True)
    scenario = tmp_path / "full-disk-check.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    done = lab("run", scenario, "--runs-dir", runs / "sub", env=lab_env(), timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Read-only file system" in one_line_error(done.stderr)


def test_a_ledger_of_random_bytes_is_unreadable_not_a_failed_gate(tmp_path: Path) -> None:
    run = write_run(tmp_path, [SyntheticScenario(name="s1")])
    ledger = run / "scenarios" / "s1" / "ledger" / "transactions.jsonl"
    ledger.write_bytes(os.urandom(20_000))
    done = lab("report", run, "--no-html", "-q", env=lab_env(), timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "unreadable" in one_line_error(done.stderr)


@pytest.fixture(scope="module")
def world_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("world") / "world.json"
    save(generate(5, 12), path)
    return path


@pytest.mark.parametrize(
    ("service", "argv"),
    [
        ("acquirer", ["poslab.mocks.acquirer", "--issuer", "127.0.0.1:9"]),
        ("agent", ["poslab.mocks.agent", "--name", "primary"]),
        ("issuer", ["poslab.mocks.issuer"]),
    ],
)
def test_a_corrupt_database_stops_a_service_with_one_line(
    tmp_path: Path, world_file: Path, service: str, argv: list[str]
) -> None:
    db = tmp_path / f"{service}.sqlite"
    db.write_bytes(b"SQLite format 3\0" + os.urandom(8192))  # a header, then garbage
    done = subprocess.run(
        [sys.executable, "-m", *argv, "--world", str(world_file), "--db", str(db)],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if str(db) in line]
    assert len(errors) == 1, done.stderr


@pytest.mark.parametrize("command", ["status", "down"])
@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"\xff\xfe\x00not json at all\x80", "not UTF-8"),
        (b'{"format": 1, "run_d', "Unterminated string"),
        (b'{"format": 1, "run_dir": 3}', "run_dir: Input should be a valid string (and 5 more)"),
    ],
)
def test_a_state_file_that_cannot_be_read_is_named(
    tmp_path: Path, command: str, content: bytes, said: str
) -> None:
    state = tmp_path / ".stack.json"
    state.write_bytes(content)
    done = lab(command, "--state", state, env=lab_env(), timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert said in one_line_error(done.stderr)


def test_a_port_in_use_is_could_not_run(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        topology = tmp_path / "topology.yaml"
        topology.write_text(
            f'services:\n  acquirer: {{address: "127.0.0.1:{port}"}}\n', encoding="utf-8"
        )
        run_dir = tmp_path / "stack"
        done = lab(
            "up", "--terminals", "12", "--topology", topology, "--run-dir", run_dir,
            "--state", tmp_path / "state.json", env=lab_env(), timeout=120,
        )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("lab: error: service acquirer exited"), done.stderr
    assert "address already in use" in done.stderr.splitlines()[0]  # the cause, first
    assert not processes_mentioning(str(run_dir))
    assert not (tmp_path / "state.json").exists()


# -- SIGTERM while the reports are written (item 7) ------------------------------------


def test_sigterm_while_reports_are_written_leaves_no_passed_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The signal lands after result.json and junit.xml, while summary.md is
    written (as ``_sigterm_interrupts`` turns SIGTERM into KeyboardInterrupt):
    the run exits 130 and no report of it says "passed, exit 0"."""
    from rich.console import Console

    import poslab.report.report_files as report_files

    run = write_run(tmp_path, [SyntheticScenario(name="s1")])

    def interrupted(*_: object) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(report_files, "summary_markdown", interrupted)
    judge = _judge(None, None, Console(quiet=True))
    with pytest.raises(KeyboardInterrupt):
        judge(run, RunOutcome(run))
    for name in ("result.json", "junit.xml", "summary.md", "report.html"):
        assert not (run / name).exists(), f"{name} stands after the interruption"


def test_sigterm_while_a_real_run_writes_its_reports_exits_130(tmp_path: Path) -> None:
    """The real thing: SIGTERM sent the moment result.json appears. Either it
    lands while the reports are written (exit 130, none of them left saying
    passed) or after (the reports are whole and the run's exit is its verdict)."""
    scenario = tmp_path / "full-disk-check.yaml"
    scenario.write_text(SCENARIO.replace("30s", "16s").replace("at: 10s", "at: 3s"), "utf-8")
    runs = tmp_path / "runs"
    proc = subprocess.Popen(
        [*LAB, "run", str(scenario), "--runs-dir", str(runs), "--seed", "3"],
        cwd=REPO, env=lab_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 150
    while not list(runs.glob("*/result.json")):
        assert time.monotonic() < deadline and proc.poll() is None, "no result.json"
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    print(f"\nSIGTERM as result.json appeared: exit {proc.returncode}")
    run_dir = next(p for p in runs.iterdir() if p.is_dir() and not p.is_symlink())
    if proc.returncode == 130:
        assert "score the run again with: lab report" in err, err
        for name in ("result.json", "junit.xml", "summary.md", "report.html"):
            assert not (run_dir / name).exists(), name
    else:
        assert proc.returncode in (0, 1, -signal.SIGTERM), err
        assert (run_dir / "report.html").exists()
