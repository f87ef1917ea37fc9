"""The terminal against the real acquirer and issuer processes, through the
embedded fault proxy where the network has to misbehave. Each test drives its
own terminal of one shared world, so the ledgers do not interfere."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from poslab.mocks.terminal import (
    Outcome,
    Terminal,
    TerminalConfig,
    TerminalCrashed,
    TerminalProfile,
    TerminalStore,
    TxnRecord,
)
from poslab.mocks.terminal.shopper import CardPresented
from poslab.world import World
from tests.support.payment_stack import PaymentHosts, saved_world
from tests.terminal.terminal_helpers import of_type

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def acq_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[World, Path]:
    return saved_world(tmp_path_factory.mktemp("world"), 21, 12)


@pytest.fixture(scope="module")
def hosts(
    acq_world: tuple[World, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PaymentHosts]:
    with PaymentHosts(tmp_path_factory.mktemp("hosts"), acq_world[1], proxy=True) as stack:
        yield stack


class Fleet:
    """Terminals of the shared world, one per test, with their records."""

    def __init__(self, world: World, store: TerminalStore) -> None:
        self.world = world
        self.store = store
        self.records: list[TxnRecord] = []

    def terminal(self, index: int, primary: tuple[str, int], **settings: Any) -> Terminal:
        backup = settings.pop("backup", None)
        config = TerminalConfig(
            **{"response_timeout_s": 1.5, "connect_timeout_s": 0.5, "backoff_base_s": 0.02,
               "backoff_cap_s": 0.1, **settings}
        )  # fmt: skip
        profile = TerminalProfile.from_world(self.world, self.world.terminals[index])
        return Terminal(
            profile,
            config,
            primary=primary,
            backup=backup,
            store=self.store,
            on_record=self.records.append,
            rng=random.Random(index),
        )


@pytest.fixture
def fleet(acq_world: tuple[World, Path], tmp_path: Path) -> Iterator[Fleet]:
    store = TerminalStore(tmp_path / "terminals.sqlite")
    yield Fleet(acq_world[0], store)
    store.close()


def good_card(term: Terminal) -> CardPresented:
    """A card of this till that can pay (funds, not expired, right PIN)."""
    world_card = max(term.profile.cards, key=lambda c: (c.expiry >= "2601", c.balance_fen))
    card = term.shopper.card_for(world_card.pan)
    assert card.pin is not None
    return card


def wait_for(check: Callable[[], Any], timeout_s: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout_s} s")


def test_lost_reply_is_reversed_and_leaves_no_net_debit(hosts: PaymentHosts, fleet: Fleet) -> None:
    primary = hosts.add_proxy("region-lost-reply")
    term = fleet.terminal(0, primary)
    term.boot()
    hosts.add_toxic("region-lost-reply", "iso_drop", {"mti": 210, "rc": 0}, "downstream")
    try:
        sale = term.sale(1_500, good_card(term))
    finally:
        hosts.remove_toxics("region-lost-reply")
    assert (sale.outcome, sale.reason, sale.reversal) == (Outcome.FAILED, "timeout", "pending")
    booked = hosts.ledger_row(term.tid, sale.stan, sale.batch)
    assert booked is not None and booked["status"] == "approved"  # the host did approve
    assert term.balance(good_card(term)).outcome is Outcome.APPROVED
    reversal = of_type(fleet.records, "reversal")[0]
    assert (reversal.outcome, reversal.rc, reversal.orig_stan) == (
        Outcome.APPROVED,
        "00",
        sale.stan,
    )
    row = hosts.ledger_row(term.tid, sale.stan, sale.batch)
    assert row is not None and row["status"] == "reversed"
    holds = wait_for(
        lambda: [h for h in hosts.holds(term.tid, sale.stan, sale.batch) if h["status"] != "held"]
    )
    assert all(h["status"] in ("released", "reversed") for h in holds)


@pytest.mark.parametrize(("index", "policy"), [(1, "resilient"), (2, "naive")])
def test_crash_between_send_and_reply(
    hosts: PaymentHosts, fleet: Fleet, index: int, policy: str
) -> None:
    term = fleet.terminal(index, hosts.acquirer.address(), policy=policy)
    term.boot()
    term.exchanger.on_sent.append(lambda msg: term.crash() if msg.mti == "0200" else None)
    with pytest.raises(TerminalCrashed):
        term.sale(2_500, good_card(term))
    term.exchanger.on_sent.clear()
    sale = of_type(fleet.records, "sale")[-1]
    assert (sale.outcome, sale.reason) == (Outcome.FAILED, "crash")
    # the host got the request and booked it although the device died
    wait_for(lambda: hosts.ledger_row(term.tid, sale.stan, sale.batch))
    term.reboot()
    row = hosts.ledger_row(term.tid, sale.stan, sale.batch)
    assert row is not None
    if policy == "resilient":
        assert sale.reversal == "pending"
        assert row["status"] == "reversed"  # reloaded from flash and sent at boot
    else:
        # the naive terminal kept the reversal in RAM: the customer stays debited
        assert sale.reversal is None
        assert row["status"] == "approved"
        assert [h["status"] for h in hosts.holds(term.tid, sale.stan, sale.batch)] == ["held"]
        assert of_type(fleet.records, "reversal") == []


def test_expired_keys_mean_sign_on_again_then_the_sale_is_approved(
    hosts: PaymentHosts, fleet: Fleet
) -> None:
    term = fleet.terminal(3, hosts.acquirer.address())
    term.boot()
    hosts.fault("expire_keys", {"tids": [term.tid]})
    try:
        sale = term.sale(3_300, good_card(term))
    finally:
        hosts.clear("expire_keys")
    assert (sale.outcome, sale.rc, sale.attempts) == (Outcome.APPROVED, "00", 2)
    sign_ons = of_type(fleet.records, "sign_on")
    assert len(sign_ons) == 2 and all(s.outcome is Outcome.APPROVED for s in sign_ons)
    assert sign_ons[1].ts_start >= sale.ts_start  # signed on again during the sale
    row = hosts.ledger_row(term.tid, sale.stan, sale.batch)
    assert row is not None and row["status"] == "approved"


def test_primary_path_down_backup_used_then_fail_back(hosts: PaymentHosts, fleet: Fleet) -> None:
    primary = hosts.add_proxy("region-path-down")
    backup = hosts.add_proxy("backup-path-down")
    term = fleet.terminal(4, primary, backup=backup, failover_after=2, fail_back_after_s=0.5)
    term.boot()
    assert term.sale(100, good_card(term)).path == "primary"
    hosts.set_enabled("region-path-down", False)
    during = [term.sale(100 + i, good_card(term)) for i in range(3)]
    assert all(s.outcome is Outcome.APPROVED and s.path == "backup" for s in during)
    hosts.set_enabled("region-path-down", True)
    time.sleep(0.55)
    after = term.sale(200, good_card(term))
    assert (after.outcome, after.path) == (Outcome.APPROVED, "primary")
    naive = fleet.terminal(5, primary, backup=backup, policy="naive")
    naive.boot()
    hosts.set_enabled("region-path-down", False)
    try:
        failed = naive.sale(100, good_card(naive))
    finally:
        hosts.set_enabled("region-path-down", True)
    assert (failed.outcome, failed.path) == (Outcome.FAILED, "primary")


def _till_activity(term: Terminal) -> None:
    sales = [term.sale(amount, good_card(term)) for amount in (1_000, 2_000, 3_000, 4_000)]
    assert all(s.outcome is Outcome.APPROVED for s in sales)
    voidable = term._voidable()
    assert voidable is not None
    assert term.void(voidable).outcome is Outcome.APPROVED
    assert term.refund(term.recent_sales[-1], 500).outcome is Outcome.APPROVED


def test_settlement_balanced(hosts: PaymentHosts, fleet: Fleet) -> None:
    term = fleet.terminal(6, hosts.acquirer.address())
    term.boot()
    _till_activity(term)
    settled = term.settle()
    assert (settled.outcome, settled.batch, settled.attempts) == (Outcome.APPROVED, "000001", 1)
    batch = next(b for b in hosts.batches(term.tid) if b["batch"] == "000001")
    assert batch["recon_code"] == 1 and batch["uploaded"] == 0
    assert batch["terminal_totals"]["debit_amount"] == 10_000
    assert batch["terminal_totals"]["credit_count"] == 2
    assert term.batch == "000002"
    assert term.sale(700, good_card(term)).batch == "000002"


def test_mismatch_is_resolved_by_the_batch_upload(hosts: PaymentHosts, fleet: Fleet) -> None:
    term = fleet.terminal(7, hosts.acquirer.address())
    term.boot()
    _till_activity(term)
    hosts.fault("force_mismatch", {"share": 1.0})
    try:
        settled = term.settle()
    finally:
        hosts.clear("force_mismatch")
    assert settled.outcome is Outcome.APPROVED
    assert settled.attempts == 3  # 0500, one 0320 of 6 details, the closing 0320/202
    batch = next(b for b in hosts.batches(term.tid) if b["batch"] == "000001")
    assert batch["uploaded"] == 6
    assert batch["recon_code"] == 1  # balanced after the host re-reconciled the details


def test_a_lost_refund_reply_is_forwarded_and_the_host_replays_its_answer(
    hosts: PaymentHosts, fleet: Fleet
) -> None:
    primary = hosts.add_proxy("region-lost-refund")
    term = fleet.terminal(8, primary)
    term.boot()
    assert term.sale(6_000, good_card(term)).outcome is Outcome.APPROVED
    hosts.add_toxic("region-lost-refund", "iso_drop", {"mti": 230, "rc": 0}, "downstream")
    try:
        refund = term.refund(term.recent_sales[-1], 2_500)
    finally:
        hosts.remove_toxics("region-lost-refund")
    assert (refund.outcome, refund.reason, refund.saf) == (Outcome.FAILED, "timeout", "pending")
    booked = hosts.ledger_row(term.tid, refund.stan, refund.batch)
    assert booked is not None and booked["status"] == "approved"  # the customer is credited
    assert term.balance(good_card(term)).outcome is Outcome.APPROVED
    resend = [r for r in of_type(fleet.records, "refund") if r.retransmission]
    assert len(resend) == 1
    # the host's duplicate check replayed its original answer: same RRN, booked once
    assert (resend[0].outcome, resend[0].rc, resend[0].rrn) == (
        Outcome.APPROVED,
        "00",
        booked["rrn"],
    )
    refunds = [
        r
        for r in hosts.export("transactions")
        if r["tid"] == term.tid and r["type"] == "refund" and r["stan"] == refund.stan
    ]
    assert len(refunds) == 1
    settled = term.settle()
    assert settled.outcome is Outcome.APPROVED
    batch = next(b for b in hosts.batches(term.tid) if b["batch"] == refund.batch)
    assert batch["recon_code"] == 1 and batch["uploaded"] == 0  # balanced: refund counted once
    assert batch["terminal_totals"]["credit_amount"] == 2_500


@pytest.mark.parametrize(("index", "policy"), [(9, "resilient"), (10, "naive")])
def test_a_host_outage_burns_the_naive_reversal_tries_not_the_resilient_ones(
    hosts: PaymentHosts, fleet: Fleet, index: int, policy: str
) -> None:
    name = f"region-outage-{policy}"
    primary = hosts.add_proxy(name)
    term = fleet.terminal(index, primary, policy=policy, reversal_backoff_base_s=1.0)
    term.boot()
    hosts.add_toxic(name, "iso_drop", {"mti": 210, "rc": 0}, "downstream")
    try:
        sale = term.sale(4_400, good_card(term))
    finally:
        hosts.remove_toxics(name)
    assert sale.reversal == "pending"
    # For 1.2 s the host resets every connection once the request is in (as a
    # proxy in front of a restarting host does) while customers keep coming.
    hosts.add_toxic(name, "reset_peer", {"timeout": 0}, "upstream")
    try:
        started = time.monotonic()
        while time.monotonic() - started < 1.2:
            term.balance(good_card(term))
            time.sleep(0.05)
    finally:
        hosts.remove_toxics(name)
    reversals = of_type(fleet.records, "reversal")
    reversals = [r for r in reversals if r.tid == term.tid]
    if policy == "naive":
        # every attempt counted, none spaced: given up inside the outage (冲正不成功)
        assert reversals[-1].outcome is Outcome.UNRESOLVED
        row = hosts.ledger_row(term.tid, sale.stan, sale.batch)
        assert row is not None and row["status"] == "approved"  # the customer stays debited
        return
    # spaced: at most two delivered tries fit in 1.2 s (they span ≥ 1.5 × base)
    assert {(r.outcome, r.reason) for r in reversals} == {(Outcome.FAILED, "reset")}
    assert 1 <= max(r.attempts for r in reversals) <= 2
    pending = term.reversals.pending(term.tid)[0]
    time.sleep(max(0.0, pending.retry_at - time.time()))
    assert term.balance(good_card(term)).outcome is Outcome.APPROVED
    assert of_type(fleet.records, "reversal")[-1].outcome is Outcome.APPROVED
    row = hosts.ledger_row(term.tid, sale.stan, sale.batch)
    assert row is not None and row["status"] == "reversed"
