"""The run directory as scoring sees it: run.json, the lab journal, the file paths.

Everything here follows ``docs/run-directory.md`` (contract v1). ``run.json`` is
the lab's own artifact, so a malformed one is a :class:`~poslab.errors.RunDirError`
(the CLI's exit code 2); the journals written by other processes are read
forgivingly (see :mod:`poslab.scoring.jsonl`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from poslab.errors import RunDirError
from poslab.scoring.jsonl import ReadStats, read_all, read_json_object

SUPPORTED_FORMATS = (1,)
#: What a run may ``require`` of its scoring (run.json, additive): ``integrity``
#: — every integrity check must be available, or the gate cannot pass.
REQUIREMENTS = ("integrity",)


@dataclass(frozen=True, slots=True)
class Window:
    """Seconds on the scenario clock, ``start_s`` inclusive, ``end_s`` exclusive."""

    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class FaultSpec:
    id: str
    at_s: float
    for_s: float
    kind: str
    target: str


@dataclass(frozen=True, slots=True)
class ExpectationSpec:
    name: str
    kind: str
    params: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class ScenarioSpec:
    """A resolved scenario as run.json carries it (the fields scoring needs)."""

    name: str
    weight: float
    min_score: float
    duration_s: float
    drain_s: float
    success_ratio: float
    p99_ms: float
    recovery_target_s: float
    good_seconds: int
    unavoidable: tuple[Window, ...]
    expectations: tuple[ExpectationSpec, ...]
    faults: tuple[FaultSpec, ...]
    # what the scenario ran without (a setting an external service could not
    # take): shown with the scenario's data notes
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RunInfo:
    format: int
    name: str
    suite: str
    started_at: float | None
    finished_at: float | None
    seed: int | None
    terminals: int | None
    time_scale: float
    policy: str
    min_score: float | None
    lab_version: str
    interrupted: bool
    scenarios: tuple[ScenarioSpec, ...]
    require: tuple[str, ...] = ()


@dataclass(slots=True)
class FaultWindow:
    """One fault as it really happened (journal times, epoch seconds)."""

    id: str
    kind: str
    target: str
    action: str
    injected_at: float | None = None
    cleared_at: float | None = None
    clear_reason: str | None = None


@dataclass(slots=True)
class ScenarioJournal:
    """The lab's events for one scenario."""

    t0: float | None = None
    status: str | None = None
    detail: str | None = None
    finished_at: float | None = None
    load_started: float | None = None
    load_stopped: float | None = None
    aborted_at: float | None = None
    pending_reversals: int | None = None
    faults: dict[str, FaultWindow] = field(default_factory=dict)
    probes: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


def _num(obj: Mapping[str, Any], key: str, where: str, default: float | None = None) -> float:
    value = obj.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RunDirError(f"run.json: {where}.{key} must be a number, got {value!r}")
    return float(value)


def _obj(obj: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = obj.get(key)
    if not isinstance(value, dict):
        raise RunDirError(f"run.json: {where}.{key} must be an object, got {value!r}")
    return value


def _list(obj: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = obj.get(key) or []
    if not isinstance(value, list):
        raise RunDirError(f"run.json: {where}.{key} must be a list, got {value!r}")
    return value


def _scenario(raw: Any, index: int) -> ScenarioSpec:
    where = f"scenarios[{index}]"
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not raw["name"]:
        raise RunDirError(f"run.json: {where} must be an object with a name")
    where = f"scenarios[{raw['name']}]"
    slo = _obj(raw, "slo", where)
    recovery = _obj(raw, "recovery", where)
    windows = []
    for i, w in enumerate(_list(raw, "unavoidable", where)):
        if not isinstance(w, dict):
            raise RunDirError(f"run.json: {where}.unavoidable[{i}] must be an object")
        windows.append(Window(_num(w, "start_s", where), _num(w, "end_s", where)))
    expectations = []
    for i, e in enumerate(_list(raw, "expectations", where)):
        if not isinstance(e, dict) or not isinstance(e.get("kind"), str):
            raise RunDirError(f"run.json: {where}.expectations[{i}] needs a kind")
        params = e.get("params") or {}
        if not isinstance(params, dict):
            raise RunDirError(f"run.json: {where}.expectations[{i}].params must be an object")
        expectations.append(ExpectationSpec(str(e.get("name") or e["kind"]), e["kind"], params))
    faults = []
    for i, f in enumerate(_list(raw, "faults", where)):
        if not isinstance(f, dict):
            raise RunDirError(f"run.json: {where}.faults[{i}] must be an object")
        faults.append(
            FaultSpec(
                str(f.get("id", i)),
                _num(f, "at_s", where, 0.0),
                _num(f, "for_s", where, 0.0),
                str(f.get("kind", "")),
                str(f.get("target", "")),
            )
        )
    min_score = raw.get("min_score")
    good = _num(recovery, "good_seconds", f"{where}.recovery")
    if good < 1 or good != int(good):
        raise RunDirError(f"run.json: {where}.recovery.good_seconds must be a whole number >= 1")
    return ScenarioSpec(
        name=raw["name"],
        weight=_num(raw, "weight", where, 1.0),
        min_score=0.0 if min_score is None else _num(raw, "min_score", where),
        duration_s=_num(raw, "duration_s", where),
        drain_s=_num(raw, "drain_s", where, 0.0),
        success_ratio=_num(slo, "success_ratio", f"{where}.slo"),
        p99_ms=_num(slo, "p99_ms", f"{where}.slo"),
        recovery_target_s=_num(recovery, "target_s", f"{where}.recovery"),
        good_seconds=int(good),
        unavoidable=tuple(windows),
        expectations=tuple(expectations),
        faults=tuple(faults),
        notes=tuple(str(n) for n in raw.get("notes") or () if isinstance(n, str)),
    )


def load_run_info(run_dir: Path) -> RunInfo:
    """Parse ``run.json``; raises RunDirError when it is missing or malformed."""
    path = run_dir / "run.json"
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: not a directory")
    raw = read_json_object(path, f"{run_dir}: no run.json (is this a run directory?)", str(path))
    fmt = raw.get("format")
    if fmt not in SUPPORTED_FORMATS:
        raise RunDirError(
            f"{path}: format {fmt!r} not supported (this lab reads {SUPPORTED_FORMATS})"
        )
    specs = tuple(_scenario(s, i) for i, s in enumerate(_list(raw, "scenarios", "")))
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise RunDirError(f"{path}: scenario names repeat: {names}")

    def opt_num(key: str) -> float | None:
        value = raw.get(key)
        return (
            float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
        )

    require = _list(raw, "require", "")
    unknown = [r for r in require if r not in REQUIREMENTS]
    if unknown:
        raise RunDirError(f"{path}: require names {unknown}, known: {', '.join(REQUIREMENTS)}")
    seed, terminals = raw.get("seed"), raw.get("terminals")
    return RunInfo(
        format=fmt,
        name=str(raw.get("name", run_dir.name)),
        suite=str(raw.get("suite") or raw.get("name") or run_dir.name),
        started_at=opt_num("started_at"),
        finished_at=opt_num("finished_at"),
        seed=seed if isinstance(seed, int) else None,
        terminals=terminals if isinstance(terminals, int) else None,
        time_scale=opt_num("time_scale") or 1.0,
        policy=str(raw.get("policy", "")),
        min_score=opt_num("min_score"),
        lab_version=str(raw.get("lab_version", "")),
        interrupted=bool(raw.get("interrupted", False)),
        scenarios=specs,
        require=tuple(require),
    )


def _opt_float(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _apply(j: ScenarioJournal, ev: dict[str, Any]) -> None:
    kind, t = ev.get("event"), _opt_float(ev.get("t"))
    if kind == "scenario_started":
        j.t0 = _opt_float(ev.get("t0")) or t
    elif kind == "scenario_finished":
        j.status, j.detail, j.finished_at = ev.get("status"), ev.get("detail"), t
    elif kind == "load_started":
        j.load_started = t
    elif kind == "load_stopped":
        j.load_stopped = t
    elif kind == "abort":
        j.aborted_at = t if j.aborted_at is None else j.aborted_at
    elif kind == "drain_finished":
        pending = ev.get("pending_reversals")
        j.pending_reversals = pending if isinstance(pending, int) else None
    elif kind == "probe":
        j.probes.append(ev)
    elif kind in ("fault_injected", "fault_cleared"):
        fid = str(ev.get("fault_id"))
        fw = j.faults.setdefault(
            fid, FaultWindow(fid, str(ev.get("kind", "")), str(ev.get("target", "")), "")
        )
        if kind == "fault_injected":
            fw.injected_at = t
            fw.kind = str(ev.get("kind", fw.kind))
            fw.target = str(ev.get("target", fw.target))
            fw.action = str(ev.get("action", ""))
        else:
            # a fault cleared twice (window end, then rollback) ended the first time
            if fw.cleared_at is None:
                fw.cleared_at, fw.clear_reason = t, ev.get("reason")


def load_journals(run_dir: Path, stats: ReadStats) -> dict[str, ScenarioJournal]:
    """The lab journal split by scenario (events without a scenario are dropped)."""
    path = run_dir / "journal.jsonl"
    out: dict[str, ScenarioJournal] = {}
    if not path.exists():
        return out
    for ev in read_all(path, stats):
        name = ev.get("scenario")
        if not isinstance(name, str) or not isinstance(ev.get("event"), str):
            continue
        j = out.setdefault(name, ScenarioJournal())
        j.events.append(ev)
        _apply(j, ev)
    return out


def scenario_dir(run_dir: Path, name: str) -> Path:
    return run_dir / "scenarios" / name


# Files in fleet/ that are not transaction journals (the scenario engine's
# instructions to the Locust processes).
NOT_FLEET_JOURNALS = frozenset({"control.jsonl"})


def fleet_files(run_dir: Path, name: str) -> list[Path]:
    folder = scenario_dir(run_dir, name) / "fleet"
    return sorted(p for p in folder.glob("*.jsonl") if p.name not in NOT_FLEET_JOURNALS)


def ledger_file(run_dir: Path, name: str, which: str) -> Path:
    """``which`` is ``transactions``, ``batches``, ``payouts`` or ``issuer``."""
    return scenario_dir(run_dir, name) / "ledger" / f"{which}.jsonl"
