"""Every transaction type: build, sign, encode, decode, classify, reply."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from poslab.iso8583 import (
    TRANSACTIONS,
    BatchDetail,
    Card,
    CardTotals,
    EncodeError,
    Field60,
    FieldError,
    IsoMessage,
    MacAlgorithm,
    OriginalRef,
    SettlementTotals,
    TerminalIdentity,
    TransactionType,
    balance_request,
    batch_upload_request,
    classify,
    decode,
    echo_request,
    encode,
    encrypt_pin_block,
    generate_working_keys,
    is_reply_to,
    refund_request,
    reply_to,
    reversal_request,
    sale_request,
    settlement_request,
    sign,
    sign_off_request,
    sign_on_request,
    verify,
    void_request,
)

TERMINAL = TerminalIdentity("10000001", "898310048990001", software_version="310101")
PAN = "6222021234567890123"
CARD = Card(pan=PAN, expiry="2812", track2=PAN + "D2812101")
KEYS = generate_working_keys("003", random.Random(5))
PIN = encrypt_pin_block("123456", PAN, KEYS.pik)
ORIGINAL = OriginalRef("000001", "000010", "0405")

BUILDERS: dict[TransactionType, Callable[[], IsoMessage]] = {
    TransactionType.SIGN_ON: lambda: sign_on_request(TERMINAL, "000001", "000001"),
    TransactionType.SIGN_OFF: lambda: sign_off_request(TERMINAL, "000002", "000001"),
    TransactionType.ECHO: lambda: echo_request(TERMINAL, "000003", "000001"),
    TransactionType.BALANCE: lambda: balance_request(TERMINAL, "000004", "000001", CARD, PIN),
    TransactionType.SALE: lambda: sale_request(TERMINAL, "000010", "000001", 12345, CARD, PIN),
    TransactionType.VOID: lambda: void_request(
        TERMINAL, "000011", "000001", 12345, CARD, "000000000042", ORIGINAL, auth_code="123456"
    ),
    TransactionType.REFUND: lambda: refund_request(
        TERMINAL, "000012", "000001", 500, CARD, "000000000042", ORIGINAL
    ),
    TransactionType.REVERSAL: lambda: reversal_request(
        sale_request(TERMINAL, "000010", "000001", 12345, CARD, PIN), "98"
    ),
    TransactionType.SETTLEMENT: lambda: settlement_request(
        TERMINAL, "000013", "000001", SettlementTotals(CardTotals(12345, 1, 500, 1))
    ),
    TransactionType.BATCH_UPLOAD: lambda: batch_upload_request(
        TERMINAL, "000014", "000001", [BatchDetail("00", "000010", PAN, 12345)]
    ),
}


def test_every_transaction_type_has_a_builder() -> None:
    assert set(BUILDERS) == set(TransactionType)


@pytest.mark.parametrize("kind", list(TransactionType), ids=lambda k: k.name)
@pytest.mark.parametrize("algorithm", [MacAlgorithm.CUP_ECB, MacAlgorithm.X9_19])
def test_round_trip_of_every_message_type(kind: TransactionType, algorithm: MacAlgorithm) -> None:
    request = sign(BUILDERS[kind](), KEYS.mak, algorithm)
    payload = encode(request)
    decoded = decode(payload)
    assert decoded == request
    assert verify(payload, KEYS.mak, algorithm)
    assert classify(decoded) is kind
    info = TRANSACTIONS[kind]
    assert decoded.mti == info.request_mti
    reply = sign(reply_to(decoded, fields={39: "00"}), KEYS.mak, algorithm)
    assert reply.mti == info.response_mti
    assert decode(encode(reply)) == reply
    assert is_reply_to(reply, decoded)
    assert classify(reply) is kind


@pytest.mark.parametrize("kind", list(TransactionType), ids=lambda k: k.name)
def test_table_values_reach_the_wire(kind: TransactionType) -> None:
    msg = BUILDERS[kind]()
    info = kind.info
    assert msg.fields[11] and msg.fields[41] == "10000001" and msg.fields[42] == "898310048990001"
    if info.processing_code is not None:
        assert msg.fields[3] == info.processing_code
    if info.msg_type is not None and kind is not TransactionType.SIGN_ON:
        field60 = Field60.parse(msg.require(60))
        assert (field60.msg_type, field60.net_mgmt) == (info.msg_type, info.net_mgmt)
        assert field60.batch == "000001"
    assert msg.header.software_version == "310101"
    assert msg.tpdu.destination == "0003"


def test_sign_on_carries_key_mode_and_operator() -> None:
    msg = sign_on_request(TERMINAL, "000001", "000007", key_mode="004")
    assert msg.fields[60] == "00000007004"
    assert msg.fields[63] == "001"
    assert set(msg.fields) == {11, 41, 42, 60, 63}


def test_sale_card_fields() -> None:
    msg = BUILDERS[TransactionType.SALE]()
    assert msg.fields[4] == "000000012345"
    assert msg.fields[22] == "021"  # swipe, PIN entered
    assert msg.fields[26] == "12" and msg.fields[52] == PIN
    assert msg.fields[49] == "156"
    no_pin = sale_request(TERMINAL, "000020", "000001", 100, Card(pan=PAN))
    assert no_pin.fields[22] == "012"
    assert 52 not in no_pin.fields and 35 not in no_pin.fields
    chip = sale_request(TERMINAL, "000021", "000001", 100, Card(pan=PAN, icc_data=b"\x9f\x26"))
    assert chip.fields[22] == "052" and chip.fields[55] == b"\x9f\x26"


def test_void_and_refund_reference_the_original() -> None:
    void = BUILDERS[TransactionType.VOID]()
    assert void.fields[37] == "000000000042" and void.fields[38] == "123456"
    assert OriginalRef.parse(void.require(61)) == ORIGINAL
    refund = BUILDERS[TransactionType.REFUND]()
    assert refund.mti == "0220" and refund.fields[61] == "0000010000100405"


def test_reversal_reuses_the_original_trace_and_drops_sensitive_data() -> None:
    original = sale_request(TERMINAL, "000010", "000001", 12345, CARD, PIN)
    reversal = reversal_request(sign(original, KEYS.mak), "A0")
    assert reversal.mti == "0400"
    for number in (2, 3, 4, 11, 41, 42, 60):
        assert reversal.fields[number] == original.fields[number]
    assert reversal.fields[39] == "A0"
    for number in (35, 52, 53, 26, 64):
        assert number not in reversal.fields
    track_only = IsoMessage("0200", {3: "000000", 11: "000001", 35: PAN + "D2812"})
    assert reversal_request(track_only, "98").fields[2] == PAN
    with pytest.raises(EncodeError):
        reversal_request(original, "098")


def test_batch_upload_detail_and_closing_messages() -> None:
    closing = batch_upload_request(TERMINAL, "000015", "000001", [], final=True)
    assert closing.fields[60] == "00000001202" and 48 not in closing.fields
    balanced = batch_upload_request(
        TERMINAL, "000016", "000001", [], final=True, after_mismatch=False
    )
    assert balanced.fields[60] == "00000001207"
    with pytest.raises(EncodeError):
        batch_upload_request(TERMINAL, "000017", "000001", [])


def test_settlement_totals_and_currency() -> None:
    msg = BUILDERS[TransactionType.SETTLEMENT]()
    assert SettlementTotals.parse(msg.require(48)).domestic.debit_amount == 12345
    assert msg.fields[49] == "156" and msg.fields[60] == "00000001201"


@pytest.mark.parametrize(
    "msg",
    [
        IsoMessage("0200", {3: "990000"}),
        IsoMessage("0200", {}),
        IsoMessage("0820", {60: "00000001999"}),
        IsoMessage("0820", {}),
        IsoMessage("0600", {}),
        IsoMessage("02X0", {}),
    ],
)
def test_classify_rejects_what_is_not_in_the_table(msg: IsoMessage) -> None:
    with pytest.raises(FieldError):
        classify(msg)


def test_classify_repeats_and_replies() -> None:
    assert classify(IsoMessage("0401", {})) is TransactionType.REVERSAL
    assert classify(IsoMessage("0410", {})) is TransactionType.REVERSAL
    assert classify(IsoMessage("0810", {})) is TransactionType.SIGN_ON


def test_identity_and_card_validation_and_masking() -> None:
    with pytest.raises(EncodeError):
        TerminalIdentity("123", "898310048990001")
    with pytest.raises(EncodeError):
        TerminalIdentity("10000001", "8983100")
    assert PAN not in repr(CARD)
