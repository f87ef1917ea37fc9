"""Fixtures for scenario tests (helpers live in scenario_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.scenario.scenario_helpers import WriteScenario


@pytest.fixture
def write_scenario(tmp_path: Path) -> WriteScenario:
    """Write YAML text to a fresh file under tmp_path and return its path."""
    counter = iter(range(1000))

    def write(text: str) -> Path:
        path = tmp_path / f"scenario-{next(counter)}.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    return write
