"""Fixtures of the terminal tests: a small world, a scripted host, terminals."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from poslab.mocks.terminal import (
    Terminal,
    TerminalConfig,
    TerminalProfile,
    TerminalStore,
    TxnRecord,
)
from poslab.world import World, generate
from tests.terminal.terminal_helpers import FakeHost, MakeTerminal


@pytest.fixture(scope="module")
def small_world() -> World:
    return generate(7, 6)


@pytest.fixture
def fake_host(small_world: World) -> Iterator[FakeHost]:
    host = FakeHost({t.tid: bytes.fromhex(t.tmk) for t in small_world.terminals})
    yield host
    host.close()


@pytest.fixture
def records() -> list[TxnRecord]:
    return []


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TerminalStore]:
    s = TerminalStore(tmp_path / "terminal.sqlite")
    yield s
    s.close()


@pytest.fixture
def make_terminal(
    small_world: World, fake_host: FakeHost, store: TerminalStore, records: list[TxnRecord]
) -> Iterator[MakeTerminal]:
    made: list[Terminal] = []

    def make(index: int = 0, **overrides: Any) -> Terminal:
        kwargs: dict[str, Any] = {
            "primary": fake_host.address,
            "backup": None,
            "store": store,
            "on_record": records.append,
            "rng": random.Random(index),
        }
        config = overrides.pop("config", None) or TerminalConfig(
            response_timeout_s=1.0, connect_timeout_s=0.5, backoff_base_s=0.01, backoff_cap_s=0.05
        )
        kwargs.update(overrides)
        world_terminal = small_world.terminals[index]
        terminal = Terminal(
            TerminalProfile.from_world(small_world, world_terminal), config, **kwargs
        )
        made.append(terminal)
        return terminal

    yield make
    for terminal in made:
        terminal.channel.close()
