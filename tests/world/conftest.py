"""Worlds shared by the world tests (generation is deterministic, so sharing
one per module changes nothing but the run time)."""

from __future__ import annotations

import pytest

from poslab.world import World, generate


@pytest.fixture(scope="package")
def big_world() -> World:
    """Large enough for shares to sit within a few standard deviations."""
    return generate(20240601, 5000)


@pytest.fixture(scope="package")
def small_world() -> World:
    return generate(7, 60)
