"""Where probe types, fault actions and expectation kinds are found.

Three sources, looked up by name in this order:

1. what is registered in this process — the built-ins, and the modules named
   with ``--plugin MODULE`` (``LAB_PLUGINS``), whose decorators
   (:func:`~poslab.plugins.probe_type`, :func:`~poslab.plugins.fault_action`,
   :func:`~poslab.plugins.expectation_kind`) register on import;
2. the built-in probe types (``http``, ``command``, ``prometheus``), imported
   on first use so that validating a scenario without probes costs nothing;
3. installed distributions' entry points, groups ``poslab.probes``,
   ``poslab.fault_actions`` and ``poslab.expectations`` (the entry point's
   name is the name scenarios use; its object a :class:`Probe` subclass, a
   :class:`FaultAction` subclass or an :class:`ExpectationPlugin`), loaded only
   when a scenario names them, so one broken plugin does not stop the scenarios
   that do not use it.

An unknown name, a module that does not import or an entry point whose object
is not what its group says is a :class:`PluginError` (a ``ConfigError``: exit 2
naming it).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar

from poslab.errors import ConfigError
from poslab.plugins.api import ExpectationPlugin, FaultAction, Probe
from poslab.scoring.expectation_kinds import EXPECTATION_KINDS, register_expectation_kind

PROBES_GROUP = "poslab.probes"
FAULT_ACTIONS_GROUP = "poslab.fault_actions"
EXPECTATIONS_GROUP = "poslab.expectations"

#: The built-in probe types, "module:class", imported on first use.
BUILTIN_PROBES: dict[str, str] = {
    "http": "poslab.plugins.http_probe:HttpProbe",
    "command": "poslab.plugins.command_probe:CommandProbe",
    "prometheus": "poslab.plugins.prometheus_probe:PrometheusProbe",
}


class PluginError(ConfigError):
    """A plugin that is unknown, does not import, or is not what it claims to be."""


T = TypeVar("T")


@dataclass
class _Table(Generic[T]):
    """One kind of extension: what is registered, what may be loaded on first use."""

    what: str  # "probe type", "fault action", ...
    group: str
    builtin: dict[str, str] = field(default_factory=dict)
    loaded: dict[str, T] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)

    def names(self) -> list[str]:
        return sorted({*self.loaded, *self.builtin, *(ep.name for ep in _entry_points(self.group))})

    def put(self, name: str, obj: T, origin: str) -> None:
        have = self.loaded.get(name)
        if have is not None and have is not obj:
            raise PluginError(
                f"{self.what} {name!r} of {origin} is already registered by {self.origin[name]}"
            )
        self.loaded[name] = obj
        self.origin[name] = origin

    def find(self, name: str, check: Any) -> T:
        """The extension called ``name``; :class:`PluginError` when none is, or it breaks."""
        if name in self.loaded:
            return self.loaded[name]
        if name in self.builtin:
            ref = self.builtin[name]
            obj = _load_ref(ref, f"built-in {self.what} {name!r}")
            self.put(name, check(name, obj, ref), ref)
            return self.loaded[name]
        for ep in _entry_points(self.group):
            if ep.name == name:
                where = f"entry point {ep.name} = {ep.value} ({self.group})"
                try:
                    obj = ep.load()
                except Exception as exc:  # a plugin's import error, whatever it is
                    raise PluginError(f"{where} could not be loaded: {exc!r}") from exc
                if name not in self.loaded:  # a decorator may have registered it on import
                    self.put(name, check(name, obj, where), where)
                return self.loaded[name]
        known = ", ".join(self.names()) or "none"
        raise PluginError(f"unknown {self.what} {name!r} (known: {known})")


def _entry_points(group: str) -> Iterable[EntryPoint]:
    return entry_points(group=group)


def _load_ref(ref: str, what: str) -> object:
    module, _, attr = ref.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise PluginError(f"{what} ({ref}) could not be loaded: {exc!r}") from exc


def _probe_class(name: str, obj: object, where: str) -> type[Probe[Any]]:
    if not (isinstance(obj, type) and issubclass(obj, Probe)):
        raise PluginError(f"{where}: a probe type is a poslab.plugins.Probe subclass, got {obj!r}")
    if getattr(obj, "type", name) != name:
        raise PluginError(f"{where}: registered as {name!r} but its type is {obj.type!r}")
    return obj


def _action_class(name: str, obj: object, where: str) -> type[FaultAction[Any]]:
    if not (isinstance(obj, type) and issubclass(obj, FaultAction)):
        raise PluginError(f"{where}: a fault action is a poslab.plugins.FaultAction subclass")
    if getattr(obj, "name", name) != name:
        raise PluginError(f"{where}: registered as {name!r} but its name is {obj.name!r}")
    return obj


def _expectation(name: str, obj: object, where: str) -> ExpectationPlugin:
    if not isinstance(obj, ExpectationPlugin):
        raise PluginError(
            f"{where}: an expectation kind is a poslab.plugins.ExpectationPlugin "
            "(made by @expectation_kind)"
        )
    if obj.kind.name != name:
        raise PluginError(f"{where}: registered as {name!r} but its kind is {obj.kind.name!r}")
    register_expectation_kind(obj.kind, obj.evaluate)
    return obj


PROBES: _Table[type[Probe[Any]]] = _Table("probe type", PROBES_GROUP, dict(BUILTIN_PROBES))
FAULT_ACTIONS: _Table[type[FaultAction[Any]]] = _Table("fault action", FAULT_ACTIONS_GROUP)
EXPECTATIONS: _Table[ExpectationPlugin] = _Table("expectation kind", EXPECTATIONS_GROUP)


def probe_class(name: str) -> type[Probe[Any]]:
    """The probe type ``name`` (built-in, ``--plugin`` or entry point)."""
    return PROBES.find(name, _probe_class)


def fault_action_class(name: str) -> type[FaultAction[Any]]:
    """The fault action ``name`` (``--plugin`` or entry point)."""
    return FAULT_ACTIONS.find(name, _action_class)


def ensure_expectation_kind(name: str) -> None:
    """Make ``name`` known to scoring's vocabulary: a built-in kind is; a plugin's is
    loaded (from its entry point) and registered. Unknown: :class:`PluginError`
    listing every kind there is."""
    if name in EXPECTATION_KINDS:
        return
    try:
        EXPECTATIONS.find(name, _expectation)
    except PluginError as exc:
        if str(exc).startswith("unknown "):
            known = ", ".join(sorted({*EXPECTATION_KINDS, *EXPECTATIONS.names()}))
            raise PluginError(f"unknown expectation kind {name!r} (known: {known})") from None
        raise


def load_expectation_entry_points() -> list[str]:
    """Register every installed expectation kind (``lab report`` re-scoring a run
    that used one); the problems of those that would not load."""
    problems: list[str] = []
    for name in EXPECTATIONS.names():
        if name not in EXPECTATION_KINDS:
            try:
                ensure_expectation_kind(name)
            except PluginError as exc:
                problems.append(str(exc))
    return problems


def load_plugins(modules: Iterable[str]) -> list[str]:
    """Import each ``--plugin`` module (its decorators register what it offers),
    the current directory on the import path; the modules imported. A module
    that is not there or fails: :class:`PluginError`."""
    done: list[str] = []
    # As `python -m` does: a team's plugin module beside its scenarios imports
    # from where the lab was started, installed or not.
    here = os.getcwd()
    if here not in sys.path:
        sys.path.append(here)
    for module in modules:
        module = module.strip()
        if not module:
            continue
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module.startswith(exc.name):
                raise PluginError(f"plugin module {module!r} not found") from exc
            raise PluginError(f"plugin module {module!r} could not be imported: {exc!r}") from exc
        except Exception as exc:
            raise PluginError(f"plugin module {module!r} could not be imported: {exc!r}") from exc
        done.append(module)
    return done


def register_probe(cls: type[Probe[Any]], origin: str | None = None) -> None:
    where = origin or cls.__module__
    PROBES.put(cls.type, _probe_class(cls.type, cls, where), where)


def register_fault_action(cls: type[FaultAction[Any]], origin: str | None = None) -> None:
    where = origin or cls.__module__
    FAULT_ACTIONS.put(cls.name, _action_class(cls.name, cls, where), where)


def register_expectation(plugin: ExpectationPlugin, origin: str) -> None:
    EXPECTATIONS.put(plugin.kind.name, _expectation(plugin.kind.name, plugin, origin), origin)
