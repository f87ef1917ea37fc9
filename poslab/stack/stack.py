"""The payment world as one object: bring it up, probe it, break it, tear it down.

    async with Stack(topology, world_file, run_dir) as stack:
        stack.addresses.regions["north"].primary   # where north's terminals dial
        await stack.kill("acquirer")                # SIGKILL, for a durability scenario
        await stack.restart("acquirer")             # same ports, same database
        report = await stack.health()

Start order follows the wiring of DESIGN.md's picture; everything that does
not wait on something else starts at the same time:

    proxy ‖ issuer  →  proxy "issuer" (upstream = issuer)
                    →  acquirer (--issuer = that proxy's listen address)
                    →  proxies to the acquirer ‖ agents (--acquirer-admin) → agent proxies
                    →  a connection through every proxy reaches its service

Toxiproxy does not dial an upstream when a proxy is created, but the
acquirer must be told the issuer proxy's address when it starts, so each
proxy is created as soon as its upstream's address is known. Every proxy
listens on ``127.0.0.1:0`` unless the topology fixes a port; the bound port is
read back from the API.

How a service runs is its launcher's business (:mod:`poslab.stack.launcher`):
:meth:`Stack._launcher` picks, once per service, an embedded process
(:mod:`poslab.stack.embedded`), a service that runs already (``mode: external``,
:mod:`poslab.stack.external`: its given address is the proxies' upstream and a
TCP connect, or its admin ``/health``, its health check) or a container of a
compose project (:mod:`poslab.stack.compose_launcher`); starting, killing,
restarting and stopping then go through the launcher alone.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Mapping
from pathlib import Path

from poslab.errors import ConfigError, StackError
from poslab.proxy.client import ToxiproxyClient
from poslab.stack.commands import Programs, spec_for, write_config
from poslab.stack.compose import ComposeProject
from poslab.stack.compose_launcher import ComposeLauncher
from poslab.stack.embedded import EmbeddedLauncher
from poslab.stack.external import ExternalLauncher
from poslab.stack.health import StackHealth, probe_proxy, stack_health
from poslab.stack.launcher import ServiceLauncher
from poslab.stack.probe import Prober, until_ok
from poslab.stack.process import DEFAULT_GRACE_S
from poslab.stack.service import ServiceSpec
from poslab.stack.state import (
    ComposeState,
    ProxyState,
    ServiceState,
    StackAddresses,
    StackState,
    read_state,
    write_state,
)
from poslab.stack.topology import Mode, Service, ServiceName, Topology
from poslab.stack.wiring import (
    addresses_of,
    concurrently,
    create_proxy,
    forget_proxies,
    issuer_address_for_acquirer,
    loopback_if_wildcard,
    restore_proxies,
    split,
    stop_tiers,
)

DEFAULT_READY_TIMEOUT_S = 30.0
_AGENTS = (ServiceName.AGENT_PRIMARY, ServiceName.AGENT_BACKUP)


class Stack:
    """The payment world: :meth:`up` starts it, :meth:`attach` adopts a running one."""

    def __init__(
        self,
        topology: Topology,
        world_file: Path,
        run_dir: Path,
        *,
        state_file: Path | None = None,
        seed: int | None = None,
        programs: Programs | None = None,
        orphan_guard: bool = True,
        ready_timeout: float = DEFAULT_READY_TIMEOUT_S,
        grace: float = DEFAULT_GRACE_S,
        proxy_upstreams: Mapping[str, str] | None = None,
        admin_token: str | None = None,
        compose: ComposeProject | None = None,
        acquirer_config: Mapping[str, object] | None = None,
    ) -> None:
        """Describe a stack; :meth:`up` (or ``async with``) starts it.

        ``state_file`` (default ``<run_dir>/stack.json``) is kept current so a
        later ``lab down`` can stop what a crashed lab left. ``orphan_guard``
        ties the services' lives to this process (they die with it even on
        SIGKILL); ``lab up`` passes False so they outlive it. ``programs``
        replaces a service's program (same contract). ``proxy_upstreams``
        gives, per service, the address the *proxy* dials when it lives in
        another network than the lab (containers); ``admin_token`` is the
        bearer token of admin APIs bound beyond 127.0.0.1; ``compose`` is the
        project whose containers kill/restart/stop act on (container mode).
        ``acquirer_config`` (``AcquirerConfig`` names → values) is written to
        ``services/acquirer.config.json`` and given to the embedded acquirer
        as ``--config``; an external acquirer cannot take it (ConfigError).
        """
        self.topology = topology
        self.world_file = world_file.resolve()
        self.run_dir = run_dir.resolve()
        self.state_file = state_file if state_file is not None else self.run_dir / "stack.json"
        self.seed = seed
        self.programs = programs
        self.orphan_guard = orphan_guard
        self.ready_timeout = ready_timeout
        self.grace = grace
        self.ready_seconds: float | None = None
        # service -> seconds from its spawn to its readiness (the start's critical path)
        self.timings: dict[str, float] = {}
        self.started_at = time.time()
        self._launchers: dict[str, ServiceLauncher] = {}
        self._services: dict[str, ServiceState] = {}
        self._proxies: dict[str, ProxyState] = {}
        self._api: ToxiproxyClient | None = None
        self.proxy_upstreams = dict(proxy_upstreams or {})
        self.admin_token = admin_token
        self.compose = compose
        self.acquirer_config = dict(acquirer_config) if acquirer_config else None
        acquirer = topology.service(ServiceName.ACQUIRER)
        if self.acquirer_config and (acquirer.mode is not Mode.EMBEDDED or compose is not None):
            raise ConfigError(
                "the acquirer is not a process the lab starts: it cannot be given settings"
            )
        self._prober = Prober(admin_token)
        self._started = False
        self._stopped = False
        self._acquirer_config_file: Path | None = None

    # -- bringing it up ----------------------------------------------------

    async def up(self) -> Stack:
        """Start every embedded service and proxy; return once all are ready.

        Raises :class:`StackError` naming the service that would not start,
        with its log tail, after stopping everything it had started.
        """
        if self._started:
            raise StackError("this stack was already brought up")
        self._started = True
        if not self.world_file.is_file():
            raise ConfigError(f"world file {self.world_file} does not exist")
        self._refuse_a_second_stack()
        try:
            await self._bring_up()
        except BaseException as failure:
            try:
                await self.stop()
            except Exception as cleanup:  # keep the cause of the failed start on top
                failure.add_note(f"and stopping what had started failed too: {cleanup}")
            raise
        return self

    async def _bring_up(self) -> None:
        began = time.monotonic()
        (self.run_dir / "services").mkdir(parents=True, exist_ok=True)
        if self.acquirer_config:
            self._acquirer_config_file = write_config(
                self.run_dir, ServiceName.ACQUIRER.value, self.acquirer_config
            )
        self._save()
        deadline = time.monotonic() + self.ready_timeout
        await concurrently(self._start_proxy(deadline), self._ensure(ServiceName.ISSUER, deadline))
        await self._wire(ServiceName.ISSUER)
        await self._ensure(ServiceName.ACQUIRER, deadline)
        await concurrently(
            self._wire(ServiceName.ACQUIRER),
            *(self._ensure_and_wire(agent, deadline) for agent in _AGENTS),
        )
        await concurrently(*(self._await_path(name, deadline) for name in self._proxies))
        self.ready_seconds = time.monotonic() - began
        self._save()

    async def _start_proxy(self, deadline: float) -> None:
        await self._ensure(ServiceName.PROXY, deadline)
        self._api = ToxiproxyClient(self._proxy_url())
        # A new run starts from a clean proxy: every toxic gone, every proxy enabled.
        await self._api.reset()

    async def _ensure_and_wire(self, name: ServiceName, deadline: float) -> None:
        await self._ensure(name, deadline)
        await self._wire(name)

    async def _ensure(self, name: ServiceName, deadline: float) -> None:
        """Start a service by its launcher, record it, and await its readiness."""
        launcher = self._launcher(self.topology.service(name))
        self._launchers[name.value] = launcher
        began = time.monotonic()
        await launcher.start(deadline)
        self._record(launcher)  # a lab that dies from here on leaves lab down what to stop
        await launcher.ready(deadline)
        self.timings[name.value] = time.monotonic() - began
        self._record(launcher)

    def _launcher(self, service: Service) -> ServiceLauncher:
        """How ``service`` runs, decided here once: a container of the compose
        project, a service that runs already, or a process of the lab's."""
        if self.compose is not None:
            return ComposeLauncher(service, self.compose, self._prober, timeout=self.ready_timeout)
        if service.mode is Mode.EXTERNAL:
            return ExternalLauncher(service, self._prober, self.run_dir)
        return EmbeddedLauncher.of(
            service,
            self._spec(service),
            self._prober,
            orphan_guard=self.orphan_guard,
            grace=self.grace,
        )

    def _spec(self, service: Service) -> ServiceSpec:
        issuer = acquirer_admin = None
        if service.name is ServiceName.ACQUIRER:
            issuer = issuer_address_for_acquirer(self.topology, self._services, self._proxies)
        if service.name in _AGENTS:
            # None for an external acquirer without an admin API: the agents then
            # provision only the world's terminals (poslab.stack.commands.spec_for)
            acquirer_admin = self._services[ServiceName.ACQUIRER.value].admin_url
        return spec_for(
            service,
            self.run_dir,
            self.world_file,
            seed=self.seed,
            programs=self.programs,
            issuer=issuer,
            acquirer_admin=acquirer_admin,
            acquirer_config=self._acquirer_config_file,
        )

    async def _wire(self, name: ServiceName) -> None:
        """Create every proxy in front of ``name`` now that its address is known."""
        api = self._require_api()
        upstream = self.proxy_upstreams.get(name.value) or self._address(name.value)
        for proxy in self.topology.proxies_to(name):
            info = await create_proxy(api, proxy.name, str(proxy.listen), upstream)
            self._proxies[proxy.name] = ProxyState(
                name=proxy.name,
                listen=loopback_if_wildcard(info.listen, self._proxy_host()),
                upstream=info.upstream,
                upstream_service=name.value,
                role=proxy.role.value,
                region=proxy.region,
            )
        self._save()

    async def _await_path(self, proxy_name: str, deadline: float) -> None:
        """A connection through the proxy reaches its upstream."""
        proxy = self._proxies[proxy_name]
        probe = await until_ok(lambda: probe_proxy(self._prober, proxy, self._services), deadline)
        if not probe.ok:
            logs = await self._launchers[proxy.upstream_service].logs()
            raise StackError(
                f"proxy {proxy_name} does not reach its upstream: {probe.detail}; "
                f"last lines of {proxy.upstream_service}:\n{logs}"
            )

    # -- what clients use --------------------------------------------------

    @property
    def addresses(self) -> StackAddresses:
        """Terminal paths per region, agent URLs, admin URLs, the proxy API."""
        return addresses_of(self.topology, self._services, self._proxies)

    @property
    def proxy_api(self) -> ToxiproxyClient:
        """The Toxiproxy API client of this stack's proxy (embedded or real)."""
        return self._require_api()

    def state(self) -> StackState:
        return StackState(
            run_dir=str(self.run_dir),
            world_file=str(self.world_file),
            started_at=self.started_at,
            ready_seconds=self.ready_seconds,
            owner_pid=os.getpid(),
            detached=not self.orphan_guard,
            seed=self.seed,
            # the ledger source's URL may carry a password: the state file never
            # needs it (lab down, attach), so it is not written to disk there
            topology=self.topology.model_dump(mode="json", exclude={"ledger"}),
            services=dict(self._services),
            proxies=dict(self._proxies),
            addresses=self.addresses if self._services else None,
            proxy_upstreams=self.proxy_upstreams,
            admin_token=self.admin_token,
            compose=None if self.compose is None else ComposeState.of(self.compose),
        )

    # -- breaking it -------------------------------------------------------

    async def kill(self, service: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to a service; for KILL, return once it is gone."""
        await self._launcher_of(service).kill(sig)

    async def restart(self, service: str) -> None:
        """Stop the service if it runs (TERM, then KILL) and start it again on the
        same ports and the same database; return once it is ready again."""
        launcher = self._launcher_of(service)
        await launcher.restart(self._deadline())
        self._record(launcher)
        # Readiness gets its full time from the new start, whatever the stop took.
        await launcher.ready(self._deadline())
        self._record(launcher)
        if service == ServiceName.PROXY.value:
            # A Toxiproxy started afresh remembers no proxy (one from a config file does).
            await restore_proxies(self._require_api(), self._proxies.values())

    def _deadline(self) -> float:
        return time.monotonic() + self.ready_timeout

    def _launcher_of(self, service: str) -> ServiceLauncher:
        launcher = self._launchers.get(service)
        if launcher is None:
            known = sorted(s.name.value for s in self.topology.services)
            if service not in known:
                raise StackError(f"unknown service {service!r} (services: {', '.join(known)})")
            raise StackError(f"service {service} was never started")
        return launcher

    # -- watching it -------------------------------------------------------

    async def health(self) -> StackHealth:
        """Every service's and every proxy's health, probed concurrently."""
        return await stack_health(self._prober, self._services, self._launchers, self._proxies)

    # -- tearing it down ---------------------------------------------------

    async def stop(self) -> None:
        """Stop every service this stack started and reap it; idempotent.

        Proxies created on a Toxiproxy that outlives the stack (an external one)
        are deleted; one the stack started takes them with it. The state file is
        removed once nothing runs.
        """
        if self._stopped:
            return
        self._stopped = True
        try:
            results: list[BaseException | None] = []
            for tier in stop_tiers(self._launchers):
                results += await asyncio.gather(
                    *(self._launchers[name].stop(self.grace) for name in tier),
                    return_exceptions=True,
                )
            if self._api is not None:
                await forget_proxies(self._api, self._proxies)
        finally:
            await self._prober.close()
            if self._api is not None:
                await self._api.close()
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise StackError(f"stopping the stack: {'; '.join(map(str, errors))}")
        self.state_file.unlink(missing_ok=True)

    async def detach(self) -> StackState:
        """Leave the services running (``lab up``); the state file says how to reach them."""
        await self.close()
        self._save()
        return self.state()

    async def close(self) -> None:
        """Let go of this handle (its HTTP sessions); the services keep running."""
        self._stopped = True
        await self._prober.close()
        if self._api is not None:
            await self._api.close()

    async def __aenter__(self) -> Stack:
        if not self._started:
            await self.up()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- a stack started by an earlier `lab up` ----------------------------

    @classmethod
    def attach(cls, state: StackState, state_file: Path | None = None) -> Stack:
        """The stack described by a state file, to probe, break, restart or stop it."""
        topology = Topology.model_validate(state.topology)
        stack = cls(
            topology,
            Path(state.world_file),
            Path(state.run_dir),
            state_file=state_file,
            seed=state.seed,
            orphan_guard=not state.detached,
            proxy_upstreams=state.proxy_upstreams,
            admin_token=state.admin_token,
            compose=None if state.compose is None else state.compose.to_project(),
        )
        stack._started = True
        stack.started_at = state.started_at
        stack.ready_seconds = state.ready_seconds
        stack._services = dict(state.services)
        stack._proxies = dict(state.proxies)
        for service in topology.services:
            launcher = stack._adopt(service, state.services.get(service.name.value))
            if launcher is not None:
                stack._launchers[service.name.value] = launcher
        if ServiceName.PROXY.value in stack._services:
            stack._api = ToxiproxyClient(stack._proxy_url())
        return stack

    @classmethod
    def attach_file(cls, state_file: Path) -> Stack:
        state = read_state(state_file)
        if state is None:
            raise StackError(f"no stack is up (no state file {state_file}); start one: lab up")
        return cls.attach(state, state_file)

    # -- bookkeeping -------------------------------------------------------

    def _refuse_a_second_stack(self) -> None:
        previous = read_state(self.state_file)
        if previous is not None and previous.anything_running():
            raise StackError(
                f"a stack is already up (state {self.state_file}, run dir {previous.run_dir}); "
                "stop it first: lab down"
            )

    def _adopt(self, service: Service, state: ServiceState | None) -> ServiceLauncher | None:
        """The launcher of a service an earlier ``lab`` started, from its state; None
        for one it had not started yet. A compose project is removed whole, so
        each of its services has a launcher whatever the state says."""
        if self.compose is not None:
            return ComposeLauncher(service, self.compose, self._prober, timeout=self.ready_timeout)
        if state is None:
            return None
        if state.process is not None:
            return EmbeddedLauncher.adopt(
                service, state.process, state.ports, self._prober, grace=self.grace
            )
        if state.mode == "container":  # lab up --containers (poslab.stack.container_launcher)
            from poslab.stack.container_launcher import adopt_container

            return adopt_container(
                service, state, self._spec(service), self._prober, run_dir=self.run_dir,
                world_file=self.world_file, seed=self.seed, grace=self.grace,
            )  # fmt: skip
        return ExternalLauncher(service, self._prober, self.run_dir)

    def _record(self, launcher: ServiceLauncher) -> None:
        self._services[launcher.name] = launcher.state()
        self._save()

    def _save(self) -> None:
        write_state(self.state_file, self.state())

    def _require_api(self) -> ToxiproxyClient:
        if self._api is None:
            raise StackError("the fault proxy is not up")
        return self._api

    def _proxy_url(self) -> str:
        return f"http://{self._address(ServiceName.PROXY.value)}"

    def _proxy_host(self) -> str:
        return split(self._address(ServiceName.PROXY.value))[0]

    def _address(self, service: str) -> str:
        state = self._services.get(service)
        if state is None or state.address is None:
            raise StackError(f"{service} has no address yet")
        return state.address
