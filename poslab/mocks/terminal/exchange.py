"""One request, one trusted reply: MAC, path choice, matching, verification.

What makes a reply usable is decided here, once, for every message type:

- it decodes (else :class:`BadReply`, reversal reason 06);
- it answers *this* request — reply MTI and the same F3, F11, F41 — anything
  else on the connection is a late answer to an earlier request and is skipped
  (the host treats a repeated reversal idempotently, so nothing is lost);
- its MAC verifies under the current MAK. A reply without F64 is accepted
  only when it is not an approval (hosts cannot sign an A0 "your MAC failed"
  with a key they no longer share); an approval must be signed. A failure is
  :class:`BadReply` with ``bad_mac`` (reversal reason A0).

Connection failures before anything was sent are retried (resilient: up to
``connect_tries``, with the path switching after ``failover_after`` of them);
once the request has left, there is no resend — the caller reverses.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from poslab.iso8583 import (
    DecodeError,
    IsoMessage,
    MacAlgorithm,
    decode,
    encode,
    is_reply_to,
    is_success,
    sign_encoded,
    verify,
)

from .backoff import Backoff
from .errors import BadReply, LinkError
from .host_paths import HostPaths, PathName
from .link import Channel

__all__ = ["Exchanger", "Reply", "encode_request"]

_MAC_PLACEHOLDER = bytes(8)


@dataclasses.dataclass(frozen=True, slots=True)
class Reply:
    msg: IsoMessage
    path: PathName
    size: int  # payload bytes, for Locust's response_length

    @property
    def rc(self) -> str:
        return self.msg.text(39) or ""


def encode_request(msg: IsoMessage, mak: bytes | None, algorithm: MacAlgorithm) -> bytes:
    """The payload for ``msg``, signed when ``mak`` is given (one encode: the
    MAC is written into the placeholder of the already encoded bytes)."""
    if mak is None:
        return encode(msg)
    fields = dict(msg.fields)
    fields[64] = _MAC_PLACEHOLDER
    # built directly: dataclasses.replace inspects the fields on every call (per sale)
    return sign_encoded(encode(IsoMessage(msg.mti, fields, msg.tpdu, msg.header)), mak, algorithm)


class Exchanger:
    """Sends requests over a :class:`Channel` along :class:`HostPaths`."""

    __slots__ = (
        "algorithm",
        "backoff",
        "channel",
        "connect_tries",
        "last_path",
        "on_sent",
        "paths",
        "response_timeout_s",
        "sleep",
    )

    def __init__(
        self,
        channel: Channel,
        paths: HostPaths,
        *,
        response_timeout_s: float,
        connect_tries: int,
        algorithm: MacAlgorithm,
        backoff: Backoff,
        sleep: Callable[[float], None],
    ) -> None:
        self.channel = channel
        self.paths = paths
        self.response_timeout_s = response_timeout_s
        self.connect_tries = connect_tries
        self.algorithm = algorithm
        self.backoff = backoff
        self.sleep = sleep
        # observers of "the request has left the terminal" (tests crash a
        # terminal exactly between send and reply with it)
        self.on_sent: list[Callable[[IsoMessage], None]] = []
        self.last_path = PathName.PRIMARY  # the path of the latest attempt

    def request(self, msg: IsoMessage, mak: bytes | None) -> Reply:
        payload = encode_request(msg, mak, self.algorithm)
        path = self._send(payload)
        for observer in self.on_sent:
            observer(msg)
        deadline = time.monotonic() + self.response_timeout_s
        while True:
            try:
                raw = self.channel.receive(deadline)
            except (LinkError, BadReply):
                self.paths.failed(path)
                raise
            try:
                reply = decode(raw)
            except DecodeError as exc:
                self.channel.close()
                raise BadReply(f"undecodable reply to {msg.mti}: {exc}") from None
            if not is_reply_to(reply, msg):
                continue  # a late answer to an earlier request on a kept connection
            self.paths.succeeded(path)
            if mak is not None:
                _check_mac(raw, reply, mak, self.algorithm)
            return Reply(reply, path, len(raw))

    def _send(self, payload: bytes) -> PathName:
        attempt = 0
        while True:
            attempt += 1
            path = self.paths.choose()
            self.last_path = path
            try:
                self.channel.send(self.paths.address(path), payload)
                return path
            except LinkError as exc:
                self.paths.failed(path)
                if exc.sent or attempt >= self.connect_tries:
                    raise
            self.sleep(self.backoff.delay(attempt))


def _check_mac(raw: bytes, reply: IsoMessage, mak: bytes, algorithm: MacAlgorithm) -> None:
    rc = reply.text(39) or ""
    if 64 not in reply.fields:
        if is_success(rc):
            raise BadReply(f"{reply.mti} approval {rc} carries no MAC", bad_mac=True)
        return
    if not verify(raw, mak, algorithm):
        raise BadReply(f"{reply.mti} reply MAC does not verify (rc {rc})", bad_mac=True)
