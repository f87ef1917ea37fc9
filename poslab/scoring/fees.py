"""Merchant fees recomputed from world.json, independently of the acquirer.

Reconciliation recomputes every payout's fees from the fee schedule in
``world.json`` instead of trusting the acquirer's figure, so this module
re-implements the rule of ``poslab/world/fees.py`` rather than importing it:
a shared bug would otherwise pass unseen (tests check both agree).

The rule (exact, integer fen), per ledger row:
``fee = amount × ppm / 10⁶`` rounded half up, symmetric around zero (a refund's
or void's fee is the negative of the same sale's); a debit card's fee is capped
at ``debit_cap_fen`` either way; a D0 merchant adds ``d0_surcharge_ppm`` computed
and rounded the same way, outside the cap. Sales count positive, voids and
refunds negative.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from poslab.common.money import ppm_of


@dataclass(frozen=True, slots=True)
class Fees:
    """The fee schedule and each merchant's fee class, as world.json states them."""

    credit_ppm: int
    debit_ppm: int
    debit_cap_fen: int
    qr_ppm: int
    d0_surcharge_ppm: int
    d0_merchants: frozenset[str]

    def fee(self, signed_amount: int, kind: str, mid: str) -> int | None:
        """The fee on one row; None for a card kind the schedule does not know."""
        if kind == "credit":
            fee = ppm_of(signed_amount, self.credit_ppm)
        elif kind == "debit":
            fee = ppm_of(signed_amount, self.debit_ppm)
            fee = max(-self.debit_cap_fen, min(self.debit_cap_fen, fee))
        elif kind == "qr":
            fee = ppm_of(signed_amount, self.qr_ppm)
        else:
            return None
        if mid in self.d0_merchants:
            fee += ppm_of(signed_amount, self.d0_surcharge_ppm)
        return fee


_FIELDS = ("credit_ppm", "debit_ppm", "debit_cap_fen", "qr_ppm", "d0_surcharge_ppm")


def _d0_merchants(world: dict[str, Any]) -> frozenset[str]:
    table = world.get("merchants")
    if not isinstance(table, dict):
        return frozenset()
    columns, rows = table.get("columns"), table.get("rows")
    if not isinstance(columns, list) or not isinstance(rows, list):
        return frozenset()
    if "mid" not in columns or "fee_class" not in columns:
        return frozenset()
    i_mid, i_cls = columns.index("mid"), columns.index("fee_class")
    return frozenset(
        str(r[i_mid]) for r in rows if isinstance(r, list) and len(r) > i_cls and r[i_cls] == "d0"
    )


def load_fees(run_dir: Path) -> tuple[Fees | None, str]:
    """The schedule from ``world.json``, or None and the reason it is not available."""
    path = run_dir / "world.json"
    try:
        world = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, "no world.json in the run directory"
    except (OSError, ValueError) as exc:
        return None, f"world.json unreadable: {exc}"
    if not isinstance(world, dict) or not isinstance(world.get("fees"), dict):
        return None, "world.json has no fee schedule ('fees')"
    raw = world["fees"]
    values: dict[str, int] = {}
    for name in _FIELDS:
        value = raw.get(name)
        if type(value) is not int or value < 0:
            return None, f"world.json fees.{name} must be a non-negative integer, got {value!r}"
        values[name] = value
    return Fees(d0_merchants=_d0_merchants(world), **values), ""
