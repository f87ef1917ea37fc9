"""The acquirer and issuer side of one scenario, read apart from the fleet journal.

Nothing on this side needs the fleet journal: the ledger index, the batch and
payout checks and the cardholder holds depend on the ledger exports alone. So
for a big run they are read in a second process while the main one streams the
fleet journal — on two cores that halves the wall time of scoring a
million-transaction run — and the index comes back pickled for the join.
Small ledgers are read in-process: a process start costs more than it saves.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from poslab.common import paused_gc
from poslab.errors import RunDirError
from poslab.scoring.fees import Fees
from poslab.scoring.jsonl import read_json_object
from poslab.scoring.ledger import LedgerIndex, load_ledger
from poslab.scoring.ledger_contract import (
    CONTRACT_FILE,
    LEDGER_CONTRACT,
    SUPPORTED_VERSIONS,
    supported,
)
from poslab.scoring.result import Check
from poslab.scoring.settlement import SettlementState, check_batches, check_issuer, check_payouts

# Below this size of ledger/transactions.jsonl (about 50,000 rows) one process is faster.
PARALLEL_FROM_BYTES = 16 << 20


@dataclass(slots=True)
class LedgerSide:
    index: LedgerIndex
    checks: dict[str, Check]
    state: SettlementState = field(default_factory=SettlementState)
    notes: list[str] = field(default_factory=list)


def contract_note(ledger_dir: Path) -> str | None:
    """Where an external ledger came from, per its ``contract.json`` (None: the lab's own).

    A ledger written under a contract version this scorer does not know is a
    RunDirError: reading its rows as version 1 would judge money by guesswork.
    """
    path = ledger_dir / CONTRACT_FILE
    if not path.exists():
        return None  # the lab's own acquirer export: contract version 1
    doc = read_json_object(path, f"{path}: missing", f"ledger/{CONTRACT_FILE}")
    if doc.get("contract") != LEDGER_CONTRACT or not supported(doc.get("version")):
        raise RunDirError(
            f"{path}: ledger contract {doc.get('contract')!r} version {doc.get('version')!r} "
            f"not supported (this lab reads {LEDGER_CONTRACT} {SUPPORTED_VERSIONS})"
        )
    source = doc.get("source")
    what = source.get("describe") if isinstance(source, dict) else None
    return f"ledger read from the team's system ({what or 'external source'})"


def _refuse_unreadable(tx: Path, index: LedgerIndex) -> None:
    """A ledger that is mostly not JSON rows (random bytes, a binary file, the
    wrong file) is unreadable, not empty: read as empty it would blame the
    system for every approval it "lost" and fail the gate. A few bad lines
    among good ones stay data-quality notes (docs/run-directory.md)."""
    stats = index.stats
    bad = stats.malformed_lines + stats.not_objects
    if bad > stats.records or (stats.records == 0 and stats.torn_lines):
        where = f" (first at {stats.locations[0]})" if stats.locations else ""
        raise RunDirError(
            f"{tx}: unreadable — {bad + stats.torn_lines} line(s) that are not ledger rows "
            f"against {stats.records} that are{where}; the money cannot be judged from it"
        )


def read_ledger_side(
    ledger_dir: Path, fees: Fees | None, fees_note: str, example_limit: int
) -> LedgerSide | None:
    """Everything the ledger exports say on their own; None without transactions.jsonl."""
    tx = ledger_dir / "transactions.jsonl"
    if not tx.exists():
        return None
    source_note = contract_note(ledger_dir)
    with paused_gc():
        index = load_ledger(tx, fees)
    _refuse_unreadable(tx, index)
    checks = {
        kind: Check(kind, "", example_limit=example_limit)
        for kind in ("unbalanced_batches", "wrong_payouts", "issuer_holds_without_sale")
    }
    side = LedgerSide(index, checks)
    if source_note:
        side.notes.append(source_note)
    side.notes.extend(index.stats.notes("ledger/transactions.jsonl"))
    if index.bad_amounts:
        side.notes.append(f"{index.bad_amounts} ledger row(s) with a non-integer amount")
    batches = ledger_dir / "batches.jsonl"
    if batches.exists():
        check_batches(batches, index, checks["unbalanced_batches"], side.state, side.notes)
    else:
        checks["unbalanced_batches"].unavailable("no ledger/batches.jsonl")
    payouts = ledger_dir / "payouts.jsonl"
    if fees is None:
        checks["wrong_payouts"].unavailable(f"fees cannot be recomputed: {fees_note}")
    elif not payouts.exists():
        checks["wrong_payouts"].unavailable("no ledger/payouts.jsonl")
    else:
        check_payouts(payouts, index, checks["wrong_payouts"], side.state, side.notes)
        if side.state.unpaid_merchant_days:
            side.notes.append(
                f"{side.state.unpaid_merchant_days} merchant-day(s) with settled rows have no "
                "payout yet (payout timing, not a failure)"
            )
    issuer = ledger_dir / "issuer.jsonl"
    if issuer.exists():
        check_issuer(issuer, index, checks["issuer_holds_without_sale"])
    else:
        checks["issuer_holds_without_sale"].unavailable("no ledger/issuer.jsonl")
    return side


def start_ledger_side(
    ledger_dir: Path,
    fees: Fees | None,
    fees_note: str,
    example_limit: int,
    parallel: bool | None = None,
) -> Callable[[], LedgerSide | None]:
    """Begin reading the ledger side; call the result to wait for it.

    ``parallel`` None decides by the ledger's size. The worker is started with
    ``forkserver``: forking a process that may hold threads (the run command's
    event loop) is not safe.
    """
    tx = ledger_dir / "transactions.jsonl"
    if parallel is None:
        parallel = tx.exists() and tx.stat().st_size >= PARALLEL_FROM_BYTES
    if not parallel:
        side = read_ledger_side(ledger_dir, fees, fees_note, example_limit)
        return lambda: side
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("forkserver"))
    future: Future[LedgerSide | None] = pool.submit(
        read_ledger_side, ledger_dir, fees, fees_note, example_limit
    )

    def wait() -> LedgerSide | None:
        try:
            return future.result()
        finally:
            pool.shutdown()

    return wait
