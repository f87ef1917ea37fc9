"""The lab against a host it did not write (issue 13).

The foreign host (tests/foreign_host/) serves the lab's real terminals; its
books, in its own tables, are read through the sql ledger source with a
column mapping; scoring must then run every integrity check on them — and
catch each defect the host can be switched to, for that defect's reason.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("sqlalchemy")

import sqlalchemy as sa

from poslab.iso8583 import MacAlgorithm
from poslab.ledger_sources import Window, parse_ledger_source, write_ledger_export
from poslab.mocks.terminal import Outcome, Terminal, TerminalStore, TxnRecord
from poslab.scoring import RunResult, score_run
from poslab.world import World, generate, save
from tests.foreign_host.export import file_source
from tests.foreign_host.harness import (
    REPO,
    HostProcess,
    LossyLink,
    checks,
    make_terminal,
    score_books,
    until,
)

ALL_CHECKS = (
    "lost_approvals",
    "unreversed_failures",
    "double_bookings",
    "reversals_not_landed",
    "unresolved",
    "unbalanced_batches",
    "wrong_payouts",
    "issuer_holds_without_sale",
)


@dataclass
class Lab:
    """One foreign host behind a lossy link, and the lab's terminals in front."""

    tmp: Path
    db: str
    world: World
    world_json: Path
    host: HostProcess | None = None
    link: LossyLink | None = None
    store: TerminalStore | None = None
    records: list[TxnRecord] = field(default_factory=list)
    terminals: list[Terminal] = field(default_factory=list)
    t0: float = field(default_factory=time.time)

    def start(
        self,
        *defects: str,
        day_s: float | None = None,
        terminals: int = 2,
        mac: str = "cup-ecb",
        **config: Any,
    ) -> None:
        self.host = HostProcess(self.tmp, self.db, self.world_json, defects, day_s, mac=mac)
        self.link = LossyLink(self.host.address)
        self.store = TerminalStore(self.tmp / "terminals.sqlite")
        self.terminals = [
            make_terminal(self.world, i, self.link.address, self.store, self.records, **config)
            for i in range(terminals)
        ]
        for t in self.terminals:
            t.boot()

    def score(self) -> RunResult:
        return score_books(self.tmp / "runs", self.world_json, self.records, self.db, self.t0)

    def close(self) -> None:
        for t in self.terminals:
            t.channel.close()
        if self.link is not None:
            self.link.close()
        if self.host is not None:
            self.host.stop()
        if self.store is not None:
            self.store.close()


@pytest.fixture
def lab(tmp_path: Path, database: str) -> Iterator[Lab]:
    world = generate(11, 4)
    save(world, tmp_path / "world.json")
    made = Lab(tmp_path, database, world, tmp_path / "world.json")
    yield made
    made.close()


def _approved_sale(t: Terminal) -> TxnRecord:
    """A sale the host approves (the shopper's draw may be an unknown or lost card)."""
    for _ in range(20):
        rec = t.sale()
        if rec.outcome is Outcome.APPROVED:
            return rec
    raise AssertionError("no approved sale in 20 tries")


def _types(records: list[TxnRecord], outcome: Outcome = Outcome.APPROVED) -> set[str]:
    return {r.type.value for r in records if r.outcome is outcome}


def _rows(db: str, query: str) -> list[tuple[object, ...]]:
    engine = sa.create_engine(db)
    try:
        with engine.connect() as c:
            return [tuple(r) for r in c.execute(sa.text(query))]
    finally:
        engine.dispose()


def test_clean_host_serves_the_lab_terminals_and_every_check_runs(lab: Lab) -> None:
    lab.start(day_s=1.0)
    a, b = lab.terminals
    sale = _approved_sale(a)
    assert sale.rrn
    entry = next(e for e in lab.store.log_entries(a.tid, a.batch) if e.stan == sale.stan)  # type: ignore[union-attr]
    assert a.void(entry).outcome is Outcome.APPROVED
    _approved_sale(a)
    refunded = b.refund(b.recent_sales[-1]) if b.recent_sales else None
    if refunded is None:
        _approved_sale(b)
        refunded = b.refund(b.recent_sales[-1])
    assert refunded.outcome is Outcome.APPROVED
    lab.link.lose_next_reply("0210")  # type: ignore[union-attr]
    lost = b.sale()
    assert lost.outcome is Outcome.FAILED and lost.reversal == "pending"
    _approved_sale(b)  # the pending reversal goes first
    for t in lab.terminals:
        for _ in range(5):
            t.run_next()
        assert t.settle().outcome is Outcome.APPROVED
    assert until(lambda: bool(_rows(lab.db, "SELECT 1 FROM merchant_payouts")), 5)
    time.sleep(1.2)  # one more day cut: every row settled
    for t in lab.terminals:
        t.drain(2.0)

    assert {"sign_on", "sale", "void", "refund", "reversal", "settlement"} <= _types(lab.records)
    states = dict(_rows(lab.db, "SELECT state, COUNT(*) FROM acq_journal GROUP BY state"))
    assert states.get("REVD") == 1 and states.get("VOID", 0) >= 1
    result = lab.score()
    got = checks(result)
    assert set(got) == set(ALL_CHECKS)
    assert all(status == "passed" for status, _ in got.values()), got
    assert result.scenarios[0].integrity_ok


# defect → (what makes it show, the check that must catch it)
DEFECTS = {
    "rebook-duplicates": "double_bookings",
    "reply-before-durable": "lost_approvals",
    "ack-reversal-without-applying": "reversals_not_landed",
}


def _provoke(lab: Lab, defect: str) -> None:
    a = lab.terminals[0]
    if defect == "rebook-duplicates":
        # a refund whose answer is lost waits in store-and-forward and is sent
        # again unchanged: the host must replay its answer, not book it twice
        _approved_sale(a)
        lab.link.lose_next_reply("0230")  # type: ignore[union-attr]
        first = a.refund(a.recent_sales[-1])
        assert first.saf == "pending"
        _approved_sale(a)
        assert any(r.retransmission and r.outcome is Outcome.APPROVED for r in lab.records)
    elif defect == "reply-before-durable":
        # approvals acknowledged, then the host is killed (and restarted, as a
        # restart hook would) before it wrote them
        for _ in range(4):
            _approved_sale(a)
        lab.host = lab.host.restarted()  # type: ignore[union-attr]
        _approved_sale(a)  # the restarted host lost the session: A0, sign on, sell
    else:
        # a sale whose reply is lost is reversed; the host says 00 to the reversal
        lab.link.lose_next_reply("0210")  # type: ignore[union-attr]
        assert a.sale().reversal == "pending"
        _approved_sale(a)
        reversals = [r for r in lab.records if r.type.value == "reversal"]
        assert any(r.outcome is Outcome.APPROVED for r in reversals)


@pytest.mark.parametrize("defect", list(DEFECTS))
@pytest.mark.parametrize("switched_on", [False, True], ids=["clean", "defect"])
def test_each_defect_is_caught_for_its_reason(lab: Lab, defect: str, switched_on: bool) -> None:
    lab.start(*((defect,) if switched_on else ()), terminals=1)
    _provoke(lab, defect)
    if lab.host is not None and lab.host.process.poll() is None:
        lab.terminals[0].drain(2.0)
        lab.host.stop()
    got = checks(lab.score())
    expected = DEFECTS[defect]
    if switched_on:
        assert got[expected][0] == "failed" and got[expected][1] >= 1, got
    else:
        assert all(status != "failed" for status, _ in got.values()), got


def test_the_host_is_written_apart_from_the_lab() -> None:
    """Nothing of poslab in the host itself (the harness drives the lab's side)."""
    import ast

    host_files = ["__init__.py", "__main__.py", "wire.py", "crypto.py", "books.py", "host.py"]
    host_files.append("export.py")
    here = Path(__file__).parent
    for name in host_files:
        tree = ast.parse((here / name).read_text(), name)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            assert not any(m.split(".")[0] == "poslab" for m in modules), (name, modules)


def test_a_paid_sale_reversed_later_leaves_its_payout(lab: Lab) -> None:
    """The day cut pays a sale whose reply was lost; its reversal lands after the
    cut: the clean host takes it back out of the payout, so payouts still hold."""
    lab.start(day_s=0.4, terminals=1)
    a = lab.terminals[0]
    _approved_sale(a)
    lab.link.lose_next_reply("0210")  # type: ignore[union-attr]
    assert a.sale().reversal == "pending"
    paid = "SELECT COUNT(*) FROM acq_journal WHERE value_date IS NOT NULL AND state = 'OK'"
    assert until(lambda: _rows(lab.db, paid)[0][0] >= 2, 5)
    _approved_sale(a)  # the reversal goes first
    revd = "SELECT value_date FROM acq_journal WHERE state = 'REVD'"
    assert _rows(lab.db, revd)[0][0] is not None  # reversed after it was paid
    time.sleep(0.5)
    lab.host.stop()  # type: ignore[union-attr]
    got = checks(lab.score())
    assert got["wrong_payouts"] == ("passed", 0), got
    assert all(status == "passed" for status, _ in got.values()), got


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_their_export_command_as_a_file_ledger_source(lab: Lab, fmt: str) -> None:
    """The same books through the host's own export job (run by the lab after
    the drain) instead of SQL: the same checks, the same verdicts."""
    lab.start(day_s=0.5, terminals=1)
    a = lab.terminals[0]
    for _ in range(6):
        a.run_next()
    lab.link.lose_next_reply("0210")  # type: ignore[union-attr]
    a.sale()
    _approved_sale(a)
    assert a.settle().outcome is Outcome.APPROVED
    time.sleep(0.7)
    lab.host.stop()  # type: ignore[union-attr]
    by_sql = checks(lab.score())

    command = [sys.executable, "-m", "tests.foreign_host.export", "--db", lab.db]
    command += ["--out", "{ledger_dir}/theirs", "--format", fmt]
    raw = file_source(command, "{ledger_dir}/theirs", fmt) | {"cwd": str(REPO)}
    run_dir = lab.tmp / "runs" / "foreign"
    ledger = run_dir / "scenarios" / "foreign" / "ledger"
    for old in ledger.glob("*.jsonl"):
        old.unlink()
    window = Window("foreign", lab.t0, 4e9)
    write_ledger_export(parse_ledger_source(raw), ledger, window, run_dir=run_dir)
    assert "exit status 0" in (ledger / "source-command.log").read_text()
    assert checks(score_run(run_dir)) == by_sql
    assert all(status == "passed" for status, _ in by_sql.values()), by_sql


@pytest.mark.parametrize(
    ("key_mode", "mac"),
    [("001", "cup-ecb"), ("003", "cup-ecb"), ("004", "cup-ecb"), ("003", "x9.19")],
)
def test_key_modes_and_mac_algorithms(lab: Lab, key_mode: str, mac: str) -> None:
    """Single, double and double+TDK working keys; CUP ECB and X9.19 MACs: the
    lab's terminal and this host agree on all of them from the documents alone."""
    algorithm = MacAlgorithm.X9_19 if mac == "x9.19" else MacAlgorithm.CUP_ECB
    lab.start(terminals=1, mac=mac, key_mode=key_mode, mac_algorithm=algorithm)
    a = lab.terminals[0]
    assert a.session is not None and len(a.session.keys.mak) == (8 if key_mode == "001" else 16)
    _approved_sale(a)
    assert a.settle().outcome is Outcome.APPROVED
    assert not any(r.reason == "bad_mac" for r in lab.records)
