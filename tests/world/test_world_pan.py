from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from poslab.world.pan import (
    BINS,
    UNKNOWN_BIN,
    luhn_check_digit,
    luhn_valid,
    make_pan,
    mask_pan,
    unknown_pan,
)


@pytest.mark.parametrize(
    "pan",
    ["4111111111111111", "5500005555555559", "6011000990139424", "79927398713", "6212345678901232"],
)
def test_known_valid_numbers(pan: str) -> None:
    # 79927398713 is the textbook example but only 11 digits: too short for a PAN.
    assert luhn_valid(pan) is (len(pan) >= 12)


@pytest.mark.parametrize(
    "pan",
    [
        "4111111111111112",
        "6212345678901231",
        "",
        "62123456789012a2",
        "６２１２３４５６７８９０１２３２",
    ],
)
def test_invalid_numbers(pan: str) -> None:
    assert not luhn_valid(pan)


def test_check_digit_textbook() -> None:
    assert luhn_check_digit("7992739871") == "3"


@given(st.text(alphabet="0123456789", min_size=11, max_size=18))
def test_appending_the_check_digit_makes_a_valid_number(body: str) -> None:
    pan = body + luhn_check_digit(body)
    assert luhn_valid(pan)
    # Changing any one digit must break it (Luhn catches every single-digit error).
    for i in range(len(pan)):
        wrong = str((int(pan[i]) + 1) % 10)
        assert not luhn_valid(pan[:i] + wrong + pan[i + 1 :])


@pytest.mark.parametrize(
    ("pan", "masked"),
    [
        ("6222021234567890", "622202******7890"),
        ("6222021234567890123", "622202*********0123"),
        ("6222021234567", "622202***4567"),
        ("622202123456", "********3456"),
        ("12345", "*2345"),
        ("1234", "****"),
        ("", ""),
    ],
)
def test_mask_pan(pan: str, masked: str) -> None:
    assert mask_pan(pan) == masked
    assert len(mask_pan(pan)) == len(pan)


def test_make_pan_respects_bin_and_length() -> None:
    rng = random.Random(1)
    for b in BINS:
        pan = make_pan(rng, b.prefix, b.length)
        assert pan.startswith(b.prefix) and len(pan) == b.length and luhn_valid(pan)
    with pytest.raises(ValueError):
        make_pan(rng, "622202", 6)


def test_unknown_pan_is_valid_but_never_issued(small_world) -> None:  # type: ignore[no-untyped-def]
    pan = unknown_pan(random.Random(3))
    assert pan.startswith(UNKNOWN_BIN) and luhn_valid(pan)
    assert small_world.card(pan) is None
    assert all(b.prefix != UNKNOWN_BIN for b in BINS)


def test_bins_are_unionpay_and_cover_both_kinds() -> None:
    assert all(b.prefix.startswith("62") and 16 <= b.length <= 19 for b in BINS)
    assert {b.kind for b in BINS} == {"credit", "debit"}
