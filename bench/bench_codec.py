"""Codec, MAC and key-block costs of poslab.iso8583, per message.

Prints µs per operation (best of several repeats, so a busy shared machine
inflates the figures less) and, measured in the same run, the speed-up of the
compiled codec (the default path of ``encode``/``decode``) over the pyiso8583
reference path (``encode_reference``/``decode_reference``, what
``--codec pyiso8583`` selects) and over bare pyiso8583 on the same spec and
message. Goal (issue 3): encode+decode of the 13-field sale >= 3x faster.

    .venv/bin/python bench/bench_codec.py
"""

from __future__ import annotations

import random
import sys
import time
import timeit
from collections.abc import Callable

import iso8583

from poslab.iso8583 import (
    CUP_SPEC,
    LAYOUT_003,
    Card,
    CodecPath,
    Framer,
    MacAlgorithm,
    TerminalIdentity,
    build_field62,
    codec_in_use,
    compute_mac,
    decode,
    decode_reference,
    encode,
    encode_reference,
    frame,
    generate_tmk,
    generate_working_keys,
    mac_block,
    parse_field62,
    sale_request,
    sign,
    verify,
)

REPEATS = 5
BUDGET_S = 0.4  # per repeat; keeps the whole script well under 60 s


def per_call_us(fn: Callable[[], object]) -> float:
    """Best-of-REPEATS µs per call, with the loop count sized to the budget."""
    number = 1
    while True:
        elapsed = timeit.timeit(fn, number=number)
        if elapsed > BUDGET_S / 10 or number >= 1 << 20:
            break
        number *= 4
    number = max(1, int(number * (BUDGET_S / max(elapsed, 1e-9)) / 10))
    best = min(timeit.repeat(fn, number=number, repeat=REPEATS))
    return best / number * 1e6


def main() -> int:
    started = time.monotonic()
    rng = random.Random(2024)
    terminal = TerminalIdentity("10000001", "898310048990001", software_version="310101")
    pan = "6222021234567890123"
    card = Card(pan=pan, expiry="2812", track2=pan + "D28121011234")
    keys = generate_working_keys("003", rng)
    tmk = generate_tmk(rng)
    sale = sign(sale_request(terminal, "000123", "000001", 12345, card), keys.mak)
    payload = encode(sale)
    assert decode(payload) == sale
    assert codec_in_use() is CodecPath.COMPILED
    assert encode_reference(sale) == payload and decode_reference(payload) == sale
    print(f"codec path of encode/decode: {codec_in_use().value}")
    print(f"sale: {len(sale.fields)} fields, {len(payload)} bytes on the wire")

    raw_doc = {
        "h": payload[:11].hex(),
        "t": sale.mti,
        **{str(n): v.hex() if isinstance(v, bytes) else v for n, v in sale.fields.items()},
    }

    def bare_round_trip() -> None:
        encoded, _ = iso8583.encode(dict(raw_doc), CUP_SPEC)
        iso8583.decode(encoded, CUP_SPEC)

    results: dict[str, float] = {}
    results["encode"] = per_call_us(lambda: encode(sale))
    results["decode"] = per_call_us(lambda: decode(payload))
    results["encode+decode"] = per_call_us(lambda: decode(encode(sale)))
    results["reference path (pyiso8583) encode"] = per_call_us(lambda: encode_reference(sale))
    results["reference path (pyiso8583) decode"] = per_call_us(lambda: decode_reference(payload))
    results["reference path encode+decode"] = per_call_us(
        lambda: decode_reference(encode_reference(sale))
    )
    results["bare pyiso8583 encode+decode"] = per_call_us(bare_round_trip)

    block = mac_block(payload)
    results["MAC CUP ECB, 8-byte MAK (DES)"] = per_call_us(
        lambda: compute_mac(block, keys.mak[:8], MacAlgorithm.CUP_ECB)
    )
    results["MAC CUP ECB, 16-byte MAK (3DES)"] = per_call_us(
        lambda: compute_mac(block, keys.mak, MacAlgorithm.CUP_ECB)
    )
    results["MAC X9.19, 16-byte MAK"] = per_call_us(
        lambda: compute_mac(block, keys.mak, MacAlgorithm.X9_19)
    )
    results["sign (encode + CUP ECB)"] = per_call_us(lambda: sign(sale, keys.mak))
    results["verify payload (CUP ECB)"] = per_call_us(lambda: verify(payload, keys.mak))

    def sign_on_keys() -> None:
        fresh = generate_working_keys("003", rng)
        parse_field62(build_field62(fresh, tmk, LAYOUT_003), tmk, LAYOUT_003)

    results["sign-on keys: generate + field 62 build + parse"] = per_call_us(sign_on_keys)
    block62 = build_field62(keys, tmk, LAYOUT_003)
    results["field 62 parse (003)"] = per_call_us(lambda: parse_field62(block62, tmk, LAYOUT_003))

    stream = frame(payload) * 64

    def framer_64() -> None:
        Framer().feed(stream)

    results["framer, per frame (64 per read)"] = per_call_us(framer_64) / 64

    width = max(len(name) for name in results)
    for name, value in results.items():
        print(f"{name:<{width}}  {value:8.1f} µs")
    speedup = results["reference path encode+decode"] / results["encode+decode"]
    ratio = results["encode+decode"] / results["bare pyiso8583 encode+decode"]
    host = sum(
        results[name] for name in ("decode", "verify payload (CUP ECB)", "sign (encode + CUP ECB)")
    )
    print(
        f"compiled codec speed-up over the pyiso8583 path (encode+decode): {speedup:.1f}x "
        "(goal >= 3x)"
    )
    print(f"poslab.iso8583 / bare pyiso8583 (encode+decode): {ratio:.2f}x")
    print(
        f"host CPU per sale (decode + verify + sign reply): {host:.0f} µs "
        f"-> ~{1e6 / host:,.0f} requests/s per core before sockets"
    )
    print(f"bench time {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
