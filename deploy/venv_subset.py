"""Make a service's venv from the full one by copying installed distributions.

    python3 venv_subset.py /venvs/lock /venvs/acquirer requirements/acquirer.txt [NAME ...]

Used in deploy/Dockerfile's ``deps`` stage: pip installs (and byte-compiles)
every wheel once, into the runner's venv (``lock``); each service's venv is a
fresh venv plus a copy of exactly the files of the distributions its pinned
requirements name (their RECORD) and of the further distributions NAME (any
version: poslab itself), which is what pip would have installed there,
byte-code included — seconds instead of a pip run per image.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned(requirements: Path) -> dict[str, str]:
    pins = {}
    for line in requirements.read_text().splitlines():
        requirement = line.split("#")[0].split(";")[0].strip()
        if requirement and not requirement.startswith("-"):
            name, _, version = requirement.partition("==")
            pins[_normal(name)] = version.strip()
    return pins


def main(source: Path, target: Path, requirements: Path, also: list[str]) -> None:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(target)], check=True)
    source_site = next(source.glob("lib/python3*/site-packages"))
    target_site = next(target.glob("lib/python3*/site-packages"))
    found = {}
    for info in source_site.glob("*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").partition("-")
        found[_normal(name)] = (version, info)
    wanted = pinned(requirements) | {_normal(name): "" for name in also}
    for name, version in wanted.items():
        if name not in found:
            sys.exit(f"venv_subset: {name} is not installed in {source}")
        if version and found[name][0] != version:
            sys.exit(f"venv_subset: {name} is {found[name][0]} in {source}, {version} is pinned")
        for row in (found[name][1] / "RECORD").read_text().splitlines():
            relative = row.split(",")[0]
            src = (source_site / relative).resolve()
            if not src.is_file() or source_site.resolve() not in src.parents:
                continue  # console scripts (bin/) are not needed by the services
            dst = target_site / src.relative_to(source_site.resolve())
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4:])
