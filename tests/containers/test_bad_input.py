"""What the container tooling says when it cannot do its job: exit 2, the reason,
and what would provision the missing piece."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.containers.support import REPO, engine_or_skip

pytestmark = pytest.mark.timeout(180)


def test_lab_run_containers_without_an_engine_exits_2_saying_how_to_get_one(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    done = subprocess.run(
        [sys.executable, "-m", "poslab", "run", "--containers", "acquirer-outage",
         "--runs-dir", str(tmp_path / "runs")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 2, out[-3000:]
    assert "no reachable Docker daemon" in out and "scripts/ensure-docker" in out


@pytest.mark.skipif(os.getuid() != 0 or not shutil.which("setpriv"), reason="needs root, setpriv")
def test_ensure_docker_without_a_daemon_or_root_exits_2_with_the_command(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "LAB_DOCKER_SOCK": f"{tmp_path}/none.sock"}
    done = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
         str(REPO / "scripts" / "ensure-docker")],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "not root" in done.stderr
    assert "to provision one: sudo " in done.stderr and "ensure-docker" in done.stderr
    assert done.stdout == "", "nothing to eval"


def test_a_failing_image_build_exits_2_naming_the_step() -> None:
    engine_or_skip()
    env = {**os.environ, "BASE_IMAGE": "pos-lab/no-such-base:0"}
    done = subprocess.run(
        [str(REPO / "scripts" / "build-images"), "issuer"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=170,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr[-3000:]
    assert "step 'base image' failed: pos-lab/no-such-base:0 cannot be found or pulled" in (
        done.stderr
    )
