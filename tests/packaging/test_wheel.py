"""The lab as a team installs it: a wheel built from this tree, installed into a
fresh virtualenv outside the repository, runs `lab scenario list` and a short
scenario from a folder that has no checkout in sight.

The virtualenv is new and holds nothing but the wheel (``--no-deps``); a
``.pth`` line lends it the project venv's site-packages for the dependencies,
which are PyPI's business, not the wheel's. So what is tested is the wheel's
own contents — the code, the catalogue, the runbooks, the console script, the
metadata — in seconds rather than a minute of dependency downloads. The
``.pth`` only puts the directory on ``sys.path``: the editable install's own
``.pth`` files in there are not processed, so the checkout cannot leak in
(asserted below: ``poslab`` is imported from the new venv).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]
BUILD_TIMEOUT_S = 240


def _tree_files() -> list[str]:
    """What a fresh clone would hold plus uncommitted work: never build/, .venv/ or
    an egg-info, whose stale contents setuptools would pack into the wheel."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    return [name for name in out.decode().split("\0") if name and (REPO / name).is_file()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    for name in _tree_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, source / name)
    dist = work / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(dist), "."],
        cwd=source, check=True, timeout=BUILD_TIMEOUT_S,
    )  # fmt: skip
    (built,) = dist.glob("pos_resilience_lab-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("venv")
    assert REPO not in home.parents
    env_dir = home / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True, timeout=120
    )
    python = env_dir / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    # the project venv's packages, after the new venv's own: dependencies only
    lender = sysconfig.get_paths()["purelib"]
    Path(purelib, "_lab_dependencies.pth").write_text(lender + "\n", encoding="utf-8")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--no-deps", "--no-index", str(wheel)],
        check=True, timeout=BUILD_TIMEOUT_S,
    )  # fmt: skip
    yield env_dir
    shutil.rmtree(home, ignore_errors=True)


def _lab(
    venv: Path, cwd: Path, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAB_", "PYTHON"))}
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        [str(venv / "bin" / "lab"), *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def test_the_wheel_holds_one_namespace_its_data_and_its_licence(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as whl:
        names = whl.namelist()
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(whl.read(f"{dist_info}/METADATA").decode())
        entry_points = whl.read(f"{dist_info}/entry_points.txt").decode()
    assert {n.split("/")[0] for n in names} == {"poslab", dist_info}
    assert "poslab/catalogue/suites/gate.yaml" in names
    assert "poslab/catalogue/acquirer-outage.yaml" in names
    assert "poslab/drill/runbooks/01-host-unreachable.md" in names
    assert "poslab/loadtests/locustfile.py" in names
    assert f"{dist_info}/licenses/LICENSE" in names
    assert metadata["License-Expression"] == "MIT"
    requires = [Requirement(r) for r in metadata.get_all("Requires-Dist") or []]
    runtime = {r.name: r for r in requires if r.marker is None or "extra" not in str(r.marker)}
    pinned = [str(r) for r in runtime.values() if any(s.operator == "==" for s in r.specifier)]
    assert pinned == [], "ranges, not pins: the lab installs into teams' own environments"
    uvloop = runtime["uvloop"].marker
    assert uvloop is not None and not uvloop.evaluate({"sys_platform": "win32"})
    assert "lab = poslab.cli:main" in entry_points


def test_an_installed_lab_runs_a_scenario_outside_the_repository(
    venv: Path, tmp_path: Path
) -> None:
    where = _lab(venv, tmp_path, "scenario", "list")
    assert where.returncode == 0, where.stderr
    assert f"scenarios in {venv}" in where.stdout  # the wheel's catalogue, not the checkout's
    assert "acquirer-outage" in where.stdout and "gate" in where.stdout

    done = _lab(
        venv, tmp_path,
        "run", "acquirer-outage", "--terminals", "6", "--time-scale", "0.3",
        "--quiet", "--junit-xml", "out/junit.xml", "--json", "-",
        timeout=240,
    )  # fmt: skip
    # passed or failed is the system's business; 2 or 3 would be the lab's
    assert done.returncode in (0, 1), done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert [s["name"] for s in result["scenarios"]] == ["acquirer-outage"]
    assert result["gate"]["exit_code"] == done.returncode
    assert (tmp_path / "out" / "junit.xml").is_file()
    latest = tmp_path / "runs" / "latest"
    assert (latest / "report.html").is_file() and (latest / "world.json").is_file()


def test_container_mode_says_it_needs_a_checkout(venv: Path, tmp_path: Path) -> None:
    # deploy/ builds the images from the source tree: not package data, said so
    done = _lab(venv, tmp_path, "up", "--containers")
    assert done.returncode == 2, done.stderr
    assert "container mode builds the images from a checkout" in done.stderr
    assert not (tmp_path / "runs").exists()  # refused before anything was made
