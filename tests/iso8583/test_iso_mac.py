"""MAC known-answer tests. Expected values are derived here, independently of
poslab.iso8583: step by step from raw DES (``cryptography``), and cross-checked
against the ``openssl`` command line where it offers DES."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from functools import reduce

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from poslab.iso8583 import (
    EncodeError,
    Header,
    IsoMessage,
    MacAlgorithm,
    MacError,
    check_value,
    compute_mac,
    decode,
    des,
    encode,
    mac_block,
    sign,
    sign_encoded,
    verify,
)

KEY8 = bytes.fromhex("0123456789ABCDEF")
KEY16 = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
MSG = bytes.fromhex("0200702406C020C09A11") + b"payload that is not a multiple of 8"


def des_block(key8: bytes, block: bytes, *, decrypt: bool = False) -> bytes:
    cipher = Cipher(TripleDES(key8 * 3), modes.ECB())
    ctx = cipher.decryptor() if decrypt else cipher.encryptor()
    out: bytes = ctx.update(block) + ctx.finalize()
    return out


def tdes_block(key16: bytes, block: bytes) -> bytes:
    # EDE by hand: encrypt K1, decrypt K2, encrypt K1.
    k1, k2 = key16[:8], key16[8:]
    return des_block(k1, des_block(k2, des_block(k1, block), decrypt=True))


def xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def blocks(data: bytes) -> list[bytes]:
    padded = data + b"\x00" * (-len(data) % 8)
    return [padded[i : i + 8] for i in range(0, len(padded), 8)] or [bytes(8)]


def cup_ecb_reference(data: bytes, enc: Callable[[bytes], bytes]) -> bytes:
    folded = reduce(xor, blocks(data)).hex().upper().encode()
    step = enc(folded[:8])
    step = enc(xor(step, folded[8:]))
    return step.hex().upper()[:8].encode()


def x9_19_reference(data: bytes, key16: bytes) -> bytes:
    k1, k2 = key16[:8], key16[8:]
    state = bytes(8)
    for block in blocks(data):
        state = des_block(k1, xor(state, block))
    return des_block(k1, des_block(k2, state, decrypt=True))


def test_des_published_vector() -> None:
    # FIPS 81 / the classic "Now is the time for all " ECB vector.
    assert des.encrypt_ecb(KEY8, b"Now is the time for all ").hex().upper() == (
        "3FA40E8A984D48156A271787AB8883F9893D51EC4B563B53"
    )


def test_check_value_published_vector() -> None:
    # The KCV widely quoted for the test key 0123456789ABCDEF FEDCBA9876543210.
    assert check_value(KEY16).hex().upper() == "08D7B4FB"
    assert check_value(KEY8) == des_block(KEY8, bytes(8))[:4]


def test_cup_ecb_single_des_step_by_step() -> None:
    expected = cup_ecb_reference(MSG, lambda b: des_block(KEY8, b))
    assert compute_mac(MSG, KEY8, MacAlgorithm.CUP_ECB) == expected
    assert len(expected) == 8 and expected.isalnum() and expected.upper() == expected


def test_cup_ecb_double_length_step_by_step() -> None:
    expected = cup_ecb_reference(MSG, lambda b: tdes_block(KEY16, b))
    assert compute_mac(MSG, KEY16, MacAlgorithm.CUP_ECB) == expected
    assert expected != compute_mac(MSG, KEY16[:8], MacAlgorithm.CUP_ECB)


def test_cup_ecb_left_half_uses_single_des_on_the_left_key() -> None:
    assert compute_mac(MSG, KEY16, MacAlgorithm.CUP_ECB_LEFT_HALF) == compute_mac(
        MSG, KEY8, MacAlgorithm.CUP_ECB
    )


def test_cup_ecb_block_already_a_multiple_of_eight_gets_no_padding() -> None:
    data = bytes(range(16))
    expected = cup_ecb_reference(data, lambda b: des_block(KEY8, b))
    assert compute_mac(data, KEY8) == expected


def test_x9_19_step_by_step() -> None:
    assert compute_mac(MSG, KEY16, MacAlgorithm.X9_19) == x9_19_reference(MSG, KEY16)


def test_x9_19_with_equal_halves_is_plain_des_cbc_mac() -> None:
    # With K1 == K2 the final decrypt/encrypt cancel out: X9.19 becomes X9.9.
    key = KEY8 + KEY8
    state = bytes(8)
    for block in blocks(MSG):
        state = des_block(KEY8, xor(state, block))
    assert compute_mac(MSG, key, MacAlgorithm.X9_19) == state


def openssl(cipher: str, key: bytes, data: bytes, *extra: str) -> bytes:
    if shutil.which("openssl") is None:
        pytest.skip("no openssl command")
    cmd = ["openssl", "enc", cipher, "-K", key.hex(), "-nopad", "-provider", "legacy"]
    cmd += ["-provider", "default", *extra]
    result = subprocess.run(cmd, input=data, capture_output=True, timeout=10, check=False)
    if result.returncode != 0:
        pytest.skip(f"openssl lacks {cipher}: {result.stderr.decode(errors='replace')[:200]}")
    return result.stdout


def test_x9_19_against_openssl() -> None:
    padded = b"".join(blocks(MSG))
    cbc = openssl("-des-cbc", KEY16[:8], padded, "-iv", "0" * 16)[-8:]
    middle = openssl("-des-ecb", KEY16[8:], cbc, "-d")
    expected = openssl("-des-ecb", KEY16[:8], middle)
    assert compute_mac(MSG, KEY16, MacAlgorithm.X9_19) == expected


def test_cup_ecb_double_length_against_openssl() -> None:
    expected = cup_ecb_reference(MSG, lambda b: openssl("-des-ede-ecb", KEY16, b))
    assert compute_mac(MSG, KEY16, MacAlgorithm.CUP_ECB) == expected


def message() -> IsoMessage:
    return IsoMessage(
        "0200",
        {3: "000000", 4: "000000010000", 11: "000001", 41: "12345678", 42: "123456789012345"},
    )


@pytest.mark.parametrize("algorithm", list(MacAlgorithm))
def test_sign_then_verify(algorithm: MacAlgorithm) -> None:
    signed = sign(message(), KEY16, algorithm)
    payload = encode(signed)
    assert 64 not in message().fields
    assert verify(payload, KEY16, algorithm)
    assert verify(signed, KEY16, algorithm)
    assert verify(decode(payload), KEY16, algorithm)
    assert signed.fields[64] == compute_mac(mac_block(payload), KEY16, algorithm)
    assert not verify(payload, bytes.fromhex("1123456789ABCDEFFEDCBA9876543210"), algorithm)
    tampered = payload[:-12] + bytes([payload[-12] ^ 0x01]) + payload[-11:]
    assert not verify(tampered, KEY16, algorithm)


def test_mac_block_covers_mti_to_field_63_only() -> None:
    payload = encode(sign(message(), KEY8))
    block = mac_block(payload)
    assert block == payload[11:-8]
    assert block[:2] == b"\x02\x00"
    # TPDU/header are outside the MAC: a different header verifies the same.
    other = sign(message(), KEY8)
    other.header = Header(software_version="999999")
    assert encode(other)[11:] == payload[11:]


def test_sign_encoded_matches_sign() -> None:
    placeholder = message()
    placeholder.fields[64] = bytes(8)
    assert sign_encoded(encode(placeholder), KEY8) == encode(sign(message(), KEY8))


def test_verify_is_false_without_field_64() -> None:
    assert not verify(message(), KEY8)
    assert not verify(encode(message()), KEY8)
    assert not verify(b"short", KEY8)


def test_mac_errors() -> None:
    with pytest.raises(MacError, match="bit 64"):
        mac_block(encode(message()))
    with pytest.raises(MacError, match="too short"):
        mac_block(b"\x00" * 10)
    with pytest.raises(MacError, match="16-byte"):
        compute_mac(MSG, KEY8, MacAlgorithm.X9_19)
    with pytest.raises(MacError):
        compute_mac(MSG, bytes(24), MacAlgorithm.CUP_ECB)
    with pytest.raises(MacError):
        compute_mac(MSG, bytes(7), MacAlgorithm.CUP_ECB_LEFT_HALF)
    with pytest.raises(EncodeError):
        sign(IsoMessage("0200", {4: "x"}), KEY8)
