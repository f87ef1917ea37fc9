"""Scenarios: what one *is* (:mod:`poslab.scenario.spec`) and how it *runs* (the rest).

Import what you need from here, not from the modules::

    from poslab.scenario import RunOptions, load_scenario, render_timeline

- specification — :func:`load_scenario` / :func:`load_suite` / :func:`load_any`
  (a :class:`Catalogue` name or a path, resolved against a topology with
  :class:`RunOptions`) → :class:`ResolvedScenario` / :class:`ResolvedSuite`, or
  :class:`ScenarioInvalid` listing every :class:`Problem`; the faults
  (:data:`Fault` and its four kinds), the timeline (:func:`build_timeline`,
  :func:`render_timeline`, :func:`render_suite`) and the fleet draws
  (:func:`resolve_fleet_draws`);
- running — :func:`launch_run` (``lab run``: run directory, journal, live view,
  signals, judging), :class:`Runner` with :class:`RunPlan` → :class:`RunOutcome`,
  the lifecycle every run variant shares (:class:`RunLifecycle`; a drill's
  controller is one, :class:`OrphanedRun` ends a run whose owner is gone),
  the event bus and journal (:class:`RunEvents`, :class:`RunJournal`,
  :func:`read_journal`), the run directory (:class:`RunDirectory`,
  :class:`RunSettings`, :func:`export_ledger`), the clock and schedule, the fault
  injector, the probes and the settlement drain.

The names are loaded on first use (PEP 562 ``__getattr__``): reading a journal
or validating a file must not pay for the runner (the fleet, the stack,
aiohttp), and ``lab --help`` imports every subcommand's module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from poslab.common.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from poslab.scenario.faults import FaultInjector
    from poslab.scenario.journal import RunEvents, RunJournal, read_journal
    from poslab.scenario.launch import launch_run
    from poslab.scenario.lifecycle import OrphanedRun, RunLifecycle
    from poslab.scenario.probes import FINANCIAL, FleetMoney, FleetTail, LedgerOracle, SloProbe
    from poslab.scenario.rundir import RunDirectory, RunSettings, export_ledger
    from poslab.scenario.runner import Runner, RunOutcome, RunPlan
    from poslab.scenario.schedule import FaultSchedule, ScenarioClock
    from poslab.scenario.settlement_drain import NotReported, SettlementDrain
    from poslab.scenario.spec.durations import format_duration, parse_duration
    from poslab.scenario.spec.fleet_draws import draw_terminals, resolve_fleet_draws
    from poslab.scenario.spec.loader import (
        CATALOGUE_DIR,
        Catalogue,
        load_any,
        load_scenario,
        load_suite,
    )
    from poslab.scenario.spec.model import LoadShape, Policy
    from poslab.scenario.spec.resolution import RunOptions
    from poslab.scenario.spec.resolved import (
        STACK_START_S,
        ApplicationFault,
        Fault,
        FleetFault,
        Load,
        NetworkFault,
        ProcessFault,
        ResolvedScenario,
        ResolvedSuite,
    )
    from poslab.scenario.spec.source import Problem, ScenarioInvalid
    from poslab.scenario.spec.timeline import (
        Op,
        Step,
        build_timeline,
        describe_fault,
        fault_steps,
        render_suite,
        render_timeline,
    )

# module → the names it gives this package (the same names as the imports above;
# tests/scenario/test_scenario_package.py checks that the three lists agree).
_EXPORTS: dict[str, tuple[str, ...]] = {
    "poslab.scenario.spec.durations": ("format_duration", "parse_duration"),
    "poslab.scenario.spec.fleet_draws": ("draw_terminals", "resolve_fleet_draws"),
    "poslab.scenario.spec.loader": (
        "CATALOGUE_DIR",
        "Catalogue",
        "load_any",
        "load_scenario",
        "load_suite",
    ),
    "poslab.scenario.spec.model": ("LoadShape", "Policy"),
    "poslab.scenario.spec.resolution": ("RunOptions",),
    "poslab.scenario.spec.resolved": (
        "STACK_START_S",
        "ApplicationFault",
        "Fault",
        "FleetFault",
        "Load",
        "NetworkFault",
        "ProcessFault",
        "ResolvedScenario",
        "ResolvedSuite",
    ),
    "poslab.scenario.spec.source": ("Problem", "ScenarioInvalid"),
    "poslab.scenario.spec.timeline": (
        "Op",
        "Step",
        "build_timeline",
        "describe_fault",
        "fault_steps",
        "render_suite",
        "render_timeline",
    ),
    "poslab.scenario.faults": ("FaultInjector",),
    "poslab.scenario.journal": ("RunEvents", "RunJournal", "read_journal"),
    "poslab.scenario.launch": ("launch_run",),
    "poslab.scenario.lifecycle": ("OrphanedRun", "RunLifecycle"),
    "poslab.scenario.probes": ("FINANCIAL", "FleetMoney", "FleetTail", "LedgerOracle", "SloProbe"),
    "poslab.scenario.rundir": ("RunDirectory", "RunSettings", "export_ledger"),
    "poslab.scenario.runner": ("RunOutcome", "RunPlan", "Runner"),
    "poslab.scenario.schedule": ("FaultSchedule", "ScenarioClock"),
    "poslab.scenario.settlement_drain": ("NotReported", "SettlementDrain"),
}

__all__ = [
    "CATALOGUE_DIR",
    "FINANCIAL",
    "STACK_START_S",
    "ApplicationFault",
    "Catalogue",
    "Fault",
    "FaultInjector",
    "FaultSchedule",
    "FleetFault",
    "FleetMoney",
    "FleetTail",
    "LedgerOracle",
    "Load",
    "LoadShape",
    "NetworkFault",
    "NotReported",
    "Op",
    "OrphanedRun",
    "Policy",
    "Problem",
    "ProcessFault",
    "ResolvedScenario",
    "ResolvedSuite",
    "RunDirectory",
    "RunEvents",
    "RunJournal",
    "RunLifecycle",
    "RunOptions",
    "RunOutcome",
    "RunPlan",
    "RunSettings",
    "Runner",
    "ScenarioClock",
    "ScenarioInvalid",
    "SettlementDrain",
    "SloProbe",
    "Step",
    "build_timeline",
    "describe_fault",
    "draw_terminals",
    "export_ledger",
    "fault_steps",
    "format_duration",
    "launch_run",
    "load_any",
    "load_scenario",
    "load_suite",
    "parse_duration",
    "read_journal",
    "render_suite",
    "render_timeline",
    "resolve_fleet_draws",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
