"""The run directory a ``lab run`` writes (docs/run-directory.md, contract v1).

    runs/<UTC %Y%m%dT%H%M%SZ>-<name>/
      run.json  world.json  journal.jsonl
      scenarios/<scenario>/{fleet,locust,services,ledger}/

:class:`RunDirectory` creates the folder (never reusing one: two runs in the
same second get ``-2``, ``-3`` …), writes ``world.json`` from the run's seed,
keeps ``run.json`` current (written at the start with ``finished_at`` null,
rewritten at the end, atomically each time, so a killed run still leaves a
readable one), and exports the acquirer's ledger and the issuer's holds into
``scenarios/<s>/ledger/`` once the drain is over.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import aiohttp

from poslab.common import atomic_output, atomic_write
from poslab.errors import ConfigError, RunDirError
from poslab.scenario.spec.resolved import ResolvedScenario

RUN_FORMAT = 1
#: acquirer export name → file; the issuer's one export is ``issuer``.
ACQUIRER_EXPORTS = ("transactions", "batches", "payouts")
ISSUER_EXPORT = "issuer"
_EXPORT_TIMEOUT_S = 60.0


def lab_version() -> str:
    try:
        return metadata.version("pos-resilience-lab")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def write_json_atomic(path: Path, data: object) -> None:
    """Replace ``path`` atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


@dataclass(frozen=True)
class RunSettings:
    """What was asked of the run (run.json's head)."""

    name: str
    suite: str | None
    seed: int
    terminals: int | None
    time_scale: float
    policy: str
    min_score: float


class RunDirectory:
    """One run's folder and the files the lab itself writes into it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, runs_dir: Path, name: str, now: float | None = None) -> RunDirectory:
        """A new ``<runs_dir>/<UTC>-<name>`` (suffixed when that already exists)."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
        base = f"{stamp}-{name}"
        try:
            runs_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the runs directory {runs_dir}: {exc}") from exc
        for n in range(1, 1000):
            path = runs_dir / (base if n == 1 else f"{base}-{n}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            except OSError as exc:
                raise ConfigError(f"cannot create the run directory {path}: {exc}") from exc
            return cls(path)
        raise ConfigError(f"{runs_dir}: too many runs named {base}")

    # -- paths -------------------------------------------------------------------

    @property
    def run_json(self) -> Path:
        return self.path / "run.json"

    @property
    def world_json(self) -> Path:
        return self.path / "world.json"

    @property
    def journal(self) -> Path:
        return self.path / "journal.jsonl"

    def scenario_dir(self, scenario: str) -> Path:
        path = self.path / "scenarios" / scenario
        path.mkdir(parents=True, exist_ok=True)
        return path

    def ledger_dir(self, scenario: str) -> Path:
        return self.scenario_dir(scenario) / "ledger"

    # -- files the lab writes ----------------------------------------------------

    def write_world(self, seed: int, terminals: int, regions: Sequence[str] | None = None) -> Path:
        """``world.json`` for ``seed``: the same seed and size give the same bytes."""
        from poslab.world import generate, save  # faker is paid only here

        world = (
            generate(seed, terminals)
            if regions is None
            else generate(seed, terminals, regions=tuple(regions))
        )
        save(world, self.world_json)
        return self.world_json

    def write_run_json(
        self,
        settings: RunSettings,
        scenarios: Sequence[ResolvedScenario],
        *,
        started_at: float,
        finished_at: float | None = None,
        interrupted: bool = False,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        body: dict[str, Any] = {
            "format": RUN_FORMAT,
            "name": settings.name,
            "suite": settings.suite,
            "started_at": started_at,
            "finished_at": finished_at,
            "seed": settings.seed,
            "terminals": settings.terminals,
            "time_scale": settings.time_scale,
            "policy": settings.policy,
            "min_score": settings.min_score,
            "lab_version": lab_version(),
            "interrupted": interrupted,
            "scenarios": [s.dump_resolved() for s in scenarios],
        }
        body.update(extra or {})
        write_json_atomic(self.run_json, body)

    def read_run_json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.run_json.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise RunDirError(f"{self.run_json}: {exc}") from exc
        if not isinstance(data, dict):
            raise RunDirError(f"{self.run_json}: not a JSON object")
        return data


async def _download(session: aiohttp.ClientSession, url: str, target: Path) -> int:
    """Stream an NDJSON export into ``target`` (atomically); returns its line count."""
    target.parent.mkdir(parents=True, exist_ok=True)
    lines = 0
    async with session.get(url) as response:
        if response.status != 200:
            body = (await response.text())[:200]
            raise RunDirError(f"GET {url}: HTTP {response.status}: {body}")
        with atomic_output(target) as fh:
            async for chunk in response.content.iter_chunked(1 << 16):
                fh.write(chunk)
                lines += chunk.count(b"\n")
    return lines


async def export_ledger(
    ledger_dir: Path,
    admin: Mapping[str, str],
    *,
    acquirer_db: Path | None = None,
    token: str | None = None,
) -> dict[str, str]:
    """Write ``transactions/batches/payouts.jsonl`` (acquirer) and ``issuer.jsonl``.

    ``admin`` maps service → admin base URL. When the acquirer's admin API does
    not answer (it was killed and did not come back) but its database is known
    (``acquirer_db``, embedded services), the export is read from the database
    by ``python -m poslab.mocks.acquirer export`` instead. Returns, per file, ``ok`` or
    why it is missing: scoring reports a missing file as "not available".
    """
    outcome: dict[str, str] = {}
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    timeout = aiohttp.ClientTimeout(total=_EXPORT_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout, headers=headers) as session:
        jobs: list[tuple[str, str | None, Path]] = [
            (name, admin.get("acquirer"), ledger_dir / f"{name}.jsonl") for name in ACQUIRER_EXPORTS
        ]
        jobs.append((ISSUER_EXPORT, admin.get("issuer"), ledger_dir / f"{ISSUER_EXPORT}.jsonl"))
        for name, base, target in jobs:
            if base is None:
                outcome[name] = "no admin API"
                continue
            try:
                count = await _download(session, f"{base}/admin/export/{name}", target)
                outcome[name] = f"ok ({count} rows)"
            except (aiohttp.ClientError, TimeoutError, OSError, RunDirError) as exc:
                outcome[name] = f"failed: {exc or type(exc).__name__}"
    failed = [n for n in ACQUIRER_EXPORTS if not outcome[n].startswith("ok")]
    if failed and acquirer_db is not None and acquirer_db.exists():
        outcome.update(_export_from_database(acquirer_db, ledger_dir, failed))
    return outcome


def _export_from_database(db: Path, ledger_dir: Path, names: Sequence[str]) -> dict[str, str]:
    """The acquirer's own offline export (SQLite recovers its WAL on open)."""
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "poslab.mocks.acquirer",
                "export",
                "--db",
                str(db),
                "--out",
                str(ledger_dir),
            ],
            capture_output=True,
            text=True,
            timeout=_EXPORT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {n: f"failed offline too: {exc}" for n in names}
    if done.returncode != 0:
        why = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return {n: f"failed offline too: {why[0]}" for n in names}
    return {n: "ok (from the database)" for n in names}
