"""The CI templates under ci/ run as written, so they cannot rot.

Each template is read as YAML and its shell steps — GitHub's ``run:`` steps,
GitLab's ``script:`` then ``after_script:`` — run in a clean clone of this
repository (committed work only, as CI sees it) with the template's own
environment, with two stand-ins:

- the runner's setup (``actions/checkout``, ``actions/setup-python``, GitLab's
  ``image:``) is the clone plus a fresh virtualenv whose dependencies are lent
  by the project venv (a ``.pth``), ``LAB_PACKAGE`` is a wheel built from the
  clone and ``LAB_CONSTRAINTS`` the clone's lock file, so the install step
  installs the lab at the locked versions without downloading the world;
- ``LAB_GATE_ARGS`` — which the templates read for exactly this — is one short
  scenario instead of the release gate.

Then what the templates promise is checked: the gate step's exit code is the
verdict and decides the job, and the artifacts (JUnit, summary, result.json,
HTML report) are there whatever the verdict. A ``uses:`` step the test does not
know fails it: a template grows only what this test can stand in for.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = REPO / "ci"
SHORT_GATE = "acquirer-outage --terminals 6 --time-scale 0.3"
STOOD_IN = ("actions/checkout@", "actions/setup-python@")
REPORTS = ("junit.xml", "summary.md", "result.json", "report.html")
PRINT_PURELIB = "import sysconfig; print(sysconfig.get_paths()['purelib'])"


@dataclass
class Step:
    name: str
    script: str
    always: bool  # runs after a failed step too


@dataclass
class Job:
    env: dict[str, str]
    steps: list[Step]
    artifacts: list[str]
    junit: str | None = None
    step_summary: bool = False  # GitHub Actions shows $GITHUB_STEP_SUMMARY


@dataclass
class Ran:
    gate_code: int | None = None
    failed: bool = False
    log: list[str] = field(default_factory=list)


def github_job(doc: dict[str, Any]) -> Job:
    (job,) = doc["jobs"].values()
    steps: list[Step] = []
    artifacts: list[str] = []
    for step in job["steps"]:
        always = "always()" in str(step.get("if", ""))
        if "run" in step:
            steps.append(Step(step.get("name", step["run"]), step["run"], always))
        elif step["uses"].startswith("actions/upload-artifact@"):
            assert always, "artifacts must be kept when the gate fails too"
            artifacts += str(step["with"]["path"]).split()
        else:
            assert step["uses"].startswith(STOOD_IN), f"teach this test {step['uses']}"
    env = {k: str(v) for k, v in job.get("env", {}).items()}
    return Job(env, steps, artifacts, step_summary=True)


def gitlab_job(doc: dict[str, Any]) -> Job:
    (job,) = (v for k, v in doc.items() if isinstance(v, dict) and "script" in v)
    steps = [Step("script", "\n".join(job["script"]), False)]
    if "after_script" in job:
        steps.append(Step("after_script", "\n".join(job["after_script"]), True))
    artifacts = job["artifacts"]
    assert artifacts.get("when") == "always", "artifacts must be kept when the gate fails too"
    env = {k: str(v) for k, v in job.get("variables", {}).items()}
    return Job(env, steps, list(artifacts["paths"]), junit=artifacts["reports"]["junit"])


TEMPLATE_JOBS = {"github-actions.yml": github_job, "gitlab-ci.yml": gitlab_job}


def test_every_template_is_run_by_this_test() -> None:
    assert sorted(p.name for p in TEMPLATES.glob("*.yml")) == sorted(TEMPLATE_JOBS)


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean clone of the repository this test runs from, and the lab's wheel built from it."""
    where = tmp_path_factory.mktemp("ci") / "clone"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(REPO), str(where)],
                   check=True, timeout=120)  # fmt: skip
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", "dist", "."],
        cwd=where, check=True, timeout=240,
    )  # fmt: skip
    return where


def _workspace(clone: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A fresh checkout (a clone of the clone) and a fresh virtualenv for one job."""
    checkout = tmp_path / "checkout"
    subprocess.run(["git", "clone", "--quiet", str(clone), str(checkout)], check=True, timeout=60)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)  # fmt: skip
    purelib = subprocess.run(
        [str(venv / "bin" / "python"), "-c", PRINT_PURELIB],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    # pip and the lab's dependencies come from the project venv, after the job's own packages
    Path(purelib, "_lab_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return checkout, venv


def _run_job(job: Job, checkout: Path, env: dict[str, str]) -> Ran:
    ran = Ran()
    for step in job.steps:
        if ran.failed and not step.always:
            ran.log.append(f"skipped: {step.name}")
            continue
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step.script],
            cwd=checkout, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        ran.log.append(
            f"{step.name}: exit {done.returncode}\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
        if "lab run" in step.script:
            ran.gate_code = done.returncode
        ran.failed = ran.failed or done.returncode != 0
    return ran


@pytest.mark.parametrize("template", sorted(TEMPLATE_JOBS))
def test_the_template_installs_the_lab_gates_and_keeps_the_reports(
    template: str, clone: Path, tmp_path: Path
) -> None:
    job = TEMPLATE_JOBS[template](yaml.safe_load((TEMPLATES / template).read_text()))
    # what a pipeline gets unless it says otherwise: the release gate, the lab's ranges
    assert job.env["LAB_GATE_ARGS"] == "--suite gate" and job.env["LAB_CONSTRAINTS"] == ""
    checkout, venv = _workspace(clone, tmp_path)
    (wheel,) = (clone / "dist").glob("pos_resilience_lab-*.whl")
    step_summary = tmp_path / "step_summary.md"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAB_", "PYTHON", "PIP_"))}
    env.pop("VIRTUAL_ENV", None)
    env.update(job.env)
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
        CI="true",
        LAB_PACKAGE=str(wheel),
        # the lab's own lock: the versions the images and CI install (and the lent venv has)
        LAB_CONSTRAINTS="deploy/requirements/lock.txt",
        LAB_GATE_ARGS=SHORT_GATE,
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    if job.step_summary:
        env["GITHUB_STEP_SUMMARY"] = str(step_summary)

    ran = _run_job(job, checkout, env)
    log = "\n".join(ran.log)
    # the short scenario may pass or fail; 2 or 3 would mean the lab could not run it
    assert ran.gate_code in (0, 1), log
    assert ran.failed == (ran.gate_code != 0), log  # the job's verdict is the exit code
    kept = {p.name: p for a in job.artifacts for p in (checkout / a).glob("*")}
    assert set(REPORTS) <= set(kept), (sorted(kept), log)
    result = json.loads(kept["result.json"].read_text())
    assert result["gate"]["exit_code"] == ran.gate_code
    assert [s["name"] for s in result["scenarios"]] == ["acquirer-outage"]
    if job.junit:
        assert (checkout / job.junit).is_file()
    if job.step_summary:
        assert step_summary.read_text() == kept["summary.md"].read_text()
