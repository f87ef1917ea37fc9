"""``lab verify-catalogue``: the scenario × defect matrix (issue 19, docs/defects.md).

A scenario no stack can fail is a check that cannot fail. This runs the chosen
scenarios once on the clean stack and once per known defect (one ``lab run``
per column, every scenario on its own fresh stack, seeded and time-compressed)
and judges each cell:

- ``killed``: the scenario failed and a check that names the defect's reason
  (:attr:`poslab.defects.Defect.caught_by`) failed — the defect was caught for
  what it is;
- ``failed-other``: the scenario failed, but not on the defect's checks (it
  would not tell this defect from a flaky run);
- ``survived``: the scenario passed with the defect planted.

Exit 0 only when every scenario passes clean and kills at least one defect,
every defect is killed by at least one scenario, and the gate suite's
scenarios (those in the matrix) kill every money defect; 1 otherwise; 2/130
when a column could not run / was interrupted. The matrix is written as
``matrix.json`` and ``matrix.md`` into the verify's own run directory, the
columns' runs under its ``runs/``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from poslab.cli.exit_codes import HELP_EPILOG, ExitCode
from poslab.cli.options import catalogue_option
from poslab.cli.run import DEFAULT_RUNS_DIR, DEFAULT_SEED, _console, _execute, _Outputs, _Request
from poslab.defects import DEFECTS, Defect
from poslab.errors import ConfigError

__all__ = ["Cell", "Matrix", "cell_verdict", "verify_catalogue"]

CLEAN = "clean"
KILLED, FAILED_OTHER, SURVIVED, PASSED, CLEAN_FAILED, NOT_RUN = (
    "killed",
    "failed-other",
    "survived",
    "passed",
    "FAILED",
    "could-not-run",
)


@dataclass
class Cell:
    scenario: str
    column: str  # "clean" or SERVICE:NAME
    verdict: str
    score: float
    failed: list[str] = field(default_factory=list)  # failed checks, then failed expectations


@dataclass
class Matrix:
    scenarios: list[str]
    columns: list[str]
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)
    gate_scenarios: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per column

    def kills(self, scenario: str) -> list[str]:
        return [c for c in self.columns[1:] if self._verdict(scenario, c) == KILLED]

    def killers(self, column: str) -> list[str]:
        return [s for s in self.scenarios if self._verdict(s, column) == KILLED]

    def _verdict(self, scenario: str, column: str) -> str | None:
        cell = self.cells.get((scenario, column))
        return cell.verdict if cell else None

    def problems(self) -> list[str]:
        out: list[str] = []
        for s in self.scenarios:
            if self._verdict(s, CLEAN) != PASSED:
                out.append(f"{s} does not pass on the clean stack")
            if len(self.columns) > 1 and not self.kills(s):
                out.append(f"{s} kills no defect")
        for c in self.columns[1:]:
            if not self.killers(c):
                out.append(f"{c} survives every scenario")
        money = [d.ref for table in DEFECTS.values() for d in table.values() if d.money]
        if self.gate_scenarios:
            for c in self.columns[1:]:
                if c in money and not set(self.killers(c)) & set(self.gate_scenarios):
                    out.append(f"money defect {c} survives the gate suite")
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "scenarios": self.scenarios,
            "columns": self.columns,
            "gate_scenarios": self.gate_scenarios,
            "cells": [
                {
                    "scenario": c.scenario,
                    "column": c.column,
                    "verdict": c.verdict,
                    "score": c.score,
                    "failed": c.failed,
                }
                for c in self.cells.values()
            ],
            "seconds": self.seconds,
            "problems": self.problems(),
        }

    def to_markdown(self) -> str:
        head = "| scenario | " + " | ".join(self.columns) + " |"
        lines = [head, "|---" * (len(self.columns) + 1) + "|"]
        for s in self.scenarios:
            row = []
            for c in self.columns:
                cell = self.cells.get((s, c))
                if cell is None:
                    row.append("–")
                    continue
                why = f" ({', '.join(cell.failed[:2])})" if cell.failed else ""
                row.append(f"{cell.verdict} {cell.score:.1f}{why}")
            lines.append(f"| {s} | " + " | ".join(row) + " |")
        problems = self.problems()
        lines += ["", *(f"- {p}" for p in problems)] if problems else ["", "every cell holds"]
        return "\n".join(lines) + "\n"


def cell_verdict(column: str, defect: Defect | None, result: dict[str, Any]) -> Cell:
    """One scenario's result.json entry judged for ``column``."""
    failed = [c["kind"] for c in result.get("checks", []) if c.get("status") == "failed"]
    failed += [
        f"expectation {e['name']}" for e in result.get("expectations", []) if not e.get("held")
    ]
    score = float(result.get("score", 0.0))
    name = str(result["name"])
    if result.get("status") == "could_not_run":
        return Cell(name, column, NOT_RUN, score, [str(result.get("reason", ""))])
    passed = bool(result.get("passed"))
    if defect is None:
        return Cell(name, column, PASSED if passed else CLEAN_FAILED, score, failed)
    if passed:
        return Cell(name, column, SURVIVED, score, failed)
    verdict = KILLED if set(defect.caught_by) & set(failed) else FAILED_OTHER
    return Cell(name, column, verdict, score, failed)


def _split(text: str | None) -> list[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


@click.command("verify-catalogue", epilog=HELP_EPILOG)
@click.option(
    "--scenarios",
    "scenario_list",
    metavar="A,B,…",
    help="Scenarios of the matrix (default: every catalogue scenario).",
)
@click.option(
    "--defects",
    "defect_list",
    metavar="SERVICE:NAME,…",
    help="Defects of the matrix (default: every known defect).",
)
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True)
@click.option(
    "--terminals",
    type=click.IntRange(min=1),
    default=30,
    show_default=True,
    help="Terminals in every scenario (few: the matrix is many runs).",
)
@click.option(
    "--time-scale", type=click.FloatRange(min=0, min_open=True), default=0.5, show_default=True
)
@click.option(
    "--policy", default="resilient", show_default=True, type=click.Choice(["resilient", "naive"])
)
@click.option(
    "--runs-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_RUNS_DIR,
    show_default=True,
    envvar="LAB_RUNS_DIR",
)
@catalogue_option()
def verify_catalogue(
    scenario_list: str | None,
    defect_list: str | None,
    seed: int,
    terminals: int,
    time_scale: float,
    policy: str,
    runs_dir: Path,
    catalogue: Path | None,
) -> int:
    """Run the scenario × defect matrix: every scenario must fail some defect, every defect
    must be failed by some scenario for its reason (exit 1 otherwise)."""
    from poslab.cli.defects_option import parse_defects
    from poslab.scenario import Catalogue, load_suite
    from poslab.scenario.rundir import RunDirectory

    cat = Catalogue(catalogue) if catalogue is not None else Catalogue()
    scenarios = _split(scenario_list) or cat.scenario_names()
    unknown = sorted(set(scenarios) - set(cat.scenario_names()))
    if unknown:
        raise ConfigError(f"no scenario {', '.join(unknown)} in the catalogue")
    refs = _split(defect_list) or [d.ref for t in DEFECTS.values() for d in t.values()]
    defects = parse_defects(refs)  # exit 2 naming the known ones
    try:
        gate = [s.name for s in load_suite("gate", catalogue=cat).scenarios]
    except ConfigError:
        gate = []
    here = RunDirectory.create(runs_dir, "verify-catalogue")
    matrix = Matrix(scenarios, [CLEAN, *(d.ref for d in defects)])
    matrix.gate_scenarios = [s for s in scenarios if s in gate]
    console = _console()
    console.print(f"verify-catalogue: {len(scenarios)} scenarios × {len(matrix.columns)} "
                  f"columns into {here.path}", highlight=False)  # fmt: skip
    for defect in (None, *defects):
        column = CLEAN if defect is None else defect.ref
        col_dir = here.path / "runs" / column.replace(":", "-")
        req = _Request(tuple(scenarios), None, seed, terminals, time_scale, policy, None, col_dir,
                       None, catalogue, None, () if defect is None else (defect.ref,))  # fmt: skip
        console.rule(f"verify-catalogue: {column}")
        started = time.monotonic()
        code = _execute(req, None, outputs=_Outputs(quiet=True))
        matrix.seconds[column] = round(time.monotonic() - started, 1)
        if code not in (ExitCode.PASSED, ExitCode.GATE_FAILED):
            return code
        result = json.loads((col_dir / "latest" / "result.json").read_text(encoding="utf-8"))
        for entry in result.get("scenarios", []):
            cell = cell_verdict(column, defect, entry)
            matrix.cells[(cell.scenario, column)] = cell
    (here.path / "matrix.json").write_text(
        json.dumps(matrix.to_json(), indent=2) + "\n", encoding="utf-8"
    )
    markdown = matrix.to_markdown()
    (here.path / "matrix.md").write_text(markdown, encoding="utf-8")
    console.rule("verify-catalogue matrix")
    console.print(markdown, markup=False, highlight=False, soft_wrap=True)
    console.print(f"matrix: {here.path / 'matrix.md'}", highlight=False)
    return 1 if matrix.problems() else 0
