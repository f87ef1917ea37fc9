"""The test tiers, worked out from what a test runs (tests/conftest.py applies them).

- ``process``: the test, a fixture it uses, or a helper of the tests either of them
  reaches starts an OS process (``subprocess``, asyncio subprocesses, ``fork``,
  ``sys.executable``, ...);
- ``locust``: it runs Locust; ``browser``: it drives a headless Chromium;
  ``docker``: it talks to a Docker daemon (all three are processes too);
- ``slow``: any of the above, or a test listed in :data:`BY_LOCATION` for its
  long waits. ``make test-fast`` runs ``-m "not slow"``.

The reading is static (names in the code objects, followed through the tests' own
functions, classes and modules) and checked at run time: a test outside the
process tier that starts a process fails with the command it started
(:func:`watch_spawns`); when the lab's own code starts the processes out of the
static reading's sight, the test's module goes in :data:`BY_LOCATION`.
"""

from __future__ import annotations

import importlib
import inspect
import itertools
import os
import subprocess
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import CodeType, FunctionType, MethodType, ModuleType
from typing import Any

TESTS = Path(__file__).resolve().parents[1]

PROCESS, LOCUST, BROWSER, DOCKER, SLOW = "process", "locust", "browser", "docker", "slow"
KINDS = (PROCESS, LOCUST, BROWSER, DOCKER)

# A name in a code object that starts a process, Locust or a browser.
NAME_KINDS: dict[str, str] = {
    "subprocess": PROCESS,
    "Popen": PROCESS,
    "create_subprocess_exec": PROCESS,
    "create_subprocess_shell": PROCESS,
    "executable": PROCESS,  # sys.executable: a Python of our own
    "fork": PROCESS,
    "posix_spawn": PROCESS,
    "multiprocessing": PROCESS,
    "locust": LOCUST,
    "playwright": BROWSER,
    "sync_playwright": BROWSER,
    "async_playwright": BROWSER,
    "CHROMIUM": BROWSER,
    "docker": DOCKER,
    "testcontainers": DOCKER,
    "DockerCompose": DOCKER,
    "DockerContainer": DOCKER,
}

# Test modules or directories (relative to tests/, "/" separated; a directory
# ends with "/") whose processes, Locust runs or long waits the lab's own code
# starts where the static reading cannot see them. Keep it short: extend it only
# when watch_spawns says so.
BY_LOCATION: dict[str, frozenset[str]] = {
    # poslab.fleet.Fleet runs Locust (a subprocess of its own).
    "fleet/test_fleet_locust.py": frozenset({LOCUST}),
    "fleet/test_fleet_cli.py": frozenset({LOCUST}),
    # A Locust master and its workers (Fleet, lab fleet worker) on payment hosts.
    "fleet/test_fleet_distributed.py": frozenset({LOCUST}),
    # `lab run --workers 3` and `lab run` of one scenario.
    "fleet/test_fleet_distributed_run.py": frozenset({LOCUST}),
    # Real drills through the in-process CLI: the stack's services and Locust.
    "drill/test_drill_end_to_end.py": frozenset({PROCESS, LOCUST}),
    # `lab run`: a whole stack and its terminal fleet (Locust).
    "e2e/": frozenset({LOCUST}),
    # `lab verify-catalogue`: a `lab run` per column of the defect matrix.
    "defects/test_matrix_fast.py": frozenset({LOCUST}),
    # poslab.stack.Stack with the real services.
    "stack/test_real_stack.py": frozenset({PROCESS}),
    # Compose and Toxiproxy containers.
    "stack/test_docker.py": frozenset({DOCKER}),
    # The reliability/security suite: real services, bounded slowloris and
    # fuzzing (long waits even against the in-process proxy API), and a whole
    # `lab run` with its fleet scanned for secrets.
    "security/": frozenset({PROCESS}),
    "security/test_secrets_at_rest.py": frozenset({LOCUST}),
    # `lab run` against the foreign host: its processes, the stack and the fleet.
    "external/test_gate_foreign_host.py": frozenset({PROCESS, LOCUST}),
    # hooks are commands that poslab.stack.hooks starts.
    "external/test_hooks.py": frozenset({PROCESS}),
    # `lab run` / `lab load` / drills killed with SIGKILL, and user errors met
    # during whole runs: Locust fleets, so they take the one-at-a-time fleet lane.
    "reliability/test_orphans.py": frozenset({PROCESS, LOCUST}),
    "reliability/test_user_errors.py": frozenset({PROCESS, LOCUST}),
}


def _local_file(obj: object) -> Path | None:
    try:
        name = inspect.getsourcefile(obj)  # type: ignore[arg-type]
    except TypeError:
        return None
    if name is None:
        return None
    path = Path(name).resolve()
    return path if path.is_relative_to(TESTS) and path != Path(__file__).resolve() else None


def _code_names(code: CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, CodeType):
            names |= _code_names(const)
    return names


def _members(obj: object) -> Iterator[tuple[set[str], dict[str, Any]]]:
    """(names used, globals they resolve in) for each piece of code of ``obj``."""
    if isinstance(obj, staticmethod | classmethod | MethodType):
        obj = obj.__func__
    if isinstance(obj, property):
        for part in (obj.fget, obj.fset, obj.fdel):
            if part is not None:
                yield from _members(part)
        return
    if isinstance(obj, FunctionType):
        func = inspect.unwrap(obj)
        if isinstance(func, FunctionType):
            yield _code_names(func.__code__), func.__globals__
        return
    if isinstance(obj, type):
        for base in obj.__mro__:
            if base is not obj and _local_file(base) is None:
                continue
            for member in vars(base).values():
                yield from _members(member)
        return
    if isinstance(obj, ModuleType):
        for member in vars(obj).values():
            if getattr(member, "__module__", None) == obj.__name__:
                yield from _members(member)


class Reader:
    """What a function, class or module of the tests reaches, memoised."""

    def __init__(self) -> None:
        self._memo: dict[int, frozenset[str]] = {}

    def kinds(self, obj: object) -> frozenset[str]:
        key = id(obj)
        if key in self._memo:
            return self._memo[key]
        self._memo[key] = frozenset()  # cycles end here
        found: set[str] = set()
        for names, scope in _members(obj):
            for name in names:
                if name in NAME_KINDS:
                    found.add(NAME_KINDS[name])
                target = scope.get(name)
                if target is not None and target is not obj and _reachable(target):
                    found |= self.kinds(target)
        result = frozenset(found)
        self._memo[key] = result
        return result


def _reachable(target: object) -> bool:
    return isinstance(target, FunctionType | type | ModuleType) and is_local(target)


def is_local(obj: object) -> bool:
    """Code of the tests (not of the lab, a library or this module)."""
    if isinstance(obj, MethodType):
        obj = obj.__func__
    return _local_file(obj) is not None


def _at(relative: str, where: str) -> bool:
    return relative == where or (where.endswith("/") and relative.startswith(where))


def by_location(path: Path) -> frozenset[str]:
    relative = path.resolve().relative_to(TESTS).as_posix()
    found: set[str] = set()
    for where, kinds in BY_LOCATION.items():
        if _at(relative, where):
            found |= kinds
    return frozenset(found)


def tiers(kinds: Iterable[str]) -> set[str]:
    """The markers a test with these kinds gets (Locust, browsers and containers are
    processes too)."""
    marks = set(kinds)
    if marks & {LOCUST, BROWSER, DOCKER}:
        marks.add(PROCESS)
    if marks & set(KINDS):
        marks.add(SLOW)
    return marks


@contextmanager
def watch_spawns() -> Iterator[list[str]]:
    """Record every process started while installed (the command lines, in order)."""
    started: list[str] = []
    popen: Any = subprocess.Popen
    execute_child: Callable[..., Any] = popen._execute_child
    fork = os.fork

    def recording_execute_child(this: Any, args: Any, *rest: Any, **kw: Any) -> Any:
        single = isinstance(args, str | bytes | os.PathLike)
        started.append(os.fsdecode(args) if single else " ".join(map(os.fsdecode, args)))
        return execute_child(this, args, *rest, **kw)

    def recording_fork() -> int:
        started.append("os.fork()")
        return fork()

    popen._execute_child = recording_execute_child
    os.fork = recording_fork
    try:
        yield started
    finally:
        popen._execute_child = execute_child
        os.fork = fork


# Under xdist (`make test`: --dist loadgroup, scheduled by tests/conftest.py) a
# module's tests run on one worker (its module-scoped services start once).
# Modules that run a whole stack with its terminal fleet (Locust: a core or more
# busy) go into two fleet lanes, so at most two fleets share the two cores; Docker
# tests share one daemon, fixed published ports and a compose project. Each lane
# runs on one worker, one module after another, and the lanes start first.
# Known modules are placed by the table; any other module whose code reaches
# Locust or Docker (or is marked so) joins a lane by itself (plan_groups).
# Grouped by the scheduler rather than by xdist_group marks: pytest 9.2's
# structured node ids make xdist 3.8 drop those marks (pytest-xdist issue 1386).
LAB_RUN, FLEETS, CONTAINERS = "lab-run", "fleet-on-a-stack", "docker"
FLEET_LANES = (LAB_RUN, FLEETS)
SHARED_GROUPS: dict[str, str] = {
    "e2e/": LAB_RUN,
    "drill/test_drill_end_to_end.py": FLEETS,
    "fleet/test_fleet_locust.py": FLEETS,
    "fleet/test_fleet_cli.py": FLEETS,
    "fleet/test_fleet_distributed.py": FLEETS,
    "fleet/test_fleet_distributed_run.py": LAB_RUN,
    "stack/test_docker.py": CONTAINERS,
    "containers/": CONTAINERS,
}
_GROUP_ORDER = [LAB_RUN, FLEETS, CONTAINERS]


def _marked(obj: object) -> set[str]:
    marks = getattr(obj, "pytestmark", [])
    marks = marks if isinstance(marks, list) else [marks]
    return {getattr(mark, "name", "") for mark in marks}


def module_kinds(path: str) -> frozenset[str]:
    """What a test module's code reaches or is marked with, read from the module
    alone (xdist's controller collects nothing); its location's kinds included."""
    kinds = set(by_location(TESTS.parent / path))
    try:
        module = importlib.import_module(".".join(Path(path).with_suffix("").parts))
    except KeyboardInterrupt:
        raise
    except BaseException:  # an import error or a module-level skip: pytest reports it
        return frozenset(kinds)
    kinds |= Reader().kinds(module) | _marked(module)
    for member in vars(module).values():
        kinds |= _marked(member)
    return frozenset(kinds & set(KINDS))


def plan_groups(nodeids: Iterable[str]) -> dict[str, str]:
    """The group of each test module (its path, or a lane) for a collection."""
    paths = list(dict.fromkeys(nodeid.split("::", 1)[0] for nodeid in nodeids))
    lanes = itertools.cycle(FLEET_LANES)
    plan: dict[str, str] = {}
    for path in paths:
        relative = path.removeprefix(f"{TESTS.name}/")
        group = next((g for where, g in SHARED_GROUPS.items() if _at(relative, where)), None)
        if group is None:
            kinds = module_kinds(path)
            if LOCUST in kinds:
                group = next(lanes)
            elif DOCKER in kinds:
                group = CONTAINERS
        plan[path] = group or path
    return plan


def schedule_rank(group: str) -> int:
    """The lanes first, in the order above; modules after them."""
    return _GROUP_ORDER.index(group) if group in _GROUP_ORDER else len(_GROUP_ORDER)
