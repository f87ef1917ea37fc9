"""The lab in a team's own pytest suite (a ``pytest11`` entry point: installed, it is on).

    def test_our_terminals_ride_out_an_acquirer_outage(run_scenario):
        assert run_scenario("acquirer-outage").score >= 90

    def test_issuer_link_slow(pos_stack, toxiproxy):
        issuer = toxiproxy.get_proxy("issuer")
        issuer.add_toxic(type="latency", attributes={"latency": 500})
        ...

Fixtures (docs/pytest.md):

- ``pos_world`` (session) — the deterministic world of ``--pos-seed``
  (:class:`PosWorld`: ``.path`` of world.json, ``.world``);
- ``pos_stack`` (module by default; ini ``pos_stack_scope``) — a running stack on
  that world (:class:`PosStack`: ``.addresses``, ``.kill``, ``.restart``,
  ``.health``), embedded processes on 127.0.0.1, or containers with
  ``--pos-containers`` or a ``pos_containers`` marker;
- ``toxiproxy`` — toxiproxy-python's ``Toxiproxy`` pointed at the stack's proxy
  API (the lab's embedded proxy or the real Toxiproxy); reset after each test;
- ``run_scenario`` — ``run_scenario(name_or_path, **options)`` runs one scenario
  as ``lab run`` does (a fresh stack, the fleet, rollback, scoring) and returns
  its :class:`ScenarioScore` (``.score``, ``.passed``, ``.checks``,
  ``.expectations``, ``.reason``, ``.run_dir``).

Options: ``--pos-time-scale``, ``--pos-terminals``, ``--pos-seed``,
``--pos-catalogue``, ``--pos-plugin``, ``--pos-runs-dir``, ``--pos-containers``
(each also an ini value ``pos_…``). Nothing of the lab is imported until a
fixture is used: the plugin costs a suite that does not use it nothing.
"""

from __future__ import annotations

import asyncio
import io
import os
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

if TYPE_CHECKING:
    from poslab.scoring.result import Check, ExpectationResult, RunResult, ScenarioResult
    from poslab.stack import Stack, StackAddresses, StackHealth, Topology
    from poslab.world import World

__all__ = ["PosSettings", "PosStack", "PosWorld", "ScenarioScore"]

T = TypeVar("T")
_DEFAULT_TERMINALS = 20  # the world of pos_world / pos_stack when --pos-terminals is not given
_STACK_STOP_S = 60.0


# -- options -------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pos-lab", "POS resilience lab (poslab.pytest_plugin)")
    options: list[tuple[str, str, dict[str, Any]]] = [
        ("--pos-time-scale", "multiply every scenario duration (0.5: twice as fast)", {}),
        ("--pos-terminals", "terminals per scenario, and in pos_world (default 20)", {}),
        ("--pos-seed", "seed of the world, the load and the fault draws (default 42)", {}),
        ("--pos-catalogue", "scenario directory names resolve in (default: the lab's)", {}),
        ("--pos-runs-dir", "keep run directories here (default: pytest's temporary dir)", {}),
        ("--pos-plugin", "a plugin module (probes, fault actions, expectation kinds)", {}),
    ]
    for flag, help_text, extra in options:
        dest = flag.removeprefix("--").replace("-", "_")
        if flag == "--pos-plugin":
            group.addoption(flag, dest=dest, action="append", default=[], help=help_text)
        else:
            group.addoption(flag, dest=dest, default=None, help=help_text, **extra)
        parser.addini(dest, help_text, default=None)
    group.addoption(
        "--pos-containers",
        dest="pos_containers",
        action="store_true",
        default=False,
        help="run stacks and scenarios in containers (the lab's images on a Docker engine)",
    )
    parser.addini("pos_containers", "as --pos-containers", type="bool", default=False)
    parser.addini(
        "pos_stack_scope", "the pos_stack fixture's scope (default module)", default="module"
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "pos_containers: this test's pos_stack and run_scenario use containers "
        "(the lab's images on a Docker engine)",
    )


def _value(config: pytest.Config, name: str) -> Any:
    given = config.getoption(name)
    if given not in (None, [], False):
        return given
    return config.getini(name)


@dataclass(frozen=True)
class PosSettings:
    """The session's options, as the fixtures use them."""

    time_scale: float = 1.0
    terminals: int | None = None
    seed: int = 42
    catalogue: Path | None = None
    runs_dir: Path | None = None
    plugins: tuple[str, ...] = ()
    containers: bool = False

    @classmethod
    def from_config(cls, config: pytest.Config) -> PosSettings:
        def number(name: str, kind: Callable[[str], T]) -> T | None:
            raw = _value(config, name)
            if raw in (None, ""):
                return None
            try:
                return kind(str(raw))
            except ValueError:
                flag = "--" + name.replace("_", "-")
                raise pytest.UsageError(f"{flag}: not a number: {raw!r}") from None

        catalogue = _value(config, "pos_catalogue") or os.environ.get("LAB_SCENARIOS")
        runs_dir = _value(config, "pos_runs_dir")
        plugins = _value(config, "pos_plugin") or ()
        if isinstance(plugins, str):
            plugins = plugins.split()
        return cls(
            time_scale=number("pos_time_scale", float) or 1.0,
            terminals=number("pos_terminals", int),
            seed=number("pos_seed", int) or 42,
            catalogue=Path(catalogue) if catalogue else None,
            runs_dir=Path(runs_dir) if runs_dir else None,
            plugins=tuple(plugins),
            containers=bool(_value(config, "pos_containers")),
        )


@pytest.fixture(scope="session")
def pos_settings(pytestconfig: pytest.Config) -> PosSettings:
    """The ``--pos-*`` options; plugin modules are imported here, once."""
    settings = PosSettings.from_config(pytestconfig)
    if settings.plugins:
        from poslab.plugins import load_plugins

        load_plugins(settings.plugins)
    return settings


def _wants_containers(request: pytest.FixtureRequest, settings: PosSettings) -> bool:
    return settings.containers or request.node.get_closest_marker("pos_containers") is not None


def _check_containers() -> None:
    """Fail at once, saying why, when container mode cannot work here."""
    try:
        from poslab.cli.containers import check_engine

        check_engine()
    except ImportError as exc:
        pytest.fail(
            "--pos-containers: container mode needs the lab's [containers] extra "
            f"(testcontainers, docker): {exc}",
            pytrace=False,
        )
    except Exception as exc:  # no engine, or the images not built
        pytest.fail(f"--pos-containers: container mode is not usable here: {exc}", pytrace=False)


def _topology() -> Topology:
    from poslab.stack import (
        DEFAULT_REGIONS,
        Mode,
        ServiceName,
        default_topology,
        with_external_proxy,
    )

    topology = default_topology(DEFAULT_REGIONS)
    url = os.environ.get("TOXIPROXY_URL")  # as lab run: the real Toxiproxy instead
    if url and topology.service(ServiceName.PROXY).mode is Mode.EMBEDDED:
        topology = with_external_proxy(topology, url)
    return topology


# -- pos_world -----------------------------------------------------------------------


@dataclass(frozen=True)
class PosWorld:
    """The payment world of the session: merchants, terminals, cards, agents."""

    path: Path  # world.json, as every process of a stack loads it
    world: World

    @property
    def terminals(self) -> Any:
        return self.world.terminals


@pytest.fixture(scope="session")
def pos_world(pos_settings: PosSettings, tmp_path_factory: pytest.TempPathFactory) -> PosWorld:
    """The world of ``--pos-seed`` with ``--pos-terminals`` terminals (default 20)."""
    from poslab.stack import DEFAULT_REGIONS
    from poslab.world import generate, save

    terminals = pos_settings.terminals or _DEFAULT_TERMINALS
    world = generate(pos_settings.seed, terminals, regions=DEFAULT_REGIONS)
    path = tmp_path_factory.mktemp("pos-world") / "world.json"
    save(world, path)
    return PosWorld(path, world)


# -- pos_stack -----------------------------------------------------------------------


class _Loop:
    """An event loop on a thread of its own: the stack's processes, HTTP sessions
    and watchers live on it while the tests (synchronous) use the stack."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="pos-stack", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@dataclass
class PosStack:
    """A running stack: every service, every proxy, ready. Synchronous wrappers of
    :class:`poslab.stack.Stack` (``.stack`` is the stack itself, on ``.loop``)."""

    stack: Stack
    run_dir: Path
    containers: bool
    _loop: _Loop = field(repr=False)

    @property
    def addresses(self) -> StackAddresses:
        """Terminal paths per region, agent and admin URLs, the proxy API."""
        return self.stack.addresses

    @property
    def proxy_api(self) -> str:
        """``http://host:port`` of the Toxiproxy API (what the ``toxiproxy`` fixture uses)."""
        return self.stack.addresses.proxy_api

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop.loop

    def kill(self, service: str) -> None:
        self._loop.run(self.stack.kill(service))

    def restart(self, service: str) -> None:
        self._loop.run(self.stack.restart(service))

    def health(self) -> StackHealth:
        return self._loop.run(self.stack.health())

    def reset_proxy(self) -> None:
        """Every proxy enabled, every toxic gone."""
        self._loop.run(self.stack.proxy_api.reset())


def _stack_scope(fixture_name: str, config: pytest.Config) -> str:
    scope = str(config.getini("pos_stack_scope") or "module")
    if scope not in ("function", "class", "module", "package", "session"):
        raise pytest.UsageError(f"pos_stack_scope = {scope!r}: not a pytest scope")
    return scope


@pytest.fixture(scope=_stack_scope)  # type: ignore[arg-type]
def pos_stack(
    request: pytest.FixtureRequest,
    pos_settings: PosSettings,
    pos_world: PosWorld,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[PosStack]:
    """A fresh stack on ``pos_world``, stopped (every process reaped) at the scope's end."""
    from poslab.stack import Stack

    containers = _wants_containers(request, pos_settings)
    run_dir = tmp_path_factory.mktemp("pos-stack")
    topology = _topology()
    if containers:
        _check_containers()
        from poslab.stack.container_launcher import ContainerSettings
        from poslab.stack.container_stack import ContainerStack

        settings = ContainerSettings.for_run(run_dir, pos_world.path, seed=pos_settings.seed)
        stack: Stack = ContainerStack(
            topology, pos_world.path, run_dir, seed=pos_settings.seed, containers=settings
        )
    else:
        stack = Stack(topology, pos_world.path, run_dir, seed=pos_settings.seed)
    loop = _Loop()
    try:
        loop.run(stack.up())
        yield PosStack(stack, run_dir, containers, loop)
    finally:
        try:
            loop.run(stack.stop(), timeout=_STACK_STOP_S)
        finally:
            loop.close()


# -- toxiproxy -----------------------------------------------------------------------


@pytest.fixture
def toxiproxy(pos_stack: PosStack) -> Iterator[Any]:
    """toxiproxy-python's ``Toxiproxy``, pointed at the stack's proxy API; the proxy
    is reset after the test (every proxy enabled, every toxic gone).

    toxiproxy-python keeps its server's address in a class attribute
    (``APIConsumer.host``/``port``): it is set for the test and put back after.
    """
    try:
        from toxiproxy import Toxiproxy
        from toxiproxy.api import APIConsumer
    except ImportError:
        pytest.fail(
            "the toxiproxy fixture needs toxiproxy-python (pip install toxiproxy-python)",
            pytrace=False,
        )
    from urllib.parse import urlsplit

    api = urlsplit(pos_stack.proxy_api)
    previous = (APIConsumer.host, APIConsumer.port)
    client = Toxiproxy()
    client.update_api_consumer(api.hostname, api.port)
    try:
        yield client
    finally:
        try:
            pos_stack.reset_proxy()
        finally:
            APIConsumer.host, APIConsumer.port = previous


# -- run_scenario --------------------------------------------------------------------


@dataclass(frozen=True)
class ScenarioScore:
    """One scenario's verdict, as a team's test asserts on it."""

    name: str
    score: float  # 0-100
    passed: bool  # its own minimum met, integrity held, and the run was not cut short
    status: str  # scored | could_not_run
    reason: str  # why it did not pass ("" when it did)
    run_dir: Path
    exit_code: int  # what `lab run` would have exited with
    result: ScenarioResult = field(repr=False)
    run: RunResult = field(repr=False)

    @property
    def checks(self) -> list[Check]:
        """The integrity checks (lost approvals, double bookings, …)."""
        return list(self.result.checks)

    @property
    def failed_checks(self) -> list[Check]:
        return list(self.result.failed_checks)

    @property
    def expectations(self) -> list[ExpectationResult]:
        """The scenario's own checks (probes' included), each with ``held`` and ``detail``."""
        return list(self.result.expectations)

    @property
    def components(self) -> dict[str, float]:
        """A, R and E of the score (0-1)."""
        return dict(self.result.components)

    def __str__(self) -> str:
        verdict = "passed" if self.passed else f"failed: {self.reason}"
        return f"{self.name}: score {self.score:.1f} ({verdict}); run directory {self.run_dir}"


RunScenario = Callable[..., ScenarioScore]


@pytest.fixture
def run_scenario(
    request: pytest.FixtureRequest,
    pos_settings: PosSettings,
    tmp_path_factory: pytest.TempPathFactory,
) -> RunScenario:
    """``run_scenario(name_or_path, *, time_scale=, terminals=, seed=, policy=,
    min_score=, catalogue=, containers=)`` → :class:`ScenarioScore`.

    Runs the scenario as ``lab run`` does — a fresh stack, the terminal fleet,
    its faults on time, rollback always, the drain, scoring — in a run directory
    under ``--pos-runs-dir`` (default: pytest's temporary directory). The run's
    console output is attached to the test's report. A scenario that does not
    validate raises (``ScenarioInvalid``: file, line, field); one whose stack
    would not start scores 0 with the reason.
    """

    def run(
        ref: str | Path,
        *,
        time_scale: float | None = None,
        terminals: int | None = None,
        seed: int | None = None,
        policy: str = "resilient",
        min_score: float | None = None,
        catalogue: str | Path | None = None,
        containers: bool | None = None,
    ) -> ScenarioScore:
        from rich.console import Console

        from poslab.report import finish_run
        from poslab.report.prometheus import RunMetrics
        from poslab.scenario import (
            Catalogue,
            RunOptions,
            RunPlan,
            RunSettings,
            launch_run,
            load_scenario,
        )

        scale = time_scale if time_scale is not None else pos_settings.time_scale
        count = terminals if terminals is not None else pos_settings.terminals
        topology = _topology()
        root = Path(catalogue) if catalogue is not None else pos_settings.catalogue
        scenario = load_scenario(
            ref,
            topology,
            RunOptions(time_scale=scale, terminals=count),
            Catalogue(root) if root is not None else Catalogue(),
        )
        settings = RunSettings(
            name=scenario.name,
            suite=None,
            seed=seed if seed is not None else pos_settings.seed,
            terminals=count,
            time_scale=scale,
            policy=policy,
            min_score=min_score if min_score is not None else scenario.min_score,
        )
        runs_dir = pos_settings.runs_dir or tmp_path_factory.mktemp("pos-runs")
        plan = RunPlan(settings, (scenario,), topology, runs_dir)
        stack_factory = None
        wanted = containers if containers is not None else _wants_containers(request, pos_settings)
        if wanted:
            _check_containers()
            from poslab.cli.containers import container_stack_factory

            stack_factory = container_stack_factory(plan)
        output = io.StringIO()
        console = Console(file=output, width=120, force_terminal=False, color_system=None)
        results: list[RunResult] = []
        metrics = RunMetrics(suite=scenario.name)  # metrics.prom, as every lab run writes

        def judge(run_dir: Path, outcome: Any) -> tuple[str, int]:
            result = finish_run(run_dir, min_score=settings.min_score, console=console)
            results.append(result)
            for problem in metrics.finish(result):
                console.print(f"warning: {problem}", markup=False)
            return result.gate.status, result.gate.exit_code

        done = launch_run(
            plan,
            judge,
            console=console,
            plain=True,
            stack_factory=stack_factory,
            on_events=metrics.attach,
        )
        request.node.add_report_section("call", f"pos-lab {scenario.name}", output.getvalue())
        run_result = results[0]
        mine = run_result.scenarios[0]
        reason = "" if mine.passed else (mine.reason or "; ".join(run_result.gate.reasons))
        if done.outcome.stack_failure is not None:
            reason = done.outcome.stack_failure
        return ScenarioScore(
            name=mine.name,
            score=mine.score,
            passed=mine.passed and done.exit_code == 0,
            status=mine.status,
            reason=reason,
            run_dir=done.run_dir,
            exit_code=done.exit_code,
            result=mine,
            run=run_result,
        )

    return run
