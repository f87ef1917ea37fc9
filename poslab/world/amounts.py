"""What shops sell: merchant category codes and the sale amounts they see.

Each retail MCC carries a share of the merchant population and a lognormal
ticket-size profile (median and spread), the shape card-present ticket sizes
follow in practice. ``draw_amount`` turns one random draw into integer fen;
the float only lives inside the draw, the amount that leaves is an int.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

__all__ = ["MCC_PROFILES", "AmountProfile", "draw_amount", "mcc_weights"]


@dataclass(frozen=True, slots=True)
class AmountProfile:
    """Ticket sizes at one kind of shop."""

    mcc: str
    label: str
    merchant_weight: int  # relative share of merchants with this MCC
    median_fen: int
    sigma: float  # spread of ln(amount)
    step_fen: int  # prices end in whole yuan (100) or jiao (10) or fen (1)
    min_fen: int
    max_fen: int


# Medians from what receipts show in Chinese cities; weights put grocery and
# eating out first, as in any acquirer's book of small merchants.
MCC_PROFILES: dict[str, AmountProfile] = {
    p.mcc: p
    for p in (
        AmountProfile("5411", "grocery / supermarket", 22, 6_000, 0.9, 1, 100, 500_000),
        AmountProfile("5499", "convenience store", 12, 2_500, 0.7, 10, 100, 100_000),
        AmountProfile("5812", "restaurant", 15, 18_000, 0.7, 100, 1_000, 2_000_000),
        AmountProfile("5814", "fast food", 14, 3_500, 0.5, 10, 500, 50_000),
        AmountProfile("5912", "pharmacy", 8, 8_000, 0.8, 10, 500, 500_000),
        AmountProfile("5999", "miscellaneous retail", 10, 12_000, 1.0, 100, 500, 1_000_000),
        AmountProfile("5311", "department store", 5, 35_000, 0.9, 100, 1_000, 3_000_000),
        AmountProfile("5651", "clothing", 5, 30_000, 0.7, 100, 2_000, 2_000_000),
        AmountProfile("5541", "service station", 5, 25_000, 0.4, 1, 2_000, 200_000),
        AmountProfile("5732", "electronics", 2, 150_000, 0.9, 100, 5_000, 5_000_000),
        AmountProfile("7011", "hotel", 2, 60_000, 0.6, 100, 10_000, 5_000_000),
    )
}


def mcc_weights() -> tuple[list[str], list[int]]:
    """MCCs and their merchant weights, in a fixed order (for seeded choices)."""
    codes = sorted(MCC_PROFILES)
    return codes, [MCC_PROFILES[c].merchant_weight for c in codes]


def draw_amount(mcc: str, rng: random.Random) -> int:
    """One sale amount in fen at a shop of category ``mcc``.

    Unknown MCCs draw from the miscellaneous-retail profile rather than fail:
    a terminal should keep selling whatever its merchant record says.
    """
    profile = MCC_PROFILES.get(mcc) or MCC_PROFILES["5999"]
    raw = rng.lognormvariate(math.log(profile.median_fen), profile.sigma)
    step = profile.step_fen
    fen = int(raw / step + 0.5) * step
    return max(profile.min_fen, min(profile.max_fen, fen))
