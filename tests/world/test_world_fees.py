"""Fees must be exact to the fen; expected values are derived here with
Decimal and ROUND_HALF_UP, independently of the integer code under test."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from poslab.errors import ConfigError
from poslab.world import FeeSchedule


def _expected(amount: int, percent: str, cap_fen: int | None = None) -> int:
    exact = Decimal(abs(amount)) * Decimal(percent) / 100
    fee = int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if cap_fen is not None:
        fee = min(fee, cap_fen)
    return fee if amount >= 0 else -fee


FEES = FeeSchedule()


@pytest.mark.parametrize(
    ("amount", "kind", "fee"),
    [
        (10_000, "credit", 60),  # 100 yuan at 0.60 %
        (83, "credit", 0),  # 0.498 fen rounds down
        (84, "credit", 1),  # 0.504 fen rounds up
        (250, "debit", 1),  # 1.25 fen
        (300, "debit", 2),  # 1.5 fen: half rounds up
        (100, "debit", 1),  # 0.5 fen: half rounds up
        (99, "debit", 0),  # 0.495 fen
        (499_900, "debit", 2_500),  # 2,499.5 → 2,500 fen: exactly the cap
        (499_800, "debit", 2_499),
        (500_000, "debit", 2_500),  # 5,000 yuan: the cap
        (10_000_000, "debit", 2_500),  # 100,000 yuan: still the cap
        (10_000_000, "credit", 60_000),  # credit is not capped
        (10_000, "qr", 38),
        (13_158, "qr", 50),  # 49.9999… rounds up to 50
        (0, "credit", 0),
    ],
)
def test_fee_table(amount: int, kind: str, fee: int) -> None:
    assert FEES.fee_fen(amount, kind) == fee


def test_refunds_are_exactly_negative() -> None:
    for amount in (1, 100, 300, 499_900, 1_000_000):
        for kind in ("credit", "debit", "qr"):
            assert FEES.fee_fen(-amount, kind) == -FEES.fee_fen(amount, kind)


def test_d0_surcharge_is_rounded_on_its_own_and_uncapped() -> None:
    # debit 0.50 % capped at 2,500 fen, plus 0.05 % D0 rounded separately
    assert FEES.fee_fen(1_000_000, "debit", "d0") == 2_500 + 500
    assert FEES.fee_fen(100, "credit", "d0") == 1 + 0  # 0.6 → 1, 0.05 → 0
    assert FEES.fee_fen(1_000, "credit", "d0") == 6 + 1  # 0.5 fen rounds up


@given(st.integers(min_value=-(10**10), max_value=10**10))
def test_matches_decimal_half_up(amount: int) -> None:
    assert FEES.fee_fen(amount, "credit") == _expected(amount, "0.60")
    assert FEES.fee_fen(amount, "debit") == _expected(amount, "0.50", cap_fen=2_500)
    assert FEES.fee_fen(amount, "qr") == _expected(amount, "0.38")
    assert FEES.fee_fen(amount, "debit", "d0") == _expected(
        amount, "0.50", cap_fen=2_500
    ) + _expected(amount, "0.05")


def test_configurable_rates() -> None:
    fees = FeeSchedule(credit_ppm=5_500, debit_ppm=4_500, debit_cap_fen=2_000, qr_ppm=0)
    assert fees.fee_fen(100_000, "credit") == 550
    assert fees.fee_fen(1_000_000, "debit") == 2_000
    assert fees.fee_fen(1_000_000, "qr") == 0


def test_regulated_network_fee_is_exact_in_ppm() -> None:
    # 0.0325 % (the network's share) is 325 ppm: no float needed anywhere.
    fees = FeeSchedule(credit_ppm=325)
    assert fees.fee_fen(1_000_000, "credit") == 325


@pytest.mark.parametrize("amount", [10.0, "100", None])
def test_money_must_be_integer_fen(amount: object) -> None:
    with pytest.raises(TypeError):
        FEES.fee_fen(amount, "credit")  # type: ignore[arg-type]


def test_unknown_kind_or_class() -> None:
    with pytest.raises(ValueError, match="card kind"):
        FEES.fee_fen(100, "amex")
    with pytest.raises(ValueError, match="fee class"):
        FEES.fee_fen(100, "credit", "vip")


@pytest.mark.parametrize("bad", [{"credit_ppm": -1}, {"debit_cap_fen": 25.0}, {"qr_ppm": "3800"}])
def test_bad_schedule(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        FeeSchedule(**bad)  # type: ignore[arg-type]


def test_round_trip_dict() -> None:
    fees = FeeSchedule(debit_cap_fen=2_000)
    assert FeeSchedule.from_dict(fees.to_dict()) == fees
    with pytest.raises(ConfigError, match="unknown fee"):
        FeeSchedule.from_dict({"credit_ppm": 1, "amex_ppm": 2})
