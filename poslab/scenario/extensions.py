"""A scenario's own probes and plugin fault actions, run (poslab.plugins declares them).

:class:`ScenarioExtensions` is made by the runner once the stack is up and the
scenario clock runs:

- its probes (``probes:`` of the scenario file) run in their modes — ``start``
  once when the clock starts, ``continuous`` every interval until the load's
  end, ``during_fault`` every interval while a fault is in place, ``end``
  once after the drain, ``edge`` at both ends; every answer is a ``probe``
  event (``name``, ``ok``, ``value``, ``detail``, and ``type``). A probe that
  raises or outlives its timeout is a *failed* probe whose detail says why;
  the run goes on (the issue's Bad input: a probe that errors is a failed
  probe in the report, never the end of the run);
- its plugin fault actions (``kind: plugin``) are instantiated with their
  typed params and given an :class:`~poslab.plugins.ActionContext`;
  :class:`~poslab.scenario.faults.FaultInjector` calls them at the fault's
  window and at the rollback.

String params may name the stack's addresses (``{admin.acquirer}``,
``{proxy_api}``…), known only once the stack is up: :func:`placeholders`
gives them, :func:`fill` puts them in.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import JsonValue, ValidationError

from poslab.errors import LabError
from poslab.plugins import (
    ActionContext,
    FaultAction,
    ProbeContext,
    ProbeResult,
    fault_action_class,
    probe_class,
)
from poslab.scenario.journal import RunEvents
from poslab.scenario.schedule import ScenarioClock
from poslab.scenario.spec.model import ProbeMode
from poslab.scenario.spec.resolved import PluginFault, ResolvedScenario
from poslab.scenario.spec.resolved import Probe as ProbeSpec
from poslab.stack import StackAddresses

_PLACEHOLDER = re.compile(r"\{([a-z_]+(?:\.[A-Za-z0-9_-]+)?)\}")
#: a probe's answer is cut off this long after its own timeout (a probe that
#: ignores its timeout must not hold the run)
_GRACE_S = 1.0


class PluginActionError(LabError):
    """A plugin's fault action failed (the injector reports it as a fault error)."""


def placeholders(addresses: StackAddresses, scenario_dir: Path) -> dict[str, str]:
    """Every ``{name}`` a probe's or action's string params may use."""
    out = {"proxy_api": addresses.proxy_api, "scenario_dir": str(scenario_dir)}
    out.update({f"admin.{k}": v for k, v in addresses.admin.items()})
    out.update({f"service.{k}": v for k, v in addresses.services.items()})
    out.update({f"proxy.{k}": v for k, v in addresses.proxies.items()})
    out.update({f"agent.{k}": v for k, v in addresses.agents.items()})
    return out


def fill(value: JsonValue, values: Mapping[str, str]) -> JsonValue:
    """``value`` with its placeholders filled in (strings, and strings in lists);
    an unknown one is a ``ValueError`` naming the known ones."""
    if isinstance(value, str):

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in values:
                raise ValueError(f"unknown placeholder {{{name}}} (known: {', '.join(values)})")
            return values[name]

        return _PLACEHOLDER.sub(one, value)
    if isinstance(value, list):
        return [fill(v, values) for v in value]
    return value


def _filled(params: Mapping[str, JsonValue], values: Mapping[str, str]) -> dict[str, JsonValue]:
    return {k: fill(v, values) for k, v in params.items()}


class PluginActions:
    """The scenario's plugin fault actions: one instance per fault, params filled in."""

    def __init__(
        self, scenario: ResolvedScenario, scenario_dir: Path, values: Mapping[str, str]
    ) -> None:
        self.scenario = scenario
        self.scenario_dir = scenario_dir
        self.values = dict(values)
        self._actions: dict[str, FaultAction[Any]] = {}

    def _context(self, fault: PluginFault) -> ActionContext:
        return ActionContext(
            scenario=self.scenario.name,
            fault_id=fault.id,
            target=fault.target,
            scenario_dir=self.scenario_dir,
            source_dir=Path(self.scenario.source).parent,
            addresses=self.values,
        )

    def _action(self, fault: PluginFault) -> FaultAction[Any]:
        action = self._actions.get(fault.id)
        if action is None:
            cls = fault_action_class(fault.action)
            raw = fault.params.model_dump(mode="json", exclude_none=True)
            try:
                params = cls.Params.model_validate(_filled(raw, self.values))
            except (ValueError, ValidationError) as exc:
                raise PluginActionError(f"{fault.action}: params: {exc}") from exc
            action = self._actions[fault.id] = cls(params)
        return action

    async def inject(self, fault: PluginFault) -> None:
        try:
            await self._action(fault).inject(self._context(fault))
        except LabError:
            raise
        except Exception as exc:  # the plugin's own failure, whatever it is
            raise PluginActionError(f"{fault.action} failed: {exc!r}") from exc

    async def clear(self, fault: PluginFault) -> None:
        try:
            await self._action(fault).clear(self._context(fault))
        except LabError:
            raise
        except Exception as exc:
            raise PluginActionError(f"{fault.action} (clear) failed: {exc!r}") from exc


class ScenarioExtensions:
    """The scenario's probes in their modes, and its plugin fault actions."""

    def __init__(
        self,
        scenario: ResolvedScenario,
        events: RunEvents,
        clock: ScenarioClock,
        addresses: StackAddresses,
        scenario_dir: Path,
        *,
        faults_active: Callable[[], bool] = lambda: False,
    ) -> None:
        self.scenario = scenario
        self.events = events
        self.clock = clock
        self.scenario_dir = scenario_dir
        self.values = placeholders(addresses, scenario_dir)
        self.faults_active = faults_active
        self.actions = PluginActions(scenario, scenario_dir, self.values)

    # -- probes ------------------------------------------------------------------

    async def watch(self) -> None:
        """The probes of the method: ``start``/``edge`` once now, ``continuous`` and
        ``during_fault`` every interval. Runs until cancelled (the load's end)."""
        once = [p for p in self.scenario.probes if p.mode in (ProbeMode.START, ProbeMode.EDGE)]
        await asyncio.gather(*(self.probe(p) for p in once))
        loops = [
            self._every(p)
            for p in self.scenario.probes
            if p.mode in (ProbeMode.CONTINUOUS, ProbeMode.DURING_FAULT)
        ]
        await asyncio.gather(*loops)

    async def end(self) -> None:
        """The ``end`` and ``edge`` probes, once, after the drain."""
        last = [p for p in self.scenario.probes if p.mode in (ProbeMode.END, ProbeMode.EDGE)]
        await asyncio.gather(*(self.probe(p) for p in last))

    async def _every(self, spec: ProbeSpec) -> None:
        while True:
            began = time.monotonic()
            if spec.mode is ProbeMode.CONTINUOUS or self.faults_active():
                await self.probe(spec)
            await asyncio.sleep(max(0.0, spec.interval_s - (time.monotonic() - began)))

    async def probe(self, spec: ProbeSpec) -> ProbeResult:
        """Ask once and journal the answer; never raises (but lets a cancellation through)."""
        try:
            result = await asyncio.wait_for(self._check(spec), spec.timeout_s + _GRACE_S)
        except TimeoutError:
            result = ProbeResult(False, None, f"no answer within {spec.timeout_s:g} s")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a probe that errors is a failed probe, not a failed run
            result = ProbeResult(False, None, f"error: {type(exc).__name__}: {exc}")
        self.events.probe.fire(
            t=self.clock.now(),
            scenario=self.scenario.name,
            name=spec.name,
            type=spec.type,
            ok=result.ok,
            value=result.value,
            detail=result.detail,
        )
        return result

    async def _check(self, spec: ProbeSpec) -> ProbeResult:
        cls = probe_class(spec.type)
        params = cls.Params.model_validate(_filled(spec.params, self.values))
        context = ProbeContext(
            scenario=self.scenario.name,
            scenario_dir=self.scenario_dir,
            source_dir=Path(self.scenario.source).parent,
            timeout_s=spec.timeout_s,
            addresses=self.values,
        )
        try:
            return await asyncio.wait_for(cls(params).check(context), spec.timeout_s)
        except TimeoutError:
            return ProbeResult(False, None, f"no answer within {spec.timeout_s:g} s")
