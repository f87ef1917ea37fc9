"""Helpers for scenario tests: a valid base scenario, ways to break it, assertions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from poslab.scenario import Problem, ResolvedScenario, RunOptions, ScenarioInvalid, load_scenario
from poslab.stack import Topology

#: A small valid scenario; tests append faults or replace lines to break it.
BASE = """\
name: base
description: a valid scenario the tests start from
weight: 2
load:
  terminals: 20
  duration: 40s
drain: 5s
slo: {success_ratio: 0.95, p99_ms: 1500}
recovery: {target: 5s, good_seconds: 3}
"""


def fault_block(*faults: str) -> str:
    """``faults:`` with each given YAML snippet as one list item."""
    out = ["faults:"]
    for fault in faults:
        lines = fault.strip("\n").splitlines()
        out.append("  - " + lines[0])
        out += ["    " + line for line in lines[1:]]
    return "\n".join(out) + "\n"


def line_of(text: str, marker: str) -> int:
    """1-based line of the only line containing ``marker``."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if marker in line]
    assert len(hits) == 1, f"marker {marker!r} found on lines {hits}"
    return hits[0]


WriteScenario = Callable[[str], Path]


def resolve_text(
    path: Path, topology: Topology | None = None, options: RunOptions | None = None
) -> ResolvedScenario:
    return load_scenario(path, topology, options)


def problems_of(
    path: Path, topology: Topology | None = None, options: RunOptions | None = None
) -> list[Problem]:
    with pytest.raises(ScenarioInvalid) as info:
        load_scenario(path, topology, options)
    return list(info.value.problems)


def assert_problem(problems: list[Problem], line: int, field: str, *words: str) -> Problem:
    """Exactly one problem at ``line`` for ``field`` whose message has every word."""
    hits = [p for p in problems if p.line == line and p.field == field]
    assert hits, f"no problem at line {line} field {field!r}; got: " + "; ".join(map(str, problems))
    problem = hits[0]
    for word in words:
        assert word in problem.message, f"{word!r} not in {problem}"
    return problem
