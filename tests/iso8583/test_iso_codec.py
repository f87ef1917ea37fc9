"""The codec: exact wire bytes, validation on both sides, replies."""

from __future__ import annotations

import pytest

from poslab.iso8583 import (
    DecodeError,
    EncodeError,
    FieldError,
    Header,
    IsoMessage,
    ProcessingRequirement,
    Tpdu,
    decode,
    encode,
    is_reply_to,
    mask_pan,
    reply_to,
    response_mti,
)

TPDU = Tpdu(destination="0003", source="0000")
HEADER = Header(software_version="310101")
PAN = "6222021234567890123"


def sign_on() -> IsoMessage:
    fields: dict[int, str | bytes] = {
        11: "000001",
        41: "12345678",
        42: "123456789012345",
        60: "00000001003",
        63: "001",
    }
    return IsoMessage("0800", fields, TPDU, HEADER)


def sale() -> IsoMessage:
    fields: dict[int, str | bytes] = {
        2: PAN,
        3: "000000",
        4: "000000001234",
        11: "000123",
        14: "2812",
        22: "021",
        23: "001",
        25: "00",
        35: PAN + "D28121011234",
        41: "12345678",
        42: "123456789012345",
        49: "156",
        52: bytes.fromhex("0123456789abcdef"),
        55: bytes.fromhex("9f2608aabbccddeeff0011"),
        60: "22000001000",
        64: b"ABCD1234",
    }
    return IsoMessage("0200", fields, TPDU, HEADER)


def test_sign_on_encodes_to_hand_assembled_bytes() -> None:
    expected = bytes.fromhex(
        "6000030000"  # TPDU
        "603100310101"  # header: app 60, spec 31, nibbles 00, software 310101
        "0800"  # MTI BCD
        "0020000000C00012"  # bitmap: 11, 41, 42, 60, 63
        "000001"  # 11 BCD
        "3132333435363738"  # 41 ASCII
        "313233343536373839303132333435"  # 42 ASCII
        "0011"
        "000000010030"  # 60: LLL BCD in digits, right-padded
        "0003"
        "303031"  # 63: LLL BCD in bytes, ASCII
    )
    assert encode(sign_on()) == expected
    assert decode(expected) == sign_on()


def test_padding_rules_of_numeric_fields() -> None:
    payload = encode(sale())
    # 2: LLVAR length 19 digits, right-padded with 0.
    assert bytes.fromhex("19" + PAN + "0") in payload
    # 22 right-padded, 23 left-padded (both n3).
    assert bytes.fromhex("0210" + "0001") in payload
    # 35: 31 nibbles with D separator, right-padded.
    assert bytes.fromhex("31" + PAN + "D28121011234" + "0") in payload
    # 55: LLL BCD byte count, raw bytes; 64: 8 raw bytes at the very end.
    assert bytes.fromhex("00119f2608aabbccddeeff0011") in payload
    assert payload.endswith(b"ABCD1234")


def test_round_trip_keeps_types_and_values() -> None:
    decoded = decode(encode(sale()))
    assert decoded == sale()
    assert isinstance(decoded.fields[52], bytes)
    assert isinstance(decoded.fields[4], str)


def test_decode_accepts_bytearray_and_memoryview() -> None:
    payload = encode(sale())
    assert decode(bytearray(payload)) == sale()
    assert decode(memoryview(payload)) == sale()


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({4: 1234}, "must be str"),
        ({52: "0123456789ABCDEF"}, "must be bytes"),
        ({5: "000000000001"}, "not in the CUP spec"),
        ({4: "00000000123A"}, "decimal digits"),
        ({4: "١٢٣٤٥٦٧٨٩٠١٢"}, "decimal digits"),
        ({4: "1234"}, "expecting 12"),
        ({2: "1" * 20}, "larger than maximum"),
        ({35: "6222d1234"}, "digits and 'D'"),
        ({41: "终端号码"}, "invalid data"),
        ({48: "123"}, "odd-length"),
    ],
)
def test_encode_rejects_bad_fields(fields: dict[int, object], match: str) -> None:
    msg = IsoMessage("0200", fields)  # type: ignore[arg-type]
    with pytest.raises(EncodeError, match=match):
        encode(msg)


def test_encode_rejects_bad_mti() -> None:
    with pytest.raises(EncodeError, match="MTI"):
        encode(IsoMessage("200", {}))


def mutate(payload: bytes, offset: int, value: bytes) -> bytes:
    return payload[:offset] + value + payload[offset + len(value) :]


def test_decode_rejections_name_the_problem() -> None:
    good = encode(sign_on())
    cases = {
        "shorter than": good[:15],
        "outside the CUP spec: \\[1\\]": mutate(good, 13, b"\x80"),
        "outside the CUP spec: \\[5\\]": mutate(good, 13, b"\x08"),
        "MTI": mutate(good, 11, b"\x08\x0a"),
        "Extra data": good + b"\x00",
        "non-decimal BCD": mutate(good, 21, b"\x00\x00\x0a"),
        "header": mutate(good, 5, b"\x6a"),
        "invalid BCD data": mutate(good, 21 + 3 + 8 + 15, b"\x00\x1a"),
    }
    for match, payload in cases.items():
        with pytest.raises(DecodeError, match=match):
            decode(payload)


def test_decode_rejects_a_non_zero_pad_nibble() -> None:
    payload = encode(IsoMessage("0200", {2: "622202123456789"}))
    bad = payload[:-1] + bytes([payload[-1] | 0x05])
    with pytest.raises(DecodeError):
        decode(bad)


def test_decode_rejects_non_ascii_text_and_wrong_types() -> None:
    payload = encode(IsoMessage("0800", {39: "00"}))
    with pytest.raises(DecodeError):
        decode(payload[:-2] + b"\xc0\x80")
    with pytest.raises(DecodeError):
        decode("not bytes")  # type: ignore[arg-type]


def test_response_mti() -> None:
    assert response_mti("0200") == "0210"
    assert response_mti("0800") == "0810"
    assert response_mti("0421") == "0430"
    with pytest.raises(EncodeError):
        response_mti("0210")


def test_reply_to_swaps_tpdu_echoes_and_overrides() -> None:
    request = sale()
    reply = reply_to(
        request,
        fields={39: "00", 37: "000000000001", 22: None},
        processing_requirement=ProcessingRequirement.SIGN_ON,
    )
    assert reply.mti == "0210"
    assert reply.tpdu == Tpdu(destination="0000", source="0003")
    assert reply.header.processing_requirement is ProcessingRequirement.SIGN_ON
    assert reply.header.software_version == "310101"
    for number in (2, 3, 4, 11, 41, 42, 49, 60):
        assert reply.fields[number] == request.fields[number]
    assert reply.fields[39] == "00"
    assert 22 not in reply.fields
    for number in (35, 52, 55, 64):
        assert number not in reply.fields
    assert is_reply_to(reply, request)
    assert decode(encode(reply)) == reply


def test_is_reply_to_rejects_mismatches() -> None:
    request = sale()
    reply = reply_to(request, fields={39: "00"})
    assert not is_reply_to(reply_to(request, fields={11: "000124"}), request)
    assert not is_reply_to(reply_to(request, mti="0230"), request)
    assert not is_reply_to(reply_to(request, fields={41: "87654321"}), request)
    assert not is_reply_to(request, reply)
    assert not is_reply_to(reply, IsoMessage("0210", {}))


def test_repr_masks_pan_track_and_binary_fields() -> None:
    text = repr(sale())
    assert PAN not in text
    assert "622202*********0123" in text
    assert "D28121011234" not in text
    assert "<8 bytes>" in text
    assert mask_pan("6222021234567890") == "622202******7890"
    assert mask_pan("12345") == "*****"


def test_typed_accessors() -> None:
    msg = sale()
    assert msg.text(4) == "000000001234"
    assert msg.text(39) is None
    assert msg.binary(52) == bytes.fromhex("0123456789abcdef")
    assert msg.require(11) == "000123"
    with pytest.raises(FieldError):
        msg.text(52)
    with pytest.raises(FieldError):
        msg.binary(4)
    with pytest.raises(FieldError, match="missing mandatory field 39"):
        msg.require(39)
    copy = msg.copy()
    copy.fields[39] = "00"
    assert 39 not in msg.fields
