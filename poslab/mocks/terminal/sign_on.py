"""Sign-on (签到): what the terminal takes from the host's 0810.

The 0810 carries the working keys in field 62, each encrypted under the
terminal master key with its check value; the batch number in 60.2, which the
terminal adopts; and the host's date and time in 12/13, which set the
terminal's clock. Keys whose check value does not verify are rejected as a
whole — the terminal keeps no half-new key set and must sign on again.
"""

from __future__ import annotations

import dataclasses
import time

from poslab.iso8583 import (
    Field60,
    FieldError,
    IsoMessage,
    KeyBlockError,
    KeyLayout,
    KeyMode,
    WorkingKeys,
    is_success,
    parse_field62,
)

from .errors import SignOnFailed

__all__ = ["Session", "accept_sign_on"]


@dataclasses.dataclass(frozen=True, slots=True)
class Session:
    keys: WorkingKeys
    batch: str
    signed_on_at: float  # monotonic
    host_date: str  # MMDD of the host at sign-on (F13), local date if absent


def accept_sign_on(reply: IsoMessage, tmk: bytes, mode: KeyMode, layout: KeyLayout) -> Session:
    """The session from an 0810; :class:`SignOnFailed` when it is a refusal
    or its keys or batch cannot be used."""
    rc = reply.text(39) or ""
    if not is_success(rc):
        raise SignOnFailed(f"host refused sign-on with {rc or 'no response code'}", cause="rc")
    raw_keys = reply.binary(62)
    if raw_keys is None:
        raise SignOnFailed("0810 approved without working keys (field 62)", cause="bad_keys")
    try:
        keys = parse_field62(raw_keys, tmk, layout)
    except KeyBlockError as exc:
        raise SignOnFailed(f"working keys rejected: {exc}", cause="bad_keys") from None
    if mode == "004" and keys.tdk is None:
        raise SignOnFailed("mode 004 sign-on answered without a track key", cause="bad_keys")
    try:
        batch = Field60.parse(reply.require(60)).batch
    except FieldError as exc:
        raise SignOnFailed(
            f"0810 without a usable batch number: {exc}", cause="bad_reply"
        ) from None
    host_date = reply.text(13) or time.strftime("%m%d")
    return Session(keys=keys, batch=batch, signed_on_at=time.monotonic(), host_date=host_date)
