"""The terminal and its merchant with the real agent backend: a software
update when the host asks for one, tickets after failures, and the
replacement of a broken device (failure-modes rows 7 and 12)."""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from poslab.loadtests.merchant_desk import MerchantDesk, Outboxes, replacement_profile
from poslab.mocks.terminal import (
    Outcome,
    Terminal,
    TerminalConfig,
    TerminalProfile,
    TerminalStore,
    TransactionMix,
    TxnRecord,
)
from poslab.world import World
from tests.support.payment_stack import PaymentHosts, saved_world
from tests.terminal.terminal_helpers import of_type

pytestmark = pytest.mark.timeout(120)
SALES_ONLY = TransactionMix(1.0, 0.0, 0.0, 0.0)


@pytest.fixture(scope="module")
def agent_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[World, Path]:
    return saved_world(tmp_path_factory.mktemp("world"), 55, 6)


@pytest.fixture(scope="module")
def hosts(
    agent_world: tuple[World, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PaymentHosts]:
    with PaymentHosts(tmp_path_factory.mktemp("hosts"), agent_world[1], agent=True) as stack:
        yield stack


class Till:
    """One terminal with its merchant desk, as a Locust user holds them."""

    def __init__(
        self,
        world: World,
        hosts: PaymentHosts,
        tmp: Path,
        index: int,
        primary: tuple[str, int] | None = None,
    ) -> None:
        assert hosts.agent is not None
        self.records: list[TxnRecord] = []
        self.store = TerminalStore(tmp / "terminals.sqlite")
        self.profile = TerminalProfile.from_world(world, world.terminals[index])
        self.desk = MerchantDesk(
            self.profile,
            agents={"primary": hosts.agent.url("main")},
            outboxes=Outboxes(tmp / "outbox.sqlite", seed=55),
            failover=True,
            timeout_s=2.0,
            backup_first=lambda: False,
            emit=self.records.append,
            policy="resilient",
        )
        self.terminal = self.power_on(self.profile, primary or hosts.acquirer.address())

    def power_on(self, profile: TerminalProfile, primary: tuple[str, int]) -> Terminal:
        config = TerminalConfig(
            response_timeout_s=2.0,
            connect_timeout_s=0.5,
            backoff_base_s=0.01,
            backoff_cap_s=0.05,
            mix=SALES_ONLY,
        )
        terminal = Terminal(
            profile,
            config,
            primary=primary,
            backup=None,
            store=self.store,
            on_record=self._record,
            rng=random.Random(profile.tid),
            latest_software="020100",
        )
        self.desk.refresh(terminal)
        return terminal

    def _record(self, record: TxnRecord) -> None:
        self.records.append(record)
        self.desk.observe(self.terminal, record)


def test_the_host_asks_for_new_software_and_the_agent_serves_it(
    hosts: PaymentHosts, agent_world: tuple[World, Path], tmp_path: Path
) -> None:
    till = Till(agent_world[0], hosts, tmp_path, 0)
    till.terminal.set_software("020000")  # an old device (fleet fault set_software)
    till.terminal.boot()
    hosts.fault("min_software", {"version": "020100"})
    try:
        first = till.terminal.run_next()  # answered normally, with header nibble 6
        assert first.outcome in (Outcome.APPROVED, Outcome.DECLINED)
        assert till.terminal.tms_requested
        till.terminal.run_next()  # TMS first, then the next customer
    finally:
        hosts.clear("min_software")
    tms = of_type(till.records, "tms")
    assert [(t.outcome, t.path) for t in tms] == [(Outcome.APPROVED, "primary")]
    assert till.terminal.software == "020100" and not till.terminal.tms_requested
    assert till.store.counters(till.terminal.tid).software == "020100"  # type: ignore[union-attr]


def test_failures_make_the_merchant_file_one_ticket(
    hosts: PaymentHosts, agent_world: tuple[World, Path], tmp_path: Path
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = ("127.0.0.1", int(closed.getsockname()[1]))
    till = Till(agent_world[0], hosts, tmp_path, 1, primary=dead)
    till.terminal.boot()
    for _ in range(4):
        assert till.terminal.run_next().outcome is Outcome.FAILED
    tickets = of_type(till.records, "ticket")
    assert len(tickets) == 1  # one ticket per streak of failures
    assert (tickets[0].outcome, tickets[0].path, tickets[0].amount) == (
        Outcome.APPROVED,
        "primary",
        0,
    )


def test_a_broken_terminal_is_replaced_and_its_batch_closed_host_side(
    hosts: PaymentHosts, agent_world: tuple[World, Path], tmp_path: Path
) -> None:
    till = Till(agent_world[0], hosts, tmp_path, 2)
    old = till.terminal
    old.boot()
    for _ in range(3):
        old.run_next()
    old.crash()  # dies mid-batch, for good
    replacement = till.desk.replace(old)
    assert replacement is not None and replacement.old_tid == old.tid
    new_profile = replacement_profile(old.profile, replacement)
    assert new_profile.tid != old.tid and new_profile.mid == old.profile.mid
    new = till.power_on(new_profile, hosts.acquirer.address())
    till.terminal = new
    new.boot()
    sale = new.run_next()
    assert sale.tid == new_profile.tid and sale.outcome in (Outcome.APPROVED, Outcome.DECLINED)
    old_batches = hosts.batches(old.tid)
    assert old_batches and all(
        b["status"] == "closed" and b["closed_by"] == "replacement" for b in old_batches
    )
    ticket = of_type(till.records, "ticket")[-1]
    assert (ticket.tid, ticket.outcome) == (old.tid, Outcome.APPROVED)
