"""Fees in parts per million of an amount in fen, rounded as the acquirer books them.

One rule for the world's fee schedule (what the acquirer charges) and for scoring's
independent reckoning of the payouts, so the two cannot drift apart by a fen.
"""

from __future__ import annotations

__all__ = ["ppm_of"]

_MILLION = 1_000_000


def ppm_of(amount_fen: int, ppm: int) -> int:
    """``amount_fen × ppm / 10⁶`` rounded half up, symmetric around zero."""
    if amount_fen < 0:
        return -ppm_of(-amount_fen, ppm)
    whole, rest = divmod(amount_fen * ppm, _MILLION)
    return whole + (1 if 2 * rest >= _MILLION else 0)
