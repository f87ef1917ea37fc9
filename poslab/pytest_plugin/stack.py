"""``pos_world``, ``pos_stack`` and ``toxiproxy``: a running payment world for a
team's own tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from poslab.pytest_plugin.options import (
    PosSettings,
    check_containers,
    session_topology,
    wants_containers,
)

if TYPE_CHECKING:
    from poslab.stack import Stack, StackAddresses, StackHealth
    from poslab.world import World

T = TypeVar("T")
_DEFAULT_TERMINALS = 20  # the world of pos_world / pos_stack when --pos-terminals is not given
_STACK_STOP_S = 60.0


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

    containers = wants_containers(request, pos_settings)
    run_dir = tmp_path_factory.mktemp("pos-stack")
    topology = session_topology()
    if containers:
        check_containers()
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
