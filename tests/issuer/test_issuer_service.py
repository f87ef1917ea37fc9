"""The issuer process on 127.0.0.1: protocol, faults, persistence."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from poslab.iso8583 import (
    Field60,
    Framer,
    IsoMessage,
    Tpdu,
    decode,
    encode,
    encrypt_pin_block,
    format_amount,
    frame,
)
from poslab.mocks.issuer.__main__ import DEFAULT_ZPK_HEX
from poslab.world import World, generate, save
from tests.acquirer.services import Service, restart, start_issuer

ZPK = bytes.fromhex(DEFAULT_ZPK_HEX)
TPDU = Tpdu(destination="0001", source="0003")


@pytest.fixture(scope="module")
def world_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[World, Path]:
    world = generate(9, 6, low_funds_share=0.0, expired_share=0.0, lost_share=0.0)
    path = tmp_path_factory.mktemp("issuer-world") / "world.json"
    return world, save(world, path)


@pytest.fixture
def issuer(world_file: tuple[World, Path], tmp_path: Path) -> Iterator[Service]:
    service = start_issuer(world_file[1], tmp_path)
    yield service
    service.stop()


class Link:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.framer = Framer()

    def send(self, msg: IsoMessage) -> None:
        self.sock.sendall(frame(encode(msg)))

    def receive(self) -> IsoMessage | None:
        while True:
            data = self.sock.recv(65536)
            if not data:
                return None
            payloads = self.framer.feed(data)
            if payloads:
                return decode(payloads[0])

    def ask(self, msg: IsoMessage) -> IsoMessage:
        self.send(msg)
        reply = self.receive()
        assert reply is not None
        return reply


def _auth(world: World, stan: str, amount: int, *, card: int = 0, mti: str = "0100") -> IsoMessage:
    c = world.cards[card]
    return IsoMessage(
        mti,
        {
            2: c.pan,
            3: "000000",
            4: format_amount(amount),
            11: stan,
            32: "48020000",
            41: world.terminals[0].tid,
            42: world.terminals[0].mid,
            49: "156",
            52: encrypt_pin_block(c.pin, c.pan, ZPK),
            60: Field60("22", "000001", "000").format(),
        },
        TPDU,
    )


def _ref_message(
    mti: str, world: World, stan: str, amount: int, processing: str = "000000"
) -> IsoMessage:
    return IsoMessage(
        mti,
        {
            3: processing,
            4: format_amount(amount),
            11: stan,
            32: "48020000",
            41: world.terminals[0].tid,
            42: world.terminals[0].mid,
            49: "156",
            60: Field60("22", "000001", "000").format(),
        },
        TPDU,
    )


def test_authorise_reverse_and_export(issuer: Service, world_file: tuple[World, Path]) -> None:
    world, _ = world_file
    link = Link(issuer.main)
    echo = link.ask(IsoMessage("0820", {11: "000001", 41: "ACQLINK0", 60: "00000000301"}, TPDU))
    assert (echo.mti, echo.text(39)) == ("0830", "00")
    assert echo.tpdu == TPDU.swapped()
    reply = link.ask(_auth(world, "000010", 1_234))
    assert (reply.mti, reply.text(39), reply.text(11)) == ("0110", "00", "000010")
    assert reply.text(38) and reply.text(4) == format_amount(1_234)
    assert link.ask(_ref_message("0400", world, "000010", 1_234)).text(39) == "00"
    assert link.ask(_ref_message("0400", world, "000099", 1)).text(39) == "25"
    assert link.ask(_auth(world, "000099", 1)).text(39) == "94"
    assert link.ask(_ref_message("0120", world, "000010", 1_234, "200000")).text(39) == "00"
    malformed = _auth(world, "000011", 5)
    del malformed.fields[2]
    assert link.ask(malformed).text(39) == "30"
    [row] = issuer.export("issuer")
    assert row["acquirer_ref"] == world.terminals[0].tid + "000010" + "000001"
    assert (row["status"], row["amount"]) == ("reversed", 1_234)
    state = issuer.get("/admin/state").json()
    assert state["tombstones"] == 1 and state["counts"] == {"reversed": 1}


def test_holds_survive_a_restart(issuer: Service, world_file: tuple[World, Path]) -> None:
    world, _ = world_file
    link = Link(issuer.main)
    card = world.cards[1]
    assert link.ask(_auth(world, "000020", card.balance_fen - 10, card=1)).text(39) == "00"
    link.sock.close()
    issuer.stop()
    again = restart(issuer)
    try:
        link = Link(again.main)
        assert link.ask(_auth(world, "000021", 11, card=1)).text(39) == "51"
        assert (
            link.ask(_auth(world, "000020", card.balance_fen - 10, card=1)).text(39) == "00"
        )  # repeat
    finally:
        again.stop()


def test_faults(issuer: Service, world_file: tuple[World, Path]) -> None:
    world, _ = world_file
    assert issuer.post("/admin/faults/melt", {}).status_code == 404
    assert issuer.post("/admin/faults/slow", {"delay_ms": -1}).status_code == 422
    assert issuer.post("/admin/faults/decline", {"rc": "00"}).status_code == 422
    assert issuer.post("/admin/faults/slow", {"delay_ms": 300, "spin": 1}).status_code == 422
    link = Link(issuer.main)
    issuer.fault("slow", delay_ms=300, jitter_ms=0)
    started = time.monotonic()
    echo = link.ask(IsoMessage("0820", {11: "000002", 41: "ACQLINK0", 60: "00000000301"}, TPDU))
    assert echo.text(39) == "00" and time.monotonic() - started < 0.25  # echoes are never slowed
    started = time.monotonic()
    assert link.ask(_auth(world, "000030", 10)).text(39) == "00"
    assert 0.28 <= time.monotonic() - started < 1.5
    issuer.fault("decline", share=1.0, rc="05")
    assert link.ask(_auth(world, "000031", 10)).text(39) == "05"
    assert issuer.get("/admin/faults").json()["active"].keys() == {"slow", "decline"}
    issuer.fault("unavailable")
    assert link.receive() is None  # open connections are dropped
    refused = Link(issuer.main)
    assert refused.receive() is None  # new ones are closed at once
    assert issuer.post("/admin/reset").status_code == 200
    assert Link(issuer.main).ask(_auth(world, "000032", 10)).text(39) == "00"
    assert issuer.delete("/admin/faults/slow").status_code == 200
    assert issuer.delete("/admin/faults/nope").status_code == 404


def test_garbage_does_not_hurt_the_issuer(issuer: Service, world_file: tuple[World, Path]) -> None:
    world, _ = world_file
    link = Link(issuer.main)
    for junk in (
        b"\x00\x05hello",
        frame(b"\x60" * 30),
        frame(encode(IsoMessage("0250", {11: "000001"}))),
    ):
        link.sock.sendall(junk)
    assert link.ask(_auth(world, "000040", 10)).text(39) == "00"
    link.sock.sendall(b"\xff\xff")  # a frame above the limit ends the connection
    assert link.receive() is None
    assert issuer.get("/health").status_code == 200
