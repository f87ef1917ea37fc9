"""A small blocking CUP terminal for tests (the real fleet lives in poslab/mocks/terminal).

It signs on, keeps its working keys, trace number and batch, MACs what the
acquirer MACs and checks the MAC of every reply that carries one.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any

from poslab.iso8583 import (
    BatchDetail,
    Card,
    CardTotals,
    Field60,
    Framer,
    IsoMessage,
    KeyLayout,
    KeyMode,
    MacAlgorithm,
    OriginalRef,
    SettlementTotals,
    TerminalIdentity,
    WorkingKeys,
    balance_request,
    batch_upload_request,
    decode,
    echo_request,
    encode,
    encrypt_pin_block,
    frame,
    parse_field62,
    refund_request,
    reversal_request,
    sale_request,
    settlement_request,
    sign,
    sign_off_request,
    sign_on_request,
    verify,
    void_request,
)
from poslab.world import Card as WorldCard
from poslab.world import Terminal

MAC_MTIS = frozenset({"0200", "0220", "0400", "0500", "0320"})


class ReplyMacError(AssertionError):
    pass


class TerminalClient:
    def __init__(
        self,
        port: int,
        terminal: Terminal,
        *,
        software: str | None = None,
        timeout: float = 10.0,
        mac_algorithm: MacAlgorithm = MacAlgorithm.CUP_ECB,
    ) -> None:
        self.mac_algorithm = mac_algorithm
        self.port = port
        self.terminal = terminal
        self.identity = TerminalIdentity(
            terminal.tid, terminal.mid, software_version=software or terminal.software_version
        )
        self.tmk = bytes.fromhex(terminal.tmk)
        self.keys: WorkingKeys | None = None
        self.batch = "000001"
        self.timeout = timeout
        self._stan = 0
        self._sock: socket.socket | None = None
        self._framer = Framer()
        self.last_request: IsoMessage | None = None

    # -- transport -------------------------------------------------------------

    def next_stan(self) -> str:
        self._stan = self._stan % 999_999 + 1
        return f"{self._stan:06d}"

    def connect(self) -> socket.socket:
        if self._sock is None:
            self._sock = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
            self._framer = Framer()
        return self._sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def send_raw(self, data: bytes) -> None:
        self.connect().sendall(data)

    def read_payload(self) -> bytes | None:
        """The next reply payload, or None when the host closed the connection."""
        sock = self.connect()
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                self.close()
                return None
            payloads = self._framer.feed(chunk)
            if payloads:
                return payloads[0]

    def exchange(self, msg: IsoMessage, *, mac: bool = True) -> IsoMessage:
        """Send ``msg`` (MAC'd when the acquirer MACs its MTI) and return the reply."""
        keys = self.keys
        if mac and msg.mti in MAC_MTIS and keys is not None:
            msg = sign(msg, keys.mak, self.mac_algorithm)
        self.last_request = msg
        self.send_raw(frame(encode(msg)))
        payload = self.read_payload()
        if payload is None:
            raise ConnectionError("the host closed the connection")
        reply = decode(payload)
        if 64 in reply.fields and (
            keys is None or not verify(payload, keys.mak, self.mac_algorithm)
        ):
            raise ReplyMacError(f"reply MAC does not verify: {reply!r}")
        return reply

    # -- transactions ------------------------------------------------------------

    def sign_on(self, mode: KeyMode = "003", layout: KeyLayout | None = None) -> IsoMessage:
        reply = self.exchange(sign_on_request(self.identity, self.next_stan(), self.batch, mode))
        if reply.text(39) == "00":
            block = reply.binary(62) or b""
            self.keys = parse_field62(block, self.tmk, layout or KeyLayout.for_mode(mode))
            self.batch = Field60.parse(reply.require(60)).batch
        return reply

    def sign_off(self) -> IsoMessage:
        return self.exchange(sign_off_request(self.identity, self.next_stan(), self.batch))

    def echo(self) -> IsoMessage:
        return self.exchange(echo_request(self.identity, self.next_stan(), self.batch))

    def card(self, world_card: WorldCard, *, track: bool = False) -> Card:
        if track:
            return Card(world_card.pan, track2=f"{world_card.pan}D{world_card.expiry}101")
        return Card(world_card.pan, expiry=world_card.expiry)

    def pin_block(self, world_card: WorldCard, pin: str | None = None) -> bytes:
        assert self.keys is not None
        return encrypt_pin_block(pin or world_card.pin, world_card.pan, self.keys.pik)

    def sale(
        self,
        world_card: WorldCard,
        amount: int,
        *,
        pin: str | None = None,
        with_pin: bool = True,
        stan: str | None = None,
    ) -> IsoMessage:
        block = self.pin_block(world_card, pin) if with_pin else None
        msg = sale_request(
            self.identity,
            stan or self.next_stan(),
            self.batch,
            amount,
            self.card(world_card),
            block,
        )
        return self.exchange(msg)

    def balance(self, world_card: WorldCard, *, pin: str | None = None) -> IsoMessage:
        msg = balance_request(
            self.identity,
            self.next_stan(),
            self.batch,
            self.card(world_card),
            self.pin_block(world_card, pin),
        )
        return self.exchange(msg)

    def void(self, world_card: WorldCard, amount: int, sale_reply: IsoMessage) -> IsoMessage:
        return self._money_back(void_request, world_card, amount, sale_reply, with_date=False)

    def refund(self, world_card: WorldCard, amount: int, sale_reply: IsoMessage) -> IsoMessage:
        return self._money_back(refund_request, world_card, amount, sale_reply, with_date=True)

    def _money_back(
        self,
        build: Any,
        world_card: WorldCard,
        amount: int,
        sale_reply: IsoMessage,
        *,
        with_date: bool,
    ) -> IsoMessage:
        """A void or refund naming ``sale_reply`` by its RRN (37) and by 61."""
        original = OriginalRef(
            batch=Field60.parse(sale_reply.require(60)).batch,
            trace=sale_reply.require(11),
            date=sale_reply.require(13) if with_date else "",
        )
        msg = build(
            self.identity,
            self.next_stan(),
            self.batch,
            amount,
            self.card(world_card),
            sale_reply.require(37),
            original,
        )
        return self.exchange(msg)  # type: ignore[no-any-return]

    def reverse(self, original: IsoMessage, reason: str = "98") -> IsoMessage:
        unsigned = IsoMessage(
            original.mti,
            {k: v for k, v in original.fields.items() if k != 64},
            original.tpdu,
            original.header,
        )
        return self.exchange(reversal_request(unsigned, reason))

    def settle(self, totals: CardTotals) -> IsoMessage:
        msg = settlement_request(
            self.identity, self.next_stan(), self.batch, SettlementTotals(domestic=totals)
        )
        return self.exchange(msg)

    def upload(self, details: Sequence[BatchDetail], *, final: bool = False) -> IsoMessage:
        msg = batch_upload_request(
            self.identity, self.next_stan(), self.batch, details, final=final
        )
        return self.exchange(msg)

    def next_batch(self) -> None:
        """What a terminal does after settling: the next batch number."""
        self.batch = f"{int(self.batch) % 999_999 + 1:06d}"
