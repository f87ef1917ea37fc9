"""Find, read and validate scenario and suite files — before anything starts.

A scenario or suite is named by catalogue name (``acquirer-outage``,
``gate``) or by path. Reading goes: YAML with node marks
(:mod:`poslab.scenario.spec.source`) → the authored shape (:mod:`poslab.scenario.spec.model`)
→ resolution against the topology and the run options
(:mod:`poslab.scenario.spec.resolution`). Every problem in every file involved is
collected and raised at once as :class:`~poslab.scenario.spec.source.ScenarioInvalid`
(a :class:`poslab.errors.ScenarioError`), one ``file:line: field: message`` each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from poslab.package_data import package_dir
from poslab.scenario.spec.model import ScenarioDoc, SuiteDoc
from poslab.scenario.spec.resolution import RunOptions, resolve_scenario
from poslab.scenario.spec.resolved import ResolvedScenario, ResolvedSuite
from poslab.scenario.spec.source import Problem, ScenarioInvalid, SourceDocument
from poslab.stack.topology import Topology, default_topology

#: The catalogue shipped with the lab: package data (:mod:`poslab.catalogue`).
CATALOGUE_DIR = package_dir("poslab.catalogue")
_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Catalogue:
    """A directory of scenario files with a ``suites/`` folder of suite files."""

    root: Path = CATALOGUE_DIR

    @property
    def suites_dir(self) -> Path:
        return self.root / "suites"

    def scenario_names(self) -> list[str]:
        return sorted(p.stem for p in self.root.glob("*.yaml"))

    def suite_names(self) -> list[str]:
        return sorted(p.stem for p in self.suites_dir.glob("*.yaml"))

    def locate(self, ref: str | Path, *, suite: bool = False, base: Path | None = None) -> Path:
        """A name → its file in the catalogue; a path → itself (relative to ``base``)."""
        text = str(ref)
        if isinstance(ref, Path) or "/" in text or text.endswith(_SUFFIXES):
            path = Path(text)
            return path if path.is_absolute() or base is None else base / path
        return (self.suites_dir if suite else self.root) / f"{text}.yaml"

    def is_suite(self, ref: str | Path) -> bool:
        """A catalogue suite name, or a file whose document has a ``scenarios`` list."""
        text = str(ref)
        if not (isinstance(ref, Path) or "/" in text or text.endswith(_SUFFIXES)):
            return (
                not (self.root / f"{text}.yaml").exists()
                and (self.suites_dir / f"{text}.yaml").exists()
            )
        try:
            doc = SourceDocument.read(Path(text))
        except ScenarioInvalid:
            return False
        return isinstance(doc.data, dict) and "scenarios" in doc.data and "load" not in doc.data


@dataclass
class _Problems:
    items: list[Problem] = field(default_factory=list)

    def raise_if_any(self) -> None:
        if self.items:
            raise ScenarioInvalid(sorted(self.items, key=lambda p: (p.file, p.line)))


def _read(path: Path, what: str) -> SourceDocument:
    if not path.is_file():
        raise ScenarioInvalid([Problem(str(path), 0, "", f"no such {what} file")])
    source = SourceDocument.read(path)
    if not isinstance(source.data, dict):
        line = source.line_of(())
        raise ScenarioInvalid(
            [Problem(str(path), line, "", f"a {what} file is a YAML mapping (name: …)")]
        )
    return source


def read_scenario_doc(path: Path) -> tuple[ScenarioDoc, SourceDocument]:
    """The authored scenario, shape-checked only (no topology needed)."""
    source = _read(path, "scenario")
    try:
        return ScenarioDoc.model_validate(source.data), source
    except ValidationError as exc:
        raise ScenarioInvalid(source.problems_from(exc)) from exc


def load_scenario(
    ref: str | Path,
    topology: Topology | None = None,
    options: RunOptions | None = None,
    catalogue: Catalogue | None = None,
) -> ResolvedScenario:
    """Read, validate and resolve one scenario (by catalogue name or path)."""
    catalogue = catalogue or Catalogue()
    path = catalogue.locate(ref)
    if not path.is_file() and path.parent == catalogue.root:
        known = ", ".join(catalogue.scenario_names()) or "none"
        raise ScenarioInvalid(
            [Problem(str(ref), 0, "", f"no scenario named {ref!s} in {catalogue.root} ({known})")]
        )
    doc, source = read_scenario_doc(path)
    resolved, found = resolve_scenario(
        doc, topology or default_topology(), options or RunOptions(), str(path)
    )
    if resolved is None:
        raise ScenarioInvalid(sorted((source.problem(loc, msg) for loc, msg in found), key=_order))
    return resolved


def _order(problem: Problem) -> tuple[str, int]:
    return problem.file, problem.line


def load_suite(
    ref: str | Path,
    topology: Topology | None = None,
    options: RunOptions | None = None,
    catalogue: Catalogue | None = None,
) -> ResolvedSuite:
    """Read a suite and every scenario in it; all their problems raised together."""
    catalogue = catalogue or Catalogue()
    path = catalogue.locate(ref, suite=True)
    if not path.is_file() and path.parent == catalogue.suites_dir:
        known = ", ".join(catalogue.suite_names()) or "none"
        raise ScenarioInvalid(
            [
                Problem(
                    str(ref), 0, "", f"no suite named {ref!s} in {catalogue.suites_dir} ({known})"
                )
            ]
        )
    source = _read(path, "suite")
    try:
        suite = SuiteDoc.model_validate(source.data)
    except ValidationError as exc:
        raise ScenarioInvalid(source.problems_from(exc)) from exc
    problems = _Problems()
    scenarios: list[ResolvedScenario] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(suite.entries()):
        loc = (
            ("scenarios", i)
            if isinstance(suite.scenarios[i], str)
            else ("scenarios", i, "scenario")
        )
        target = catalogue.locate(entry.scenario, base=path.parent)
        if not target.is_file():
            problems.items.append(source.problem(loc, f"no scenario {entry.scenario!r} ({target})"))
            continue
        try:
            scenario = load_scenario(target, topology, options, catalogue)
        except ScenarioInvalid as exc:
            problems.items += exc.problems
            continue
        if scenario.name in seen:
            problems.items.append(
                source.problem(
                    loc, f"scenario {scenario.name!r} is already entry {seen[scenario.name]}"
                )
            )
            continue
        seen[scenario.name] = i
        overrides = entry.model_dump(include={"weight", "min_score"}, exclude_none=True)
        scenarios.append(scenario.model_copy(update=overrides))
    problems.raise_if_any()
    return ResolvedSuite(
        name=suite.name,
        description=suite.description.strip(),
        source=str(path),
        min_score=suite.min_score,
        scenarios=tuple(scenarios),
        require=tuple(dict.fromkeys(suite.require)),
    )


def load_any(
    ref: str | Path,
    topology: Topology | None = None,
    options: RunOptions | None = None,
    catalogue: Catalogue | None = None,
) -> ResolvedScenario | ResolvedSuite:
    """A scenario or a suite, whichever ``ref`` names (``lab scenario validate``)."""
    catalogue = catalogue or Catalogue()
    if catalogue.is_suite(ref):
        return load_suite(ref, topology, options, catalogue)
    return load_scenario(ref, topology, options, catalogue)
