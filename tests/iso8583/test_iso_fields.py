"""Typed sub-fields: 4, 48 (totals and batch detail), 60, 61."""

from __future__ import annotations

import pytest

from poslab.iso8583 import (
    BatchDetail,
    CardTotals,
    DecodeError,
    EncodeError,
    Field60,
    FieldError,
    OriginalRef,
    ReconciliationCode,
    SettlementTotals,
    format_amount,
    format_batch_details,
    parse_amount,
    parse_batch_details,
)


def test_amount_is_integer_fen_in_n12() -> None:
    assert format_amount(1234) == "000000001234"
    assert parse_amount("000000001234") == 1234
    with pytest.raises(EncodeError):
        format_amount(-1)
    with pytest.raises(EncodeError):
        format_amount(10**12)
    with pytest.raises(FieldError):
        parse_amount("12.34")


def test_field60_round_trip_with_and_without_extra_digits() -> None:
    assert Field60("22", "000123", "000").format() == "22000123000"
    assert Field60.parse("22000123000") == Field60("22", "000123", "000")
    tail = Field60.parse("2200012300005")
    assert tail == Field60("22", "000123", "000", extra="05")
    assert tail.format() == "2200012300005"


def test_field60_errors() -> None:
    with pytest.raises(FieldError):
        Field60.parse("2200012300")
    with pytest.raises(FieldError):
        Field60.parse("22000123A00")
    assert issubclass(FieldError, DecodeError)
    with pytest.raises(EncodeError, match="batch"):
        Field60("22", "123", "000").format()
    with pytest.raises(EncodeError):
        Field60("22", "000123", "000", extra="x").format()


def test_original_ref_full_and_void_forms() -> None:
    full = OriginalRef("000001", "000123", "0405")
    assert full.format() == "0000010001230405"
    assert OriginalRef.parse("0000010001230405") == full
    short = OriginalRef.parse("000001000123")
    assert short == OriginalRef("000001", "000123") and short.format() == "000001000123"
    assert OriginalRef.parse("000001000123040599").extra == "99"
    with pytest.raises(FieldError, match="truncated"):
        OriginalRef.parse("00000100012304")
    with pytest.raises(EncodeError):
        OriginalRef("000001", "000123", extra="1").format()


def test_settlement_totals_layout_domestic_then_foreign() -> None:
    totals = SettlementTotals(
        domestic=CardTotals(123456, 7, 500, 1),
        foreign=CardTotals(99, 1, 0, 0, ReconciliationCode.BALANCED),
    )
    text = totals.format()
    assert text == ("00000012345600700000000050000100000000000990010000000000000001")
    assert SettlementTotals.parse(text) == totals


def test_settlement_totals_domestic_only_and_errors() -> None:
    domestic = CardTotals(1, 1, 0, 0).format()
    assert SettlementTotals.parse(domestic) == SettlementTotals(CardTotals(1, 1, 0, 0))
    with pytest.raises(FieldError):
        SettlementTotals.parse(domestic + "1")
    with pytest.raises(EncodeError, match="debit count"):
        CardTotals(debit_count=1000).format()


def test_reconciliation_answer() -> None:
    sent = SettlementTotals(CardTotals(100, 1))
    balanced = SettlementTotals(sent.domestic.with_reconciliation(ReconciliationCode.BALANCED))
    assert balanced.balanced and not sent.balanced
    mismatch = SettlementTotals(sent.domestic.with_reconciliation(2))
    assert not mismatch.balanced


def test_batch_details_round_trip_and_limits() -> None:
    details = [BatchDetail("00", f"{i:06d}", "6222021234567890123", 100 * i) for i in range(1, 9)]
    text = format_batch_details(details)
    assert len(text) == 2 + 8 * 40 and text.startswith("08")
    assert text[2:42] == "0000000106222021234567890123000000000100"
    assert parse_batch_details(text) == details
    with pytest.raises(EncodeError):
        format_batch_details([*details, details[0]])
    with pytest.raises(EncodeError):
        format_batch_details([])
    with pytest.raises(EncodeError, match="PAN"):
        BatchDetail("00", "000001", "0622", 1).format()


def test_batch_details_parse_errors() -> None:
    text = format_batch_details([BatchDetail("00", "000001", "6222021234567890", 1)])
    assert parse_batch_details(text)[0].pan == "6222021234567890"
    with pytest.raises(FieldError, match="announces"):
        parse_batch_details("02" + text[2:])
    with pytest.raises(FieldError):
        parse_batch_details(text[:-1])
    with pytest.raises(FieldError, match="PAN too short"):
        parse_batch_details("01" + "00000001" + "0" * 20 + "000000000001")
