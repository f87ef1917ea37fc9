"""The plugin's options (``--pos-*``, ini ``pos_*``), the session's settings, and what
every fixture asks of the environment (containers usable? a real Toxiproxy?)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

if TYPE_CHECKING:
    from poslab.stack import Topology

T = TypeVar("T")


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


def wants_containers(request: pytest.FixtureRequest, settings: PosSettings) -> bool:
    return settings.containers or request.node.get_closest_marker("pos_containers") is not None


def check_containers() -> None:
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


def session_topology() -> Topology:
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
