"""Length-prefix framing, TPDU and header."""

from __future__ import annotations

import pytest

from poslab.iso8583 import (
    DecodeError,
    EmptyFrame,
    EncodeError,
    Framer,
    FrameTooLarge,
    FramingError,
    Header,
    ProcessingRequirement,
    Tpdu,
    frame,
)

PAYLOADS = [b"\x60\x00\x03\x00\x00first", b"x", bytes(range(256)) * 3]


def test_frame_prefixes_big_endian_length() -> None:
    assert frame(b"abc") == b"\x00\x03abc"
    assert frame(bytes(300))[:2] == b"\x01\x2c"


def test_frame_refuses_empty_and_unframeable_payloads() -> None:
    with pytest.raises(EmptyFrame):
        frame(b"")
    with pytest.raises(FrameTooLarge):
        frame(bytes(0x10000))


def test_byte_at_a_time_input_yields_each_payload_once() -> None:
    stream = b"".join(frame(p) for p in PAYLOADS)
    framer = Framer()
    seen: list[bytes] = []
    for i in range(len(stream)):
        seen.extend(framer.feed(stream[i : i + 1]))
    assert seen == PAYLOADS
    assert framer.buffered == 0


def test_several_frames_in_one_read_and_a_partial_tail() -> None:
    stream = b"".join(frame(p) for p in PAYLOADS)
    framer = Framer()
    tail = frame(b"tail-payload")
    assert framer.feed(stream + tail[:5]) == PAYLOADS
    assert framer.buffered == 5
    assert framer.feed(tail[5:]) == [b"tail-payload"]
    assert framer.buffered == 0


def test_split_length_prefix_is_reassembled() -> None:
    framer = Framer()
    data = frame(b"hello")
    assert framer.feed(data[:1]) == []
    assert framer.buffered == 1
    assert framer.feed(data[1:]) == [b"hello"]


def test_zero_length_frame_raises_and_poisons_the_framer() -> None:
    framer = Framer()
    with pytest.raises(EmptyFrame, match="length 0"):
        framer.feed(frame(b"ok") + b"\x00\x00rest")
    with pytest.raises(EmptyFrame, match="close the connection"):
        framer.feed(frame(b"later"))


def test_frames_complete_before_a_bad_prefix_are_lost_with_the_connection() -> None:
    # The error is raised from the feed; the caller closes the connection.
    framer = Framer()
    with pytest.raises(FramingError):
        framer.feed(frame(b"ok") + b"\x00\x00")


def test_oversize_frame_raises_with_size_and_limit() -> None:
    framer = Framer(max_frame=100)
    assert framer.feed(frame(bytes(100))) == [bytes(100)]
    with pytest.raises(FrameTooLarge, match=r"101-byte frame, above the 100-byte limit"):
        framer.feed(b"\x00\x65")


def test_oversize_is_detected_from_the_prefix_alone() -> None:
    framer = Framer(max_frame=8192)
    with pytest.raises(FrameTooLarge):
        framer.feed(b"\xff\xff")


def test_framer_rejects_a_nonsense_limit() -> None:
    with pytest.raises(ValueError):
        Framer(max_frame=0)


def test_tpdu_round_trip_and_swap() -> None:
    tpdu = Tpdu(destination="0003", source="0102")
    assert tpdu.to_bytes() == bytes.fromhex("6000030102")
    assert Tpdu.from_bytes(bytes.fromhex("6000030102")) == tpdu
    assert tpdu.swapped() == Tpdu(destination="0102", source="0003")
    assert tpdu.swapped().swapped() == tpdu


def test_tpdu_validation() -> None:
    with pytest.raises(EncodeError):
        Tpdu(destination="003")
    with pytest.raises(EncodeError):
        Tpdu(source="00g0")
    with pytest.raises(DecodeError):
        Tpdu.from_bytes(b"\x60\x00")


def test_header_round_trip_packs_the_nibbles() -> None:
    header = Header(
        app_type="61",
        spec_version="32",
        terminal_status=1,
        processing_requirement=ProcessingRequirement.TMS_DOWNLOAD,
        software_version="310105",
    )
    raw = header.to_bytes()
    assert raw == bytes.fromhex("613216310105")
    assert Header.from_bytes(raw) == header
    assert Header.from_bytes(raw).processing_requirement is ProcessingRequirement.TMS_DOWNLOAD


def test_header_keeps_unknown_processing_requirement_as_int() -> None:
    header = Header.from_bytes(bytes.fromhex("60310c000001"))
    assert header.processing_requirement == 12
    assert not isinstance(header.processing_requirement, ProcessingRequirement)


def test_header_sign_on_requirement_and_replacement() -> None:
    header = Header().with_requirement(ProcessingRequirement.SIGN_ON)
    assert header.to_bytes()[2] == 0x03
    assert header.processing_requirement is ProcessingRequirement.SIGN_ON


def test_header_rejects_non_bcd_and_wide_nibbles() -> None:
    with pytest.raises(DecodeError, match="software version"):
        Header.from_bytes(bytes.fromhex("6031000a0000"))
    with pytest.raises(EncodeError):
        Header(terminal_status=16)
    with pytest.raises(EncodeError):
        Header(app_type="6")
