"""Shared fixtures and the test tiers. Names avoid Locust's pytest plugin (it adds
--host and ``session``-scoped fixtures of its own).

Tiers: every test is marked ``process``/``locust``/``browser``/``slow`` from what it
runs (tests/support/tiers.py), never by hand; ``make test-fast`` runs ``-m "not
slow"``. A test outside the ``process`` tier that starts a process fails, naming
the command, so the tiers cannot drift.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import pytest

from tests.support.tiers import (
    KINDS,
    PROCESS,
    SLOW,
    Reader,
    by_location,
    is_local,
    plan_groups,
    schedule_rank,
    tiers,
    watch_spawns,
)

REPO = Path(__file__).resolve().parent.parent

# A test of the fast tier that takes longer than this is named in the summary.
FAST_BUDGET_S = 10.0

_STARTED = pytest.StashKey[list[str]]()
_LONG: list[tuple[str, float]] = []


@pytest.fixture
def repo_root() -> Path:
    return REPO


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (``@pytest.mark.anyio``) run on asyncio."""
    return "asyncio"


def pytest_report_header(config: pytest.Config) -> str:
    return f"lab repo: {REPO}  CI={os.environ.get('CI', '')}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reader = Reader()
    for item in items:
        kinds = set(by_location(item.path))
        kinds.update(mark for mark in (*KINDS, SLOW) if item.get_closest_marker(mark))
        function = getattr(item, "function", None)
        if function is not None:
            kinds |= reader.kinds(function)
        info = getattr(item, "_fixtureinfo", None)
        if info is not None:
            for name in getattr(item, "fixturenames", ()):
                for fixturedef in info.name2fixturedefs.get(name, ()):
                    if is_local(fixturedef.func):
                        kinds |= reader.kinds(fixturedef.func)
        marks = tiers(kinds)
        for mark in sorted(marks):
            if not item.get_closest_marker(mark):
                item.add_marker(mark)
    if hasattr(config, "workerinput"):  # an xdist worker: the order the groups are handed out
        plan = plan_groups(item.nodeid for item in items)
        items.sort(key=lambda item: schedule_rank(plan[item.nodeid.split("::", 1)[0]]))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """``--dist loadgroup``: a module per worker, and the shared groups of
    tests/support/tiers.py (SHARED_GROUPS), each on one worker, handed out first."""
    if config.getoption("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    config.option.loadscopereorder = False  # collection order: the long groups first

    class GroupScheduling(LoadScopeScheduling):  # type: ignore[misc]
        plan: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.plan is None:
                self.plan = plan_groups(self.collection)
            return self.plan.get(nodeid.split("::", 1)[0], nodeid)

    return GroupScheduling(config, log)


def _watched(item: pytest.Item, phase: str) -> Generator[None, object, object]:
    watch: AbstractContextManager[list[str]] = (
        nullcontext([]) if item.get_closest_marker(PROCESS) else watch_spawns()
    )
    with watch as started:
        try:
            return (yield)
        finally:
            if started:
                item.stash.setdefault(_STARTED, []).extend(f"{phase}: {s}" for s in started)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _watched(item, "setup"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _watched(item, "call"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _watched(item, "teardown"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    started = item.stash.get(_STARTED, [])
    if started:
        item.stash[_STARTED] = []
        if not report.failed:
            report.outcome = "failed"
            report.longrepr = (
                f"{item.nodeid} started processes but is not in the process tier:\n  "
                + "\n  ".join(started)
                + "\nThe static reading in tests/support/tiers.py did not see it: add the"
                " module to BY_LOCATION there."
            )
    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and SLOW not in report.keywords and report.duration > FAST_BUDGET_S:
        _LONG.append((report.nodeid, report.duration))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _LONG:
        terminalreporter.section(f"fast-tier tests over {FAST_BUDGET_S:g} s")
        for nodeid, seconds in sorted(_LONG, key=lambda x: -x[1]):
            terminalreporter.write_line(f"{seconds:6.1f} s  {nodeid}")
        terminalreporter.write_line("(slow them through BY_LOCATION in tests/support/tiers.py)")
