"""``lab scenario``: validate, list and show scenarios and suites without starting anything.

    lab scenario validate [FILE|NAME]...   every catalogue file when none is given
    lab scenario list
    lab scenario show NAME [--json]        the resolved timeline (a dry run)

Exit codes: 0 every file valid, 2 at least one invalid (one line per problem on
stderr: ``file:line: field: message``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click

from poslab.cli.options import catalogue_option, plugin_option
from poslab.errors import ConfigError
from poslab.scenario import (
    Catalogue,
    Problem,
    ResolvedScenario,
    ResolvedSuite,
    RunOptions,
    ScenarioInvalid,
    format_duration,
    load_any,
    load_scenario,
    load_suite,
    render_suite,
    render_timeline,
)
from poslab.stack import DEFAULT_REGIONS, Topology, default_topology, load_topology

INVALID = 2
T = TypeVar("T")


def _context_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Options that change what a scenario resolves to (same as `lab run`'s)."""
    for option in reversed(
        [
            catalogue_option(),
            plugin_option(),
            click.option(
                "--topology",
                "topology_file",
                type=click.Path(dir_okay=False, path_type=Path),
                help="Topology override file (YAML/JSON), as for `lab up --topology`.",
            ),
            click.option(
                "--world",
                "world_file",
                type=click.Path(dir_okay=False, path_type=Path),
                help="World file whose regions scenarios are checked against.",
            ),
            click.option(
                "--time-scale",
                type=float,
                default=1.0,
                show_default=True,
                help="Multiply every timeline duration (0.5 = twice as fast).",
            ),
            click.option("--terminals", type=int, help="Override every scenario's terminals."),
        ]
    ):
        fn = option(fn)
    return fn


def _topology(topology_file: Path | None, world_file: Path | None) -> Topology:
    regions: tuple[str, ...] = DEFAULT_REGIONS
    if world_file is not None:
        from poslab.world import load as load_world  # only when asked: a big world takes a while

        regions = load_world(world_file).regions
    if topology_file is not None:
        return load_topology(topology_file, regions)
    return default_topology(regions)


def _setup(
    catalogue: Path | None,
    topology_file: Path | None,
    world_file: Path | None,
    time_scale: float,
    terminals: int | None,
) -> tuple[Catalogue, Topology, RunOptions]:
    options = RunOptions(time_scale=time_scale, terminals=terminals)
    cat = Catalogue(catalogue) if catalogue is not None else Catalogue()
    if not cat.root.is_dir():
        raise ConfigError(f"no scenario directory at {cat.root}")
    return cat, _topology(topology_file, world_file), options


def _summary(item: ResolvedScenario | ResolvedSuite) -> str:
    if isinstance(item, ResolvedSuite):
        wall = format_duration(round(item.estimated_wall_s()))
        return f"suite {item.name}: {len(item.scenarios)} scenarios, about {wall} wall time"
    length = f"{format_duration(item.duration_s)} + drain {format_duration(item.drain_s)}"
    faults = f"{len(item.faults)} fault{'' if len(item.faults) == 1 else 's'}"
    return f"scenario {item.name}: {faults}, {length}"


@click.group("scenario")
def scenario() -> None:
    """Validate, list and show scenarios and suites (nothing is started)."""


@scenario.command()
@click.argument("refs", nargs=-1)
@_context_options
def validate(refs: tuple[str, ...], **context: Any) -> int:
    """Check scenario or suite FILEs / NAMEs before any process starts.

    With no argument, every scenario and suite of the catalogue is checked.
    """
    cat, topology, options = _setup(**context)
    targets = list(refs) or [
        *(str(cat.locate(n)) for n in cat.scenario_names()),
        *(str(cat.locate(n, suite=True)) for n in cat.suite_names()),
    ]
    if not targets:
        raise ConfigError(f"no scenarios in {cat.root}")
    invalid = 0
    printed: set[Problem] = set()  # a suite repeats its scenarios' problems
    for ref in targets:
        try:
            item = load_any(ref, topology, options, cat)
        except ScenarioInvalid as exc:
            invalid += 1
            for problem in exc.problems:
                if problem not in printed:
                    printed.add(problem)
                    click.echo(str(problem), err=True)
            continue
        click.echo(f"ok  {ref}: {_summary(item)}")
        # valid, yet this topology cannot serve all of it (docs/scenarios.md, needs)
        for one in item.scenarios if isinstance(item, ResolvedSuite) else (item,):
            if one.skip is not None:
                click.echo(f"    {one.name}: skipped here (could not run): {one.skip}")
            for note in one.notes:
                click.echo(f"    {one.name}: {note}")
    if invalid:
        click.echo(f"lab: {invalid} of {len(targets)} invalid", err=True)
        return INVALID
    return 0


def _loaded(names: list[str], load: Callable[[str], T]) -> Iterator[tuple[str, T | None]]:
    """Each name with what it loads to, or None (and a line saying so) when invalid."""
    for name in names:
        try:
            yield name, load(name)
        except ScenarioInvalid:
            click.echo(f"  {name:<28} INVALID (lab scenario validate {name})")
            yield name, None


@scenario.command("list")
@_context_options
def list_(**context: Any) -> int:
    """List the catalogue's scenarios and suites."""
    cat, topology, options = _setup(**context)
    broken = 0
    click.echo(f"scenarios in {cat.root}:")
    for _, s in _loaded(cat.scenario_names(), lambda n: load_scenario(n, topology, options, cat)):
        if s is None:
            broken += 1
            continue
        row = f"#{s.failure_mode}" if s.failure_mode else "-"
        first = s.description.split(". ")[0].rstrip(".")
        first = first if len(first) <= 72 else first[:71] + "…"
        length = format_duration(s.duration_s)
        click.echo(f"  {s.name:<28} {row:>3}  w{s.weight:<4g} {length:>6}  {first}")
    click.echo("suites:")
    for _, suite in _loaded(cat.suite_names(), lambda n: load_suite(n, topology, options, cat)):
        if suite is None:
            broken += 1
            continue
        members = ", ".join(s.name for s in suite.scenarios)
        wall = format_duration(round(suite.estimated_wall_s()))
        click.echo(f"  {suite.name:<28} min {suite.min_score:g}, ~{wall}: {members}")
    return INVALID if broken else 0


@scenario.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the resolved definition (run.json).")
@_context_options
def show(name: str, as_json: bool, **context: Any) -> int:
    """Print the resolved timeline of scenario or suite NAME (a dry run: no socket opened)."""
    cat, topology, options = _setup(**context)
    try:
        item = load_any(name, topology, options, cat)
    except ScenarioInvalid as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        return INVALID
    if as_json:
        data: object = (
            item.dump_resolved()
            if isinstance(item, ResolvedScenario)
            else {
                "name": item.name,
                "min_score": item.min_score,
                "scenarios": [s.dump_resolved() for s in item.scenarios],
            }
        )
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    elif isinstance(item, ResolvedSuite):
        click.echo(render_suite(item))
    else:
        click.echo(render_timeline(item))
    return 0
