"""Reconciliation of one scenario: the fleet's view of every sale against the ledger's.

The fleet journal is streamed once; each money record (sale, void, refund) and
each reversal is matched against the ledger index by ``tid/stan/batch`` as it
passes (:meth:`Reconciler.money`, :meth:`Reconciler.reversal`). What can only be
decided once everything is seen — was a failed sale's reversal acknowledged
later, which ledger rows no terminal knows — is settled in :meth:`finish`.

Where a transaction fits two findings it is counted once, under the most
specific one: a sale the terminal reversed (host acknowledged) that the ledger
still holds is a *reversal that never landed*, not a generic *unreversed
failure*. ``unresolved`` is the exception: it is the terminal's state (the
merchant was told to call support), so it may overlap a money finding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.scoring.jsonl import ReadStats, iter_jsonl, read_line_at
from lab.scoring.ledger import (
    CLAIMED,
    FLEET_APPROVED,
    MONEY_STATUSES,
    ST_APPROVED,
    STATUS_NAMES,
    TY_SALE,
    LedgerIndex,
    offset_of,
    status_of,
    type_of,
)
from lab.scoring.result import Check, Example, mask_pan

MONEY_TYPES = frozenset({"sale", "void", "refund"})
_NOT_DONE = frozenset({"failed", "unresolved", "reversed", "declined"})
# A naive terminal retrying a sale under a new STAN books it again within its
# retry horizon; a later sale of the same amount on the same card is a new sale.
DOUBLE_BOOKING_WINDOW_S = 300.0


def fleet_example(rec: dict[str, Any], detail: str, stan_key: str = "stan") -> Example:
    amount = rec.get("amount")
    batch_key = "orig_batch" if stan_key == "orig_stan" else "batch"
    return Example(
        detail=detail,
        tid=_str(rec.get("tid")),
        stan=_str(rec.get(stan_key) or rec.get("stan")),
        batch=_str(rec.get(batch_key) or rec.get("batch")),
        pan=mask_pan(rec.get("pan")),
        t=_float(rec.get("ts_start")),
        amount=amount if type(amount) is int else None,
    )


def ledger_example(row: dict[str, Any] | None, key: str, detail: str) -> Example:
    if row is None:
        tid, stan, batch = ([*key.split("/"), "", "", ""])[:3]
        return Example(detail=detail, tid=tid, stan=stan, batch=batch)
    amount = row.get("amount")
    return Example(
        detail=detail,
        tid=_str(row.get("tid")),
        stan=_str(row.get("stan")),
        batch=_str(row.get("batch")),
        pan=mask_pan(row.get("pan")),
        t=_float(row.get("booked_at")),
        amount=amount if type(amount) is int else None,
    )


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass(slots=True)
class _Reversal:
    approved: bool
    example: Example


@dataclass(slots=True)
class Reconciler:
    """Matches fleet records against the ledger and fills the integrity checks."""

    checks: dict[str, Check]
    ledger: LedgerIndex | None
    pending: dict[str, Example] = field(default_factory=dict)
    unresolved: dict[str, Example] = field(default_factory=dict)
    reversals: dict[str, _Reversal] = field(default_factory=dict)
    suspects: list[tuple[str, str, Example]] = field(default_factory=list)

    # -- while the fleet journal streams -------------------------------------------------

    def money(self, rec: dict[str, Any]) -> None:
        key = f"{rec.get('tid')}/{rec.get('stan')}/{rec.get('batch')}"
        outcome = rec.get("outcome")
        if rec.get("reversal") == "pending":
            self.pending[key] = fleet_example(rec, "reversal left pending by the terminal")
        if outcome == "unresolved":
            self.unresolved[key] = fleet_example(rec, f"{rec.get('type')} ended unresolved")
        ledger = self.ledger
        if ledger is None:
            return
        rows = ledger.rows
        value = rows.get(key)
        if value is None:
            if outcome == "approved":
                self.checks["lost_approvals"].add(
                    fleet_example(rec, f"{rec.get('type')} approved at the terminal, not in ledger")
                )
            return
        status = status_of(value)
        if outcome == "approved":
            if value & FLEET_APPROVED and key not in ledger.double_booked:
                self.checks["lost_approvals"].add(
                    fleet_example(
                        rec, "two terminal approvals share tid/stan/batch; ledger has one"
                    )
                )
            elif status not in MONEY_STATUSES:
                self.checks["lost_approvals"].add(
                    fleet_example(rec, f"approved at the terminal, ledger {STATUS_NAMES[status]}")
                )
            rows[key] = value | CLAIMED | FLEET_APPROVED
            return
        rows[key] = value | CLAIMED
        if outcome in _NOT_DONE and status == ST_APPROVED:
            self.suspects.append((key, str(outcome), fleet_example(rec, "")))

    def reversal(self, rec: dict[str, Any]) -> None:
        key = f"{rec.get('tid')}/{rec.get('orig_stan') or rec.get('stan')}/"
        key += f"{rec.get('orig_batch') or rec.get('batch')}"
        approved = rec.get("outcome") == "approved"
        seen = self.reversals.get(key)
        if seen is None or (approved and not seen.approved):
            self.reversals[key] = _Reversal(
                approved, fleet_example(rec, "reversal", stan_key="orig_stan")
            )
        if self.ledger is not None:
            value = self.ledger.rows.get(key)
            if value is not None:
                self.ledger.rows[key] = value | CLAIMED

    # -- once everything is seen ------------------------------------------------------

    def finish(self, pending_at_drain: int | None) -> None:
        self._unresolved(pending_at_drain)
        if self.ledger is not None:
            self._suspects()
            self._orphans_and_doubles(self.ledger)

    def _unresolved(self, pending_at_drain: int | None) -> None:
        found: dict[str, Example] = {}
        for key, example in self.unresolved.items():
            rev = self.reversals.get(key)
            if rev is None or not rev.approved:  # a later acknowledged reversal resolves it
                found[key] = example
        for key, example in self.pending.items():
            rev = self.reversals.get(key)
            if rev is None:
                example.detail = "reversal pending, never sent or never answered"
                found.setdefault(key, example)
            elif not rev.approved:
                rev.example.detail = "reversal given up (冲正不成功): merchant told to call support"
                found.setdefault(key, rev.example)
        for key, rev in self.reversals.items():
            if not rev.approved and key not in found:
                rev.example.detail = "reversal never acknowledged by the host"
                found[key] = rev.example
        check = self.checks["unresolved"]
        for example in found.values():
            check.add(example)
        if pending_at_drain and pending_at_drain > check.count:
            missing = pending_at_drain - check.count
            check.add(Example(f"{missing} reversal(s) still pending at drain end (journal)"))
            check.count += missing - 1

    def _suspects(self) -> None:
        for key, outcome, example in self.suspects:
            rev = self.reversals.get(key)
            if outcome == "reversed" or (rev is not None and rev.approved):
                example.detail = "terminal saw the reversal acknowledged; ledger still approved"
                self.checks["reversals_not_landed"].add(example)
            else:
                example.detail = f"terminal outcome {outcome}; ledger approved (customer debited)"
                self.checks["unreversed_failures"].add(example)

    def _orphans_and_doubles(self, ledger: LedgerIndex) -> None:
        doubles = self.checks["double_bookings"]
        for key, offsets in ledger.double_booked.items():
            row = read_line_at(ledger.path, offsets[0])
            doubles.add(
                ledger_example(row, key, f"booked {len(offsets)} times (same tid/stan/batch)")
            )
        orphans = [
            (key, v)
            for key, v in ledger.rows.items()
            if not v & CLAIMED and status_of(v) == ST_APPROVED
        ]
        if not orphans:
            return
        twins = _find_twins(ledger.path, ledger.rows, orphans)
        unreversed = self.checks["unreversed_failures"]
        for key, v in orphans:
            row = read_line_at(ledger.path, offset_of(v))
            twin = twins.get(key)
            if twin is not None and type_of(v) == TY_SALE:
                doubles.add(
                    ledger_example(row, key, f"same sale booked again under STAN {twin} (retry)")
                )
            else:
                unreversed.add(
                    ledger_example(row, key, "ledger approved; no terminal record knows it")
                )


def _find_twins(path: Path, rows: dict[str, int], orphans: list[tuple[str, int]]) -> dict[str, str]:
    """For each orphan sale, a claimed sale of the same terminal, card and amount booked
    within the retry horizon: the terminal sale the orphan duplicates (orphan key → STAN)."""
    wanted: dict[tuple[str, str, int], list[tuple[str, float]]] = {}
    tids = set()
    for key, v in orphans:
        row = read_line_at(path, offset_of(v))
        if row is None or type_of(v) != TY_SALE:
            continue
        booked = _float(row.get("booked_at"))
        amount = row.get("amount")
        if booked is None or type(amount) is not int:
            continue
        wanted.setdefault((str(row.get("tid")), str(row.get("pan")), amount), []).append(
            (key, booked)
        )
        tids.add(str(row.get("tid")))
    twins: dict[str, str] = {}
    if not wanted:
        return twins
    for _, row in iter_jsonl(path, ReadStats()):
        if row.get("type") != "sale" or str(row.get("tid")) not in tids:
            continue
        candidates = wanted.get((str(row.get("tid")), str(row.get("pan")), row.get("amount")))  # type: ignore[arg-type]
        if not candidates:
            continue
        key = f"{row.get('tid')}/{row.get('stan')}/{row.get('batch')}"
        value = rows.get(key)
        booked = _float(row.get("booked_at"))
        if value is None or not value & CLAIMED or booked is None:
            continue
        if status_of(value) not in MONEY_STATUSES:
            continue
        for orphan_key, orphan_booked in candidates:
            if orphan_key != key and abs(orphan_booked - booked) <= DOUBLE_BOOKING_WINDOW_S:
                twins.setdefault(orphan_key, str(row.get("stan")))
    return twins
