"""``lab run`` and ``lab verify-gate``: scenarios against a fresh stack, then the gate.

    lab run acquirer-outage working-key-expiry --seed 7 --time-scale 0.5
    lab run --suite gate                     # what `make chaos` runs
    lab run --suite gate --dry-run           # the resolved timeline; no socket opened
    lab verify-gate --suite gate             # resilient must pass and naive must fail

    lab run --suite gate --quiet --junit-xml out/junit.xml --summary out/summary.md --json -
    lab run --suite gate --topology ext.yaml --world team-world.json   # your own host

Everything is validated before any process starts (exit 2 with file:line:
field), the output paths included. Against services the lab did not write
(docs/external.md): ``--topology`` names them, their hooks and ledger source;
``--world`` gives the team's terminals and cards (``lab world import``); a
suite or topology that ``require: [integrity]`` refuses to pass (exit 2) when
a scenario's money could not be judged. Exit codes are the gate's
(:mod:`poslab.cli.exit_codes`): 0 passed, 1 gate failed, 2 the lab could not
run, 3 internal error, 130 interrupted. ``runs/latest`` points at the newest
run directory.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console

from poslab.cli.containers import container_stack_factory, containers_option, wanted
from poslab.cli.defects_option import defect_option, parse_defects, with_defects
from poslab.cli.exit_codes import HELP_EPILOG, ExitCode
from poslab.cli.options import catalogue_option, plugin_option
from poslab.errors import ConfigError, RunDirError
from poslab.scenario import (
    Catalogue,
    Policy,
    Problem,
    ResolvedScenario,
    RunOptions,
    RunOutcome,
    RunPlan,
    RunSettings,
    ScenarioInvalid,
    load_scenario,
    load_suite,
)
from poslab.stack import (
    DEFAULT_REGIONS,
    Mode,
    ServiceName,
    Topology,
    default_topology,
    load_topology,
)

if TYPE_CHECKING:
    from poslab.report import PipelineOutputs
    from poslab.report.prometheus import RunMetrics

__all__ = ["run", "verify_gate"]

DEFAULT_SEED = 42
DEFAULT_RUNS_DIR = Path("runs")
_GATE_DEFAULT = 80.0


@dataclass(frozen=True)
class _Request:
    refs: tuple[str, ...]
    suite: str | None
    seed: int
    terminals: int | None
    time_scale: float
    policy: str
    min_score: float | None
    runs_dir: Path
    topology: Path | None
    catalogue: Path | None
    world: Path | None = None
    defects: tuple[str, ...] = ()  # SERVICE:NAME (docs/defects.md)
    workers: int = 0  # a Locust master and this many local workers (docs/scale.md)


@dataclass(frozen=True)
class _Outputs:
    """Where a run's verdict goes besides the run directory (``lab run`` only)."""

    junit_xml: Path | None = None
    summary_md: Path | None = None
    json: str | None = None  # a path, or "-" for stdout
    quiet: bool = False
    pushgateway: str | None = None  # metrics.prom is written whatever; pushed when given

    @property
    def json_to_stdout(self) -> bool:
        return self.json == "-"

    def copies(self) -> PipelineOutputs:
        from poslab.report import PipelineOutputs  # plotly and friends: only when a run runs

        json_path = Path(self.json) if self.json and not self.json_to_stdout else None
        return PipelineOutputs(self.junit_xml, self.summary_md, json_path)


def _use_toxiproxy(_ctx: click.Context, _param: click.Parameter, url: str | None) -> None:
    """``--toxiproxy URL``: what ``TOXIPROXY_URL`` does (``_topology`` reads it),
    for this command only."""
    if url:
        os.environ["TOXIPROXY_URL"] = url


def _topology(path: Path | None, regions: tuple[str, ...] = DEFAULT_REGIONS) -> Topology:
    from poslab.stack import with_external_proxy

    topology = load_topology(path, regions) if path else default_topology(regions)
    url = os.environ.get("TOXIPROXY_URL")
    if url and topology.service(ServiceName.PROXY).mode is Mode.EMBEDDED:
        topology = with_external_proxy(topology, url)
    return topology


def _plan(req: _Request, policy: str | None = None) -> RunPlan:
    """Validate everything (every file's problems at once) into a plan."""
    if req.suite and req.refs:
        raise click.UsageError("give scenarios or --suite, not both")
    if not req.suite and not req.refs:
        raise click.UsageError("name at least one scenario, or --suite NAME")
    world_terminals, regions = _world_size(req.world)
    topology = _topology(req.topology, regions)
    options = RunOptions(time_scale=req.time_scale, terminals=req.terminals)
    catalogue = Catalogue(req.catalogue) if req.catalogue is not None else Catalogue()
    scenarios: list[ResolvedScenario] = []
    require: tuple[str, ...] = topology.require
    if req.suite:
        suite = load_suite(req.suite, topology, options, catalogue)
        scenarios, name, suite_min = list(suite.scenarios), suite.name, suite.min_score
        require = tuple(dict.fromkeys((*require, *suite.require)))
    else:
        problems: list[Problem] = []
        for ref in req.refs:
            try:
                scenarios.append(load_scenario(ref, topology, options, catalogue))
            except ScenarioInvalid as exc:
                problems += exc.problems
        if problems:
            raise ScenarioInvalid(problems)
        names = [s.name for s in scenarios]
        if len(set(names)) != len(names):
            raise ConfigError(f"a scenario is named twice: {', '.join(names)}")
        name, suite_min = (names[0] if len(names) == 1 else "scenarios"), _GATE_DEFAULT
    settings = RunSettings(
        name=name,
        suite=req.suite,
        seed=req.seed,
        terminals=req.terminals,
        time_scale=req.time_scale,
        policy=policy or req.policy,
        min_score=req.min_score if req.min_score is not None else suite_min,
    )
    if world_terminals is not None:  # the fleet drives the world's terminals, no more
        scenarios = [_at_most(s, world_terminals) for s in scenarios]
    scenarios = with_defects(scenarios, topology, parse_defects(req.defects))
    _check_judgeable(topology, require)
    return RunPlan(
        settings, tuple(scenarios), topology, req.runs_dir, require=require, world=req.world,
        fleet={"workers": req.workers} if req.workers else {},
    )  # fmt: skip


def _world_size(path: Path | None) -> tuple[int | None, tuple[str, ...]]:
    """A given world's terminal count and regions (the topology's regions follow it)."""
    if path is None:
        return None, DEFAULT_REGIONS
    from poslab.world import load as load_world

    world = load_world(path)
    return len(world.terminals), world.regions


def _at_most(scenario: ResolvedScenario, terminals: int) -> ResolvedScenario:
    if scenario.load.terminals <= terminals:
        return scenario
    load = scenario.load.model_copy(update={"terminals": terminals})
    return scenario.model_copy(update={"load": load})


def _check_judgeable(topology: Topology, require: tuple[str, ...]) -> None:
    """``require: [integrity]`` with an acquirer whose books the lab cannot read: exit 2 now."""
    acquirer = topology.service(ServiceName.ACQUIRER)
    blind = acquirer.mode is Mode.EXTERNAL and acquirer.admin is None and topology.ledger is None
    if "integrity" in require and blind:
        raise ConfigError(
            "require: [integrity]: cannot judge money without a ledger — the acquirer is "
            "external with no admin API and the topology has no ledger: section "
            "(docs/external.md, docs/ledger-contract.md)"
        )


def _dry_run(plan: RunPlan) -> None:
    from poslab.scenario import render_timeline, resolve_fleet_draws
    from poslab.world import generate

    s = plan.settings
    click.echo(
        f"dry run of {s.name}: seed {s.seed}, policy {s.policy}, time scale {s.time_scale:g}, "
        f"min score {s.min_score:g}; nothing is started"
    )
    if plan.world is not None:
        from poslab.world import load as load_world

        world = load_world(plan.world)
    else:
        world = generate(s.seed, plan.world_terminals, regions=plan.topology.regions)
    for scenario in plan.scenarios:
        if scenario.skip is not None:
            click.echo(f"\n{scenario.name}: skipped (could not run here): {scenario.skip}")
            continue
        click.echo("\n" + render_timeline(scenario))
        for note in scenario.notes:
            click.echo(f"  note: {note}")
        draws = resolve_fleet_draws(scenario, world.terminals[: scenario.load.terminals], s.seed)
        for fault_id, tids in draws.items():
            shown = ", ".join(tids[:8]) + (" …" if len(tids) > 8 else "")
            click.echo(f"  fleet draw {fault_id}: {len(tids)} terminals: {shown}")


def _judge(  # type: ignore[no-untyped-def]
    min_score: float | None,
    baseline: Path | None,
    console: Console,
    metrics: RunMetrics | None = None,
):
    from poslab.report import finish_run

    def judge(run_dir: Path, outcome: RunOutcome) -> tuple[str, int]:
        _refuse_a_full_disk(run_dir)  # before any report could call a lab-made failure a verdict
        try:
            result = finish_run(run_dir, min_score=min_score, baseline=baseline, console=console)
            # metrics.prom and the Pushgateway: a courtesy that never changes the verdict
            for problem in metrics.finish(result) if metrics is not None else []:
                click.echo(f"lab: warning: {problem}", err=True)
        except KeyboardInterrupt:  # SIGTERM/Ctrl-C while the reports were written
            _withdraw_reports(run_dir)
            raise
        status, code = result.gate.status, result.gate.exit_code
        if outcome.interrupted:
            status, code = "interrupted", int(ExitCode.INTERRUPTED)
        elif outcome.stack_failure is not None:
            why = f"lab: {outcome.stack_failure}"
            if console.quiet:  # --quiet must not hide why nothing ran
                click.echo(why, err=True)
            else:
                console.print(why, markup=False, highlight=False)
            status, code = "could_not_run", int(ExitCode.COULD_NOT_RUN)
        return status, code

    return judge


#: Room a run needs in its runs directory (service ledgers, fleet journal, reports).
MIN_FREE_BYTES = 64 << 20
#: Below this at the end of a run, the disk filled up during it.
_FULL_BYTES = 1 << 20


def _free_bytes(path: Path) -> int:
    existing = path.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    st = os.statvfs(existing)
    return st.f_bavail * st.f_frsize


def _check_room(runs_dir: Path) -> None:
    """Too little room for a run is refused before anything starts: a disk that
    fills midway makes the services answer 96 and reads as a failing system."""
    free = _free_bytes(runs_dir)
    if free < MIN_FREE_BYTES:
        raise ConfigError(
            f"{runs_dir}: {free / 2**20:.1f} MiB free, a run needs at least "
            f"{MIN_FREE_BYTES >> 20} MiB (ledgers, fleet journal, reports); "
            "free some space or give another --runs-dir"
        )


def _refuse_a_full_disk(run_dir: Path) -> None:
    """A disk that filled up during the run: what was written cannot be judged."""
    free = _free_bytes(run_dir)
    if free < _FULL_BYTES:
        raise RunDirError(
            f"{run_dir}: the disk filled up during the run ({free >> 10} KiB free): its "
            "services could not book and its files are incomplete, so it is not judged; "
            "free some space and run again"
        )


def _withdraw_reports(run_dir: Path) -> None:
    """Interrupted while the reports were written: none of them may stand as the
    verdict (result.json would say "passed, exit 0" of a run that exits 130)."""
    from poslab.report import ReportFiles

    files = ReportFiles.in_dir(run_dir)
    for path in (files.result_json, files.junit_xml, files.summary_md, files.report_html):
        if path is not None:
            path.unlink(missing_ok=True)
    click.echo(
        "lab: interrupted while writing the reports: result.json, junit.xml, summary.md and "
        f"report.html are not written; score the run again with: lab report {run_dir}",
        err=True,
    )


def _console(outputs: _Outputs | None = None) -> Console:
    """Rich on a terminal; 120 columns in logs (rich would assume 80).

    With ``--json -`` stdout carries the JSON alone, so everything for people
    goes to stderr; ``--quiet`` silences it (errors still reach stderr).
    """
    outputs = outputs or _Outputs()
    stderr = outputs.json_to_stdout
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else 120
    return Console(stderr=stderr, quiet=outputs.quiet, width=width)


def _execute(
    req: _Request, baseline: Path | None, policy: str | None = None, outputs: _Outputs | None = None
) -> int:
    from poslab.report import ReportFiles
    from poslab.report.prometheus import RunMetrics, check_pushgateway
    from poslab.scenario import launch_run

    outputs = outputs or _Outputs()
    plan = _plan(req, policy)
    copies = outputs.copies()
    copies.check()  # exit 2 now, not after the whole run
    _check_room(req.runs_dir)
    gateway = check_pushgateway(outputs.pushgateway) if outputs.pushgateway else None
    metrics = RunMetrics(suite=plan.settings.suite or plan.settings.name, pushgateway=gateway)
    console = _console(outputs)
    plain = not console.is_terminal or bool(os.environ.get("CI"))
    stack_factory = container_stack_factory(plan) if wanted() else None  # --containers
    done = launch_run(
        plan,
        _judge(plan.settings.min_score, baseline, console, metrics),
        console=console,
        plain=plain,
        stack_factory=stack_factory,
        on_events=metrics.attach,
    )
    _point_latest(done.run_dir)
    files = ReportFiles.in_dir(done.run_dir)
    copies.write(files)
    _step_summary(files.summary_md)
    if outputs.json_to_stdout:
        sys.stdout.write(files.result_json.read_text(encoding="utf-8"))
        sys.stdout.flush()
    verdict = f"run directory {done.run_dir}: gate {done.status} (exit {done.exit_code})"
    if outputs.quiet:
        click.echo(verdict, err=outputs.json_to_stdout)
    else:
        # one line whatever the width: pipelines grep their logs for it
        console.print(verdict, markup=False, highlight=False, soft_wrap=True)
    return done.exit_code


def _point_latest(run_dir: Path) -> None:
    """``<runs>/latest`` → the newest run directory, for a CI step that cannot
    know the timestamped name. Relative, so the runs folder can be moved or
    uploaded whole; replaced atomically, so a reader never finds it missing."""
    link = run_dir.parent / "latest"
    tmp = run_dir.parent / f".latest.{os.getpid()}"
    try:
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(run_dir.name, target_is_directory=True)
        os.replace(tmp, link)
    except OSError as exc:  # a file system without symlinks: the run itself is fine
        tmp.unlink(missing_ok=True)
        click.echo(f"lab: warning: {link} not updated: {exc}", err=True)


def _step_summary(summary_md: Path) -> None:
    """GitHub Actions shows ``$GITHUB_STEP_SUMMARY`` on the job's page."""
    from poslab.report import append_step_summary

    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target or not summary_md.is_file():
        return
    problem = append_step_summary(Path(target), summary_md)
    if problem:
        click.echo(f"lab: warning: {problem}", err=True)


F = TypeVar("F", bound=Callable[..., Any])


def _common(func: F) -> F:
    options = [
        click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True,
                     help="Seed of the world, the load and the fault draws."),
        click.option("--terminals", type=click.IntRange(min=1),
                     help="Terminals in every scenario (overrides the files)."),
        click.option("--time-scale", type=click.FloatRange(min=0, min_open=True), default=1.0,
                     show_default=True, help="Multiply every timeline duration (0.5: 2x faster)."),
        click.option("--min-score", type=click.FloatRange(0, 100),
                     help="The gate's pass mark (default: the suite's, else 80)."),
        click.option("--runs-dir", type=click.Path(file_okay=False, path_type=Path),
                     default=DEFAULT_RUNS_DIR, show_default=True, envvar="LAB_RUNS_DIR",
                     help="Where run directories go (and the 'latest' link to the newest)."),
        click.option("--topology", "topology_path",
                     type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="Topology overrides: external services and their hooks, a ledger "
                          "source, the terminals' dialect, fixed ports (docs/external.md)."),
        click.option("--world", "world_path",
                     type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="Use this world file (lab world import: your terminals and cards) "
                          "instead of generating one from --seed."),
        click.option("--toxiproxy", metavar="URL", expose_value=False, callback=_use_toxiproxy,
                     help="Use the (real) Toxiproxy at URL instead of starting the embedded "
                          "proxy; the same as TOXIPROXY_URL=URL."),
        catalogue_option(),
        plugin_option(),
        containers_option(),
    ]  # fmt: skip
    for option in reversed(options):
        func = option(func)
    return func


@click.command("run", epilog=HELP_EPILOG)
@click.argument("scenarios", nargs=-1)
@click.option("--suite", help="Run a suite (a catalogue suite's name, or a path).")
@_common
@click.option(
    "--policy",
    type=click.Choice([p.value for p in Policy]),
    default=Policy.RESILIENT.value,
    show_default=True,
    help="The terminals' policy (a scenario may force its own).",
)
@click.option(
    "--baseline",
    type=click.Path(exists=True, path_type=Path),
    help="A run directory (or result.json): the gate fails when a score drops below it.",
)
@click.option("--dry-run", is_flag=True, help="Print the resolved timelines; start nothing.")
@click.option(
    "--junit-xml",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the run's JUnit XML here (checked before anything starts).",
)
@click.option(
    "--summary",
    "summary_md",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the run's Markdown summary here.",
)
@click.option(
    "--json",
    "json_out",
    metavar="PATH",
    help="Also write result.json here; '-' prints it on stdout (and the rest on stderr).",
)
@click.option("--quiet", "-q", is_flag=True, help="Only the verdict line and errors.")
@click.option(
    "--pushgateway",
    metavar="URL",
    envvar="LAB_PUSHGATEWAY",
    help="Push the run's metrics (live each second, then the scores) to this Prometheus "
    "Pushgateway; metrics.prom in the run directory is written either way.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=0,
    help="Run the fleet on a Locust master and N local worker processes, over Locust's "
    "messages (docs/scale.md); 0: one Locust process.",
)
@defect_option()
def run(
    scenarios: tuple[str, ...],
    suite: str | None,
    seed: int,
    terminals: int | None,
    time_scale: float,
    min_score: float | None,
    runs_dir: Path,
    topology_path: Path | None,
    world_path: Path | None,
    policy: str,
    baseline: Path | None,
    dry_run: bool,
    catalogue: Path | None,
    junit_xml: Path | None,
    summary_md: Path | None,
    json_out: str | None,
    quiet: bool,
    pushgateway: str | None,
    defects: tuple[str, ...],
    workers: int,
) -> int:
    """Run SCENARIO… (or a --suite) on a fresh stack and gate on the score."""
    req = _Request(scenarios, suite, seed, terminals, time_scale, policy, min_score, runs_dir,
                   topology_path, catalogue, world_path, defects, workers)  # fmt: skip
    if dry_run:
        _dry_run(_plan(req))
        return 0
    outputs = _Outputs(junit_xml, summary_md, json_out, quiet, pushgateway)
    return _execute(req, baseline, outputs=outputs)


@click.command("verify-gate", epilog=HELP_EPILOG)
@click.option("--suite", default="gate", show_default=True, help="The suite to prove.")
@_common
def verify_gate(
    suite: str,
    seed: int,
    terminals: int | None,
    time_scale: float,
    min_score: float | None,
    runs_dir: Path,
    topology_path: Path | None,
    world_path: Path | None,
    catalogue: Path | None,
) -> int:
    """Run the suite with resilient and with naive terminals: the gate must tell them apart.

    Exits 0 only when resilient passes and naive fails; 1 when it does not
    discriminate; 2 / 130 when a run could not run / was interrupted.
    """
    req = _Request((), suite, seed, terminals, time_scale, "resilient", min_score, runs_dir,
                   topology_path, catalogue, world_path)  # fmt: skip
    _plan(req)  # validate once before either run starts
    console = _console()
    codes: dict[str, int] = {}
    for policy in (Policy.RESILIENT.value, Policy.NAIVE.value):
        console.rule(f"verify-gate: {suite} with {policy} terminals")
        codes[policy] = _execute(req, None, policy)
        if codes[policy] not in (ExitCode.PASSED, ExitCode.GATE_FAILED):
            return codes[policy]
    resilient_ok, naive_fails = codes["resilient"] == 0, codes["naive"] == 1
    console.rule("verify-gate verdict")
    console.print(
        f"resilient: {'passed' if resilient_ok else 'did NOT pass'}; "
        f"naive: {'failed' if naive_fails else 'did NOT fail'} → "
        + ("the gate discriminates" if resilient_ok and naive_fails else "NOT discriminating")
    )
    return 0 if resilient_ok and naive_fails else 1
