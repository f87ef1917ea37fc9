"""Fixtures: a small world with known special cases, and the real processes.

World layout (``lab_world``):

- terminal 0's own cards: 0 good, 1 expired, 2 lost, 3 nearly empty (500 fen);
- terminal 1 may not refund (58); terminal 2 runs software 010000, below the
  world's minimum 020000 (header nibble 6);
- terminals from 3 on are ordinary: ``Stack.take()`` hands one out per test;
  the first own card of terminals 28-32 (some with D0 merchants) is a debit
  card with 20,000 yuan on it.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from poslab.world import Terminal, World, generate, save
from tests.acquirer.services import Service, start_acquirer, start_issuer
from tests.acquirer.terminal_client import TerminalClient

TERMINALS = 40
# No business day ends during a test unless the test asks for it.
STEADY_CONFIG: dict[str, Any] = {"day_seconds": 86400.0, "idle_timeout_s": 60.0}


def lab_world() -> World:
    base = generate(
        21,
        TERMINALS,
        low_funds_share=0.0,
        expired_share=0.0,
        lost_share=0.0,
        outdated_share=0.0,
        no_refund_share=0.0,
    )
    cards = list(base.cards)
    cards[1] = dataclasses.replace(cards[1], expiry="2001")
    cards[2] = dataclasses.replace(cards[2], status="lost")
    cards[3] = dataclasses.replace(cards[3], balance_fen=500)
    for terminal_index in range(28, 33):  # a rich debit card where the D0 merchants are
        i = terminal_index * base.params.cards_per_terminal
        cards[i] = dataclasses.replace(cards[i], kind="debit", balance_fen=2_000_000)
    terminals = list(base.terminals)
    terminals[1] = dataclasses.replace(terminals[1], allowed=("sale", "void", "balance"))
    terminals[2] = dataclasses.replace(terminals[2], software_version="010000")
    return World(
        seed=base.seed,
        regions=base.regions,
        agents=base.agents,
        merchants=base.merchants,
        terminals=tuple(terminals),
        cards=tuple(cards),
        fees=base.fees,
        params=base.params,
    )


@dataclasses.dataclass
class Stack:
    world: World
    world_path: Path
    workdir: Path
    issuer: Service
    acquirer: Service
    _next: Iterator[int] = dataclasses.field(default_factory=lambda: itertools.count(3))

    def take(self) -> Terminal:
        """A terminal no other test of this stack uses."""
        index = next(self._next)
        assert index < TERMINALS, "the test world ran out of terminals: raise TERMINALS"
        return self.world.terminals[index]

    def client(self, terminal: Terminal, **kw: Any) -> TerminalClient:
        return TerminalClient(self.acquirer.main, terminal, **kw)

    def signed_on(self, terminal: Terminal | None = None) -> TerminalClient:
        client = self.client(terminal or self.take())
        assert client.sign_on().text(39) == "00"
        return client

    def cards(self, terminal: Terminal) -> list[Any]:
        return list(self.world.cards_for_terminal(terminal.tid))

    def stop(self) -> None:
        for service in (self.acquirer, self.issuer):
            if service.proc.poll() is None:
                service.stop()


def start_stack(
    workdir: Path, config: dict[str, Any] | None = None, world: World | None = None
) -> Stack:
    workdir.mkdir(parents=True, exist_ok=True)
    world = world or lab_world()
    world_path = save(world, workdir / "world.json")
    issuer = start_issuer(world_path, workdir)
    try:
        acquirer = start_acquirer(world_path, workdir, issuer.main, config or STEADY_CONFIG)
    except BaseException:
        issuer.stop()
        raise
    return Stack(world, world_path, workdir, issuer, acquirer)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Issuer + acquirer for one test module (tests take their own terminals)."""
    running = start_stack(tmp_path_factory.mktemp("stack"))
    yield running
    running.stop()


@pytest.fixture
def host(stack: Stack) -> Iterator[Stack]:
    """The module's stack, with every fault cleared after the test."""
    yield stack
    for service in (stack.acquirer, stack.issuer):
        if service.proc.poll() is None:
            service.post("/admin/reset")
