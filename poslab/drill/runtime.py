"""The running drill as mitigations and checks see it.

:class:`DrillRuntime` wraps the live stack, the fleet, the fault injector and
the metrics of one drill, and offers exactly what
:class:`poslab.drill.mitigations.DrillStack` and :class:`poslab.drill.checks.CheckSources`
ask for. Ending a hidden fault goes through the scenario engine's
:class:`~poslab.scenario.faults.FaultInjector`, so it is undone the same way a
scenario undoes it and journaled as ``fault_cleared`` (reason
``mitigation``) for the facilitator.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from poslab.drill.metrics import FleetSeconds, MetricsBoard
from poslab.errors import LabError
from poslab.fleet import Fleet
from poslab.proxy.client import ProxyInfo
from poslab.scenario import Fault, FaultInjector
from poslab.stack import Stack, StackAddresses
from poslab.world import World

_ADMIN_TIMEOUT_S = 10.0


class DrillRuntime:
    def __init__(
        self,
        *,
        stack: Stack,
        fleet: Fleet,
        injector: FaultInjector,
        world: World,
        terminals: int,
        board: MetricsBoard,
        seconds: FleetSeconds,
    ) -> None:
        self.stack = stack
        self.fleet = fleet
        self.injector = injector
        self.world = world
        self._terminals = terminals
        self.board = board
        self.seconds = seconds
        self._http: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    # -- what mitigations use ----------------------------------------------------------

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(self.world.regions)

    @property
    def latest_software(self) -> str:
        return str(self.world.params.latest_software)

    async def restart_service(self, service: str) -> None:
        await self.stack.restart(service)

    def fleet_command(self, action: str, params: Mapping[str, Any]) -> int:
        return self.fleet.control(action, params, until=None)

    async def admin(
        self, method: str, service: str, path: str, body: Mapping[str, Any] | None = None
    ) -> tuple[int, str]:
        base = self.stack.addresses.admin.get(service)
        if base is None:
            return 0, f"{service} has no admin API in this stack"
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(force_close=True),
                timeout=aiohttp.ClientTimeout(total=_ADMIN_TIMEOUT_S),
            )
        try:
            async with self._http.request(
                method, base + path, json=dict(body) if body is not None else None
            ) as response:
                return response.status, await response.text()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            # A short reason: the participants see it in the mitigation's result.
            return 0, f"{service} not answering ({type(exc).__name__})"

    async def end_faults(self, match: Callable[[Fault], bool], reason: str) -> list[str]:
        ended = []
        for active in list(self.injector.active.values()):
            if match(active.fault):
                await self.injector.clear(active.fault, reason=reason)
                ended.append(active.fault.id)
        return ended

    # -- what checks read ----------------------------------------------------------

    @property
    def addresses(self) -> StackAddresses:
        return self.stack.addresses

    @property
    def terminals(self) -> int:
        return self._terminals

    def recent_samples(self, seconds: int) -> list[dict[str, Any]]:
        return list(self.board.samples)[-seconds:]

    def active_terminals(self, within_s: float) -> int:
        since = time.time() - within_s
        return sum(1 for t in self.seconds.last_seen.values() if t >= since)

    def fleet_commands(self) -> list[dict[str, Any]]:
        """Fleet commands still in force (every one ever sent, minus the cleared)."""
        path = self.fleet.fleet_dir / "control.jsonl"
        commands: dict[int, dict[str, Any]] = {}
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        for line in lines:
            try:
                command = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line
            if command.get("action") == "clear":
                params = command.get("params", {})
                if params.get("all"):
                    commands.clear()
                else:
                    commands.pop(params.get("seq"), None)
            else:
                commands[int(command["seq"])] = command
        return list(commands.values())

    def software_versions(self) -> Counter[str]:
        """The fleet's versions as the TMS knows them: the world's, then every push."""
        fleet = self.world.terminals[: self._terminals]
        versions = {t.tid: t.software_version for t in fleet}
        regions = {t.tid: t.region for t in fleet}
        for command in self._all_commands("set_software"):
            params = command.get("params", {})
            if params.get("tids"):
                tids = [str(t) for t in params["tids"]]
            elif params.get("share") is not None:
                continue  # a share drawn inside the fleet: not known to the lab
            else:
                wanted = params.get("regions")
                tids = [tid for tid, region in regions.items() if not wanted or region in wanted]
            for tid in tids:
                if tid in versions:
                    versions[tid] = str(params["version"])
        return Counter(versions.values())

    def _all_commands(self, action: str) -> list[dict[str, Any]]:
        path = self.fleet.fleet_dir / "control.jsonl"
        out = []
        try:
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    command = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if command.get("action") == action:
                    out.append(command)
        except FileNotFoundError:
            pass
        return out

    async def proxies(self) -> dict[str, ProxyInfo]:
        try:
            return await self.stack.proxy_api.proxies()
        except LabError:
            return {}

    async def admin_json(self, service: str, path: str) -> tuple[int, Any]:
        status, text = await self.admin("GET", service, path)
        try:
            return status, json.loads(text) if status == 200 else None
        except json.JSONDecodeError:
            return status, None
