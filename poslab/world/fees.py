"""The merchant discount rate (MDR): what the acquirer keeps from each sale.

Rates are integers in parts per million of the amount (0.60 % = 6000 ppm), so
every figure quoted in Chinese merchant pricing — 0.38 %, 0.0325 % — is exact
and no float ever touches money.

Rounding rule (exact, to the fen): ``fee = amount × ppm / 1 000 000`` rounded
half up (half away from zero for negative amounts, so a refund's fee is exactly
the negative of the sale's). The debit cap applies to that rounded figure. A
D0 (same-day payout) merchant pays a surcharge computed and rounded the same
way on its own, on top of the capped fee: the cap limits the card rate, not the
price of early payout.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from poslab.common.money import ppm_of
from poslab.errors import ConfigError

__all__ = ["FEE_CLASSES", "FEE_KINDS", "FeeSchedule", "ppm_of"]

FEE_KINDS = ("credit", "debit", "qr")
# standard: paid T+1; d0: paid the same day for a surcharge.
FEE_CLASSES = ("standard", "d0")


@dataclass(frozen=True, slots=True)
class FeeSchedule:
    """Merchant fees by card kind. Defaults are the figures merchants are quoted:
    credit 0.60 %, debit 0.50 % capped at 25 yuan, QR 0.38 %, D0 +0.05 %."""

    credit_ppm: int = 6000
    debit_ppm: int = 5000
    debit_cap_fen: int = 2500
    qr_ppm: int = 3800
    d0_surcharge_ppm: int = 500

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if type(value) is not int or value < 0:
                raise ConfigError(f"fee {f.name} must be a non-negative integer, got {value!r}")

    def fee_fen(self, amount_fen: int, kind: str, fee_class: str = "standard") -> int:
        """The fee in fen on one transaction of ``amount_fen`` paid by a ``kind``
        card (``credit``/``debit``/``qr``) at a merchant of ``fee_class``."""
        if type(amount_fen) is not int:
            raise TypeError(f"amount must be integer fen, got {type(amount_fen).__name__}")
        if kind == "credit":
            fee = ppm_of(amount_fen, self.credit_ppm)
        elif kind == "debit":
            fee = ppm_of(amount_fen, self.debit_ppm)
            fee = max(-self.debit_cap_fen, min(self.debit_cap_fen, fee))
        elif kind == "qr":
            fee = ppm_of(amount_fen, self.qr_ppm)
        else:
            raise ValueError(f"unknown card kind {kind!r} (expected one of {FEE_KINDS})")
        if fee_class == "d0":
            fee += ppm_of(amount_fen, self.d0_surcharge_ppm)
        elif fee_class != "standard":
            raise ValueError(f"unknown fee class {fee_class!r} (expected one of {FEE_CLASSES})")
        return fee

    def to_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeeSchedule:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown fee setting(s): {', '.join(unknown)}")
        return cls(**data)
