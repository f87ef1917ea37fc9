"""Injecting and clearing every kind of fault, and the rollback that always happens.

One :class:`FaultInjector` per scenario. Each kind goes through the channel
docs/faults.md names for it:

- **network** — the Toxiproxy API: ``down`` disables the proxy (its listener
  and every open connection close), a toxic is added by its resolved name;
  clearing enables the proxy / removes the toxic (already gone is fine);
- **application** — ``POST /admin/faults/<name>`` on the service's admin API,
  ``DELETE`` to clear (idempotent on the mocks' side); on an external service
  whose topology entry maps that fault to a hook, the hook's ``do`` and
  ``undo`` instead (:mod:`poslab.stack.hooks`; a hook that fails or times out
  is a fault not injected, :class:`FaultNotInjected`);
- **process** — the stack: ``kill`` sends the signal now and the window's end
  starts the service again (same ports, same database); ``restart`` is instant;
- **fleet** — a command on the fleet control file; the TIDs a ``share``/``count``
  hits were drawn before the run (``poslab.scenario.spec.fleet_draws``) and travel in
  the command, so every Locust process acts on the same terminals.

Every effect fires ``fault_injected``/``fault_cleared`` with its real time on
the scenario clock and its drift from the plan. :meth:`FaultInjector.rollback`
undoes whatever is still active, then resets the proxy and reads it back: the
``rollback`` event's ``ok`` says every proxy is enabled and no toxic is left.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from poslab.errors import LabError, ProxyError
from poslab.proxy.client import ToxiproxyClient
from poslab.scenario.journal import RunEvents
from poslab.scenario.schedule import ScenarioClock
from poslab.scenario.spec.resolved import (
    ApplicationFault,
    Fault,
    FleetFault,
    NetworkFault,
    PluginFault,
    ProcessFault,
)
from poslab.stack.hook_model import ServiceHooks
from poslab.stack.hooks import HookFailed, hooks_log, run_hook

_ADMIN_TIMEOUT_S = 10.0


class FaultError(LabError):
    """A fault could not be injected or cleared (the scenario cannot go on as planned)."""


class FaultNotInjected(FaultError):
    """A hook of a service the lab does not own failed or timed out: the fault is not
    in place, so the scenario could not run as written (scored could-not-run)."""


class ProcessControl(Protocol):
    """Kill and restart services (``poslab.stack.stack.Stack`` fits)."""

    async def kill(self, service: str, sig: int = ...) -> None: ...

    async def restart(self, service: str) -> None: ...


class FleetControl(Protocol):
    """The fleet control channel (``poslab.fleet.Fleet`` fits)."""

    def control(
        self, action: str, params: Mapping[str, Any] | None = None, until: float | None = None
    ) -> int: ...


@dataclass
class ActiveFault:
    fault: Fault
    injected_at: float
    fleet_seq: int | None = None


@dataclass
class RollbackReport:
    ok: bool
    cleared: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def detail(self) -> str:
        parts = []
        if self.cleared:
            parts.append(f"cleared {', '.join(self.cleared)}")
        parts += self.problems
        return "; ".join(parts) or "nothing was active; proxy verified clean"


def fault_params(fault: Fault) -> dict[str, Any]:
    """The fault's params as the journal and the admin APIs take them."""
    if isinstance(fault, NetworkFault):
        if fault.toxic is None:
            return {}
        return fault.toxic.model_dump(mode="json")
    return fault.params.model_dump(mode="json", exclude_none=True)


class PluginActions(Protocol):
    """A scenario's plugin fault actions (``poslab.scenario.extensions.PluginActions``)."""

    async def inject(self, fault: PluginFault) -> None: ...

    async def clear(self, fault: PluginFault) -> None: ...


class FaultInjector:
    """Applies one scenario's faults and remembers which are active."""

    #: ``kind: plugin`` faults go here (the runner sets it; a drill has none)
    plugins: PluginActions | None = None

    def __init__(
        self,
        scenario: str,
        clock: ScenarioClock,
        events: RunEvents,
        *,
        proxy: ToxiproxyClient,
        admin: Mapping[str, str],
        processes: ProcessControl | None = None,
        fleet: FleetControl | None = None,
        fleet_draws: Mapping[str, tuple[str, ...]] | None = None,
        admin_token: str | None = None,
        hooks: Mapping[str, ServiceHooks] | None = None,
        run_dir: Path | None = None,
    ) -> None:
        """``hooks``: per external service, its topology hooks; their output goes
        to ``run_dir``'s ``services/<service>.hooks.log``."""
        self.scenario = scenario
        self.clock = clock
        self.events = events
        self.proxy = proxy
        self.admin = dict(admin)
        self.processes = processes
        self.fleet = fleet
        self.fleet_draws = dict(fleet_draws or {})
        self.active: dict[str, ActiveFault] = {}
        self.hooks = dict(hooks or {})
        self.run_dir = run_dir
        self._admin_touched: set[str] = set()
        self._fleet_touched = False
        headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
        self._headers = headers
        self._session: aiohttp.ClientSession | None = None

    # -- public ------------------------------------------------------------------

    async def inject(self, fault: Fault) -> None:
        """Put ``fault`` in place now; fires ``fault_injected`` once it is."""
        planned = self.clock.epoch(fault.at_s)
        seq = await self._apply(fault)
        now = self.clock.now()
        if fault.windowed:
            self.active[fault.id] = ActiveFault(fault, now, seq)
        self.events.fault_injected.fire(
            t=now,
            scenario=self.scenario,
            fault_id=fault.id,
            kind=fault.kind,
            target=fault.target,
            action=_action(fault),
            params=fault_params(fault),
            planned_t=planned,
            drift_ms=round((now - planned) * 1000, 3),
            **self._fleet_fields(fault),
        )

    async def clear(self, fault: Fault, reason: str = "window_end") -> None:
        """Undo ``fault`` (a no-op when it is not active); fires ``fault_cleared``."""
        active = self.active.get(fault.id)
        if active is None:
            return
        planned = self.clock.epoch(fault.end_s)
        began = self.clock.now()
        await self._undo(active)
        done = self.clock.now()
        del self.active[fault.id]
        # A process comes back when it is *started*: the time it then needs to
        # be ready is the system's recovery, which scoring measures.
        effect = began if isinstance(fault, ProcessFault) else done
        extra: dict[str, Any] = {}
        if isinstance(fault, ProcessFault):
            extra["ready_ms"] = round((done - began) * 1000, 1)
        self.events.fault_cleared.fire(
            t=effect,
            scenario=self.scenario,
            fault_id=fault.id,
            kind=fault.kind,
            target=fault.target,
            planned_t=planned,
            drift_ms=round((effect - planned) * 1000, 3) if reason == "window_end" else None,
            reason=reason,
            **extra,
        )

    async def rollback(self) -> RollbackReport:
        """Undo everything still active, reset the proxy and verify it; never raises."""
        report = RollbackReport(ok=True)
        for fault_id in reversed(list(self.active)):
            fault = self.active[fault_id].fault
            try:
                await self.clear(fault, reason="rollback")
                report.cleared.append(fault_id)
            except Exception as exc:  # keep undoing the rest
                report.ok = False
                report.problems.append(f"{fault_id}: {exc}")
                self.active.pop(fault_id, None)
        await self._reset_services(report)
        await self._verify_proxy(report)
        self.events.rollback.fire(
            t=self.clock.now(), scenario=self.scenario, ok=report.ok, detail=report.detail
        )
        return report

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- effects -------------------------------------------------------------------

    async def _apply(self, fault: Fault) -> int | None:
        try:
            if isinstance(fault, NetworkFault):
                await self._network(fault, on=True)
            elif isinstance(fault, ApplicationFault):
                if not await self._hook(fault, on=True):
                    await self._admin_call("POST", fault, fault_params(fault))
            elif isinstance(fault, ProcessFault):
                await self._process(fault, on=True)
            elif isinstance(fault, PluginFault):
                await self._plugin_actions(fault).inject(fault)
            else:
                return self._fleet_send(fault)
        except HookFailed as exc:
            raise FaultNotInjected(f"fault {fault.id}: not injected: {exc}") from exc
        except LabError as exc:
            raise FaultError(f"fault {fault.id}: could not inject: {exc}") from exc
        return None

    async def _undo(self, active: ActiveFault) -> None:
        fault = active.fault
        try:
            if isinstance(fault, NetworkFault):
                await self._network(fault, on=False)
            elif isinstance(fault, ApplicationFault):
                if not await self._hook(fault, on=False):
                    await self._admin_call("DELETE", fault, None)
            elif isinstance(fault, ProcessFault):
                await self._process(fault, on=False)
            elif isinstance(fault, PluginFault):
                await self._plugin_actions(fault).clear(fault)
            elif active.fleet_seq is not None and self.fleet is not None:
                self.fleet.control("clear", {"seq": active.fleet_seq})
        except LabError as exc:
            raise FaultError(f"fault {fault.id}: could not clear: {exc}") from exc

    def _plugin_actions(self, fault: PluginFault) -> PluginActions:
        if self.plugins is None:
            raise FaultError(f"fault {fault.id}: this run has no plugin fault actions")
        return self.plugins

    async def _network(self, fault: NetworkFault, *, on: bool) -> None:
        if fault.toxic is None:
            if on:
                await self.proxy.disable(fault.target)
            else:
                await self.proxy.enable(fault.target)
            return
        toxic = fault.toxic
        if on:
            await self.proxy.add_toxic(
                fault.target,
                toxic.type,
                name=toxic.name,
                stream=toxic.stream.value,
                toxicity=toxic.toxicity,
                attributes=dict(toxic.attributes),
            )
            return
        try:
            await self.proxy.remove_toxic(fault.target, toxic.name)
        except ProxyError as exc:
            if exc.status != 404:  # already gone (a proxy reset) is what we wanted
                raise

    async def _process(self, fault: ProcessFault, *, on: bool) -> None:
        if self.processes is None:
            raise FaultError(f"fault {fault.id}: this run has no process control")
        if fault.action == "restart" or not on:
            await self.processes.restart(fault.target)
            return
        sig = (
            signal.SIGTERM if getattr(fault.params, "signal", "KILL") == "TERM" else signal.SIGKILL
        )
        await self.processes.kill(fault.target, sig)

    async def _hook(self, fault: ApplicationFault, *, on: bool) -> bool:
        """The fault's hook (``do``, or ``undo`` when it has one); False when the
        target has no hook for it and its admin API is the way."""
        hooks = self.hooks.get(fault.target)
        mapped = None if hooks is None else hooks.faults.get(fault.action)
        if mapped is None:
            return False
        hook = mapped.do if on else mapped.undo
        if hook is None:
            return True  # a fault without an undo ends by itself
        if self.run_dir is None:
            raise FaultError(f"{fault.target}: hooks need the run directory for their log")
        await run_hook(
            hook,
            service=fault.target,
            what=f"{'fault' if on else 'undo'} {fault.action} ({fault.id})",
            log=hooks_log(self.run_dir, fault.target),
            params=fault_params(fault),
        )
        return True

    def _fleet_send(self, fault: FleetFault) -> int:
        if self.fleet is None:
            raise FaultError(f"fault {fault.id}: this run has no fleet to send it to")
        self._fleet_touched = True
        until = self.clock.epoch(fault.end_s) if fault.windowed else None
        return self.fleet.control(fault.action, self._fleet_command(fault), until)

    def _fleet_command(self, fault: FleetFault) -> dict[str, Any]:
        params = fault_params(fault)
        tids = self.fleet_draws.get(fault.id)
        if tids is not None and ("share" in params or "count" in params):
            # The drawn terminals replace the share: every process hits the same ones.
            params = {k: v for k, v in params.items() if k not in ("share", "count")}
            params["tids"] = list(tids)
        return params

    def _fleet_fields(self, fault: Fault) -> dict[str, Any]:
        if isinstance(fault, FleetFault) and fault.id in self.fleet_draws:
            return {"tids": list(self.fleet_draws[fault.id])}
        return {}

    async def _admin_call(
        self, method: str, fault: ApplicationFault, body: Mapping[str, Any] | None
    ) -> None:
        base = self.admin.get(fault.target)
        if base is None:
            raise FaultError(f"{fault.target} has no admin API in this stack")
        self._admin_touched.add(fault.target)
        url = f"{base}/admin/faults/{fault.action}"
        status, text = await self._http(method, url, body)
        if status != 200:
            raise FaultError(f"{method} {url}: HTTP {status}: {text[:200]}")

    async def _http(self, method: str, url: str, body: Mapping[str, Any] | None) -> tuple[int, str]:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=_ADMIN_TIMEOUT_S), headers=self._headers
            )
        try:
            async with self._session.request(
                method, url, json=dict(body) if body is not None else None
            ) as response:
                return response.status, await response.text()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise FaultError(f"{method} {url}: {exc or type(exc).__name__}") from exc

    # -- rollback helpers ----------------------------------------------------------

    async def _reset_services(self, report: RollbackReport) -> None:
        """Belt and braces: every admin API we touched drops all its faults."""
        for service in sorted(self._admin_touched):
            url = f"{self.admin[service]}/admin/reset"
            try:
                status, _ = await self._http("POST", url, {})
                if status != 200:
                    report.problems.append(f"{service} reset: HTTP {status}")
            except FaultError as exc:
                report.problems.append(f"{service} reset: {exc}")
        if self._fleet_touched and self.fleet is not None:
            try:
                self.fleet.control("clear", {"all": True})
            except LabError as exc:
                report.problems.append(f"fleet clear: {exc}")

    async def _verify_proxy(self, report: RollbackReport) -> None:
        try:
            await self.proxy.reset()
            proxies = await self.proxy.proxies()
        except LabError as exc:
            report.ok = False
            report.problems.append(f"proxy reset: {exc}")
            return
        dirty = [
            f"{p.name} ({'disabled' if not p.enabled else ''}"
            f"{' ' if not p.enabled and p.toxics else ''}"
            f"{', '.join(t.name for t in p.toxics)})"
            for p in proxies.values()
            if not p.enabled or p.toxics
        ]
        if dirty:
            report.ok = False
            report.problems.append(f"proxy not clean after reset: {'; '.join(dirty)}")


def _action(fault: Fault) -> str:
    if isinstance(fault, NetworkFault):
        return "down" if fault.toxic is None else f"toxic:{fault.toxic.type}"
    return fault.action


async def gather_quietly(*aws: Any) -> None:
    """Await everything; exceptions were already reported by the callee."""
    await asyncio.gather(*aws, return_exceptions=True)
