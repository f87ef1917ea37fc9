from __future__ import annotations

import random
import statistics

import pytest

from poslab.world import MCC_PROFILES, draw_amount


@pytest.mark.parametrize("mcc", sorted(MCC_PROFILES))
def test_amounts_are_integer_fen_within_profile(mcc: str) -> None:
    profile = MCC_PROFILES[mcc]
    rng = random.Random(mcc)
    draws = [draw_amount(mcc, rng) for _ in range(4000)]
    assert all(type(a) is int for a in draws)
    assert all(profile.min_fen <= a <= profile.max_fen for a in draws)
    inside = [a for a in draws if profile.min_fen < a < profile.max_fen]
    assert all(a % profile.step_fen == 0 for a in inside)
    # The median of a lognormal is its scale: within 10 % on 4,000 draws.
    assert statistics.median(draws) == pytest.approx(profile.median_fen, rel=0.10)


def test_ticket_sizes_are_ordered_like_real_shops() -> None:
    medians = {mcc: p.median_fen for mcc, p in MCC_PROFILES.items()}
    assert medians["5814"] < medians["5812"] < medians["7011"]  # fast food < restaurant < hotel
    assert 2_000 <= medians["5814"] <= 5_000  # a fast-food meal: 20–50 yuan


def test_same_rng_same_amounts() -> None:
    a = [draw_amount("5411", random.Random(9)) for _ in range(3)]
    b = [draw_amount("5411", random.Random(9)) for _ in range(3)]
    assert a == b


def test_unknown_mcc_draws_like_miscellaneous_retail() -> None:
    assert draw_amount("0000", random.Random(1)) == draw_amount("5999", random.Random(1))
