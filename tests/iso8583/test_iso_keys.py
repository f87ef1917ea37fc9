"""Key generation, field 62 key blocks, check values and PIN blocks."""

from __future__ import annotations

import random

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from poslab.iso8583 import (
    LAYOUT_001,
    LAYOUT_003,
    LAYOUT_004,
    Key,
    KeyBlockError,
    KeyLayout,
    KeyMode,
    KeySlot,
    PinBlockError,
    WorkingKeys,
    build_field62,
    check_value,
    decrypt_pin_block,
    decrypt_under_tmk,
    encrypt_pin_block,
    encrypt_under_tmk,
    generate_key,
    generate_tmk,
    generate_working_keys,
    parse_field62,
)

TMK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")


def ecb(key: bytes, data: bytes, *, decrypt: bool = False) -> bytes:
    full = {8: key * 3, 16: key + key[:8]}[len(key)]
    cipher = Cipher(TripleDES(full), modes.ECB())
    ctx = cipher.decryptor() if decrypt else cipher.encryptor()
    return ctx.update(data) + ctx.finalize()


def odd_parity(key: bytes) -> bool:
    return all(bin(b).count("1") % 2 == 1 for b in key)


def test_generation_is_reproducible_from_a_seed_and_has_odd_parity() -> None:
    first = generate_tmk(random.Random(7))
    assert first == generate_tmk(random.Random(7))
    assert first != generate_tmk(random.Random(8))
    assert len(first) == 16 and odd_parity(first)
    assert first[:8] != first[8:]
    assert len(generate_tmk(length=8)) == 8


class HalvesEqualFirst:
    """A byte source that first offers a degenerate K1 == K2 key."""

    def __init__(self) -> None:
        self.calls = 0

    def randbytes(self, n: int, /) -> bytes:
        self.calls += 1
        return bytes(n) if self.calls == 1 else bytes(range(n))


def test_double_length_keys_never_have_equal_halves() -> None:
    source = HalvesEqualFirst()
    key = generate_key(16, source)
    assert source.calls == 2
    assert key[:8] != key[8:]
    with pytest.raises(KeyBlockError):
        generate_key(12)


@pytest.mark.parametrize(
    ("mode", "key_len", "layout", "length"),
    [("001", 8, LAYOUT_001, 24), ("003", 16, LAYOUT_003, 40), ("004", 16, LAYOUT_004, 60)],
)
def test_field62_round_trip_per_mode(
    mode: KeyMode, key_len: int, layout: KeyLayout, length: int
) -> None:
    keys = generate_working_keys(mode, random.Random(mode))
    assert len(keys.pik) == len(keys.mak) == key_len
    assert (keys.tdk is not None) == (mode == "004")
    assert KeyLayout.for_mode(mode) is layout
    block = build_field62(keys, TMK, layout)
    assert len(block) == layout.length == length
    assert parse_field62(block, TMK, layout) == keys


def test_field62_layout_003_bytes_are_derived_from_raw_des() -> None:
    keys = WorkingKeys(pik=bytes(range(16)), mak=bytes(range(16, 32)))
    block = build_field62(keys, TMK, LAYOUT_003)
    assert block[0:16] == ecb(TMK, keys.pik)
    assert block[16:20] == ecb(keys.pik, bytes(8))[:4]
    assert block[20:36] == ecb(TMK, keys.mak)
    assert block[36:40] == ecb(keys.mak, bytes(8))[:4]


def test_field62_rejects_bad_check_value_wrong_tmk_and_short_block() -> None:
    keys = generate_working_keys("003", random.Random(1))
    block = bytearray(build_field62(keys, TMK, LAYOUT_003))
    with pytest.raises(KeyBlockError, match=r"needs 40"):
        parse_field62(bytes(block[:39]), TMK)
    with pytest.raises(KeyBlockError, match="check value"):
        parse_field62(bytes(block), bytes.fromhex("1123456789ABCDEFFEDCBA9876543210"))
    block[38] ^= 0xFF
    with pytest.raises(KeyBlockError, match="MAK check value mismatch"):
        parse_field62(bytes(block), TMK)


def test_field62_custom_layout_mak_left_half_in_a_wide_slot() -> None:
    # An acquirer that sends PIK 16 + CV + MAK 8 + 8 zero bytes + CV.
    layout = KeyLayout(pik=KeySlot(0, 16, 16), mak=KeySlot(20, 8, 36))
    keys = WorkingKeys(pik=generate_key(16, random.Random(2)), mak=generate_key(8))
    block = build_field62(keys, TMK, layout)
    assert len(block) == 40 and block[28:36] == bytes(8)
    assert parse_field62(block, TMK, layout) == keys


def test_field62_build_refuses_keys_that_do_not_fit_the_layout() -> None:
    keys003 = generate_working_keys("003")
    with pytest.raises(KeyBlockError, match="slot holds 8"):
        build_field62(keys003, TMK, LAYOUT_001)
    with pytest.raises(KeyBlockError, match="needs a TDK"):
        build_field62(keys003, TMK, LAYOUT_004)
    with pytest.raises(KeyBlockError, match="no slot"):
        build_field62(generate_working_keys("004"), TMK, LAYOUT_003)


def test_tmk_wrapping_matches_raw_des() -> None:
    key = generate_key(16, random.Random(3))
    wrapped = encrypt_under_tmk(key, TMK)
    assert wrapped == ecb(TMK, key)
    assert decrypt_under_tmk(wrapped, TMK) == key
    with pytest.raises(KeyBlockError):
        encrypt_under_tmk(bytes(7), TMK)
    with pytest.raises(KeyBlockError):
        check_value(bytes(5))


def test_keys_never_show_in_repr_str_or_format() -> None:
    keys = generate_working_keys("004", random.Random(4))
    for key in (keys.pik, keys.mak, keys.tdk, generate_tmk()):
        assert isinstance(key, Key)
        for text in (repr(key), str(key), f"{key}", repr(keys)):
            assert key.hex() not in text.lower()
            assert key.hex().upper() not in text
    assert "kcv" in repr(keys.mak)
    assert isinstance(WorkingKeys(pik=bytes(8), mak=bytes(8)).pik, Key)


def test_pin_block_format_0_published_example() -> None:
    # ISO 9564 format 0: PIN 1234, PAN 43219876543210987 -> clear 0412AC89ABCDEF67.
    pan = "43219876543210987"
    block = encrypt_pin_block("1234", pan, TMK)
    assert ecb(TMK, block, decrypt=True).hex().upper() == "0412AC89ABCDEF67"
    assert decrypt_pin_block(block, pan, TMK) == "1234"


def test_pin_block_single_length_key_and_long_pin() -> None:
    pik = bytes.fromhex("0123456789ABCDEF")
    pan = "6222021234567890123"
    assert decrypt_pin_block(encrypt_pin_block("123456789012", pan, pik), pan, pik) == (
        "123456789012"
    )


def test_pin_block_errors() -> None:
    pan = "6222021234567890123"
    block = encrypt_pin_block("123456", pan, TMK)
    with pytest.raises(PinBlockError, match="format 0"):
        decrypt_pin_block(block, pan, bytes.fromhex("1123456789ABCDEFFEDCBA9876543210"))
    with pytest.raises(PinBlockError, match="format 0"):
        decrypt_pin_block(block, "6222021234567890199", TMK)
    with pytest.raises(PinBlockError, match="8 bytes"):
        decrypt_pin_block(block[:7], pan, TMK)
    with pytest.raises(PinBlockError, match="4 to 12"):
        encrypt_pin_block("123", pan, TMK)
    with pytest.raises(PinBlockError, match="4 to 12"):
        encrypt_pin_block("12a4", pan, TMK)
    with pytest.raises(PinBlockError, match="13 digits"):
        encrypt_pin_block("1234", "622202123456", TMK)
    with pytest.raises(PinBlockError, match="PIN key"):
        encrypt_pin_block("1234", pan, bytes(5))
