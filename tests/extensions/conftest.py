"""Every test here leaves the plugin registries as it found them: a plugin
registered by one test must not widen the vocabulary other tests see."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest

from poslab.plugins import registry
from poslab.scoring import expectation_kinds


@pytest.fixture(autouse=True)
def clean_registries() -> Iterator[None]:
    tables: tuple[registry._Table[Any], ...] = (
        registry.PROBES,
        registry.FAULT_ACTIONS,
        registry.EXPECTATIONS,
    )
    saved = [(dict(t.loaded), dict(t.origin)) for t in tables]
    kinds = dict(expectation_kinds._BY_NAME)
    evaluators = dict(expectation_kinds.PLUGIN_EVALUATORS)
    modules = set(sys.modules)
    yield
    for table, (loaded, origin) in zip(tables, saved, strict=True):
        table.loaded.clear()
        table.loaded.update(loaded)
        table.origin.clear()
        table.origin.update(origin)
    expectation_kinds._BY_NAME.clear()
    expectation_kinds._BY_NAME.update(kinds)
    expectation_kinds.PLUGIN_EVALUATORS.clear()
    expectation_kinds.PLUGIN_EVALUATORS.update(evaluators)
    for name in set(sys.modules) - modules:  # a plugin imported again registers again
        if name.startswith("tests.extensions.") or name in ("broken_plugin", "team_probes"):
            del sys.modules[name]
