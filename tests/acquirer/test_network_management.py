"""Sign-on (001/003/004), sign-off, echo, and the checks every request meets:
97 unknown terminal, 03 wrong merchant, A0 + nibble 3, nibble 6."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from poslab.iso8583 import (
    KeyLayout,
    KeySlot,
    MacAlgorithm,
    ProcessingRequirement,
    check_value,
    decrypt_under_tmk,
    generate_working_keys,
    sale_request,
    sign,
)
from tests.acquirer.conftest import Stack, start_stack
from tests.acquirer.terminal_client import TerminalClient


@pytest.mark.parametrize(
    ("mode", "key_len", "block_len"), [("001", 8, 24), ("003", 16, 40), ("004", 16, 60)]
)
def test_sign_on_issues_fresh_keys_under_the_tmk(
    host: Stack, mode: str, key_len: int, block_len: int
) -> None:
    client = host.client(host.take())
    reply = client.sign_on(mode)  # type: ignore[arg-type]
    assert reply.mti == "0810"
    assert reply.text(39) == "00"
    block = reply.binary(62)
    assert block is not None and len(block) == block_len
    layout = KeyLayout.for_mode(mode)  # type: ignore[arg-type]
    slots = [layout.pik, layout.mak] + ([layout.tdk] if layout.tdk else [])
    for slot in slots:
        assert slot is not None
        key = decrypt_under_tmk(block[slot.key_offset : slot.key_offset + slot.key_len], client.tmk)
        assert len(key) == key_len
        assert block[slot.cv_offset : slot.cv_offset + 4] == check_value(key)[:4]
    # host clock and batch for the terminal to adopt, and the sign-on's own RRN
    assert reply.text(12) is not None and len(reply.require(12)) == 6
    assert reply.text(13) is not None and len(reply.require(13)) == 4
    assert reply.require(60)[2:8] == "000001" and reply.require(60)[8:11] == mode
    assert reply.text(37)
    assert reply.text(11) == client.last_request.text(11)  # type: ignore[union-attr]


def test_every_sign_on_replaces_the_keys(host: Stack) -> None:
    client = host.signed_on()
    old_keys = client.keys
    card = host.cards(client.terminal)[0]
    assert client.sale(card, 100).text(39) == "00"
    client.sign_on()
    assert client.keys != old_keys
    # a request MAC'd with the old key is refused: A0 and "sign on again"
    current = client.keys
    client.keys = old_keys
    reply = client.exchange(
        sign(
            sale_request(client.identity, client.next_stan(), client.batch, 100, client.card(card)),
            old_keys.mak,  # type: ignore[union-attr]
        ),
        mac=False,
    )
    assert reply.text(39) == "A0"
    assert reply.header.processing_requirement == ProcessingRequirement.SIGN_ON
    assert 64 not in reply.fields
    client.keys = current
    assert client.sale(card, 100).text(39) == "00"


def test_unknown_terminal_is_97_and_wrong_merchant_03(host: Stack) -> None:
    stranger = dataclasses.replace(host.world.terminals[5], tid="99999999")
    assert host.client(stranger).sign_on().text(39) == "97"
    wrong_mid = dataclasses.replace(host.take(), mid=host.world.terminals[0].mid)
    assert host.client(wrong_mid).sign_on().text(39) == "03"


def test_sale_without_sign_on_is_a0_with_sign_on_nibble(host: Stack) -> None:
    client = host.client(host.take())
    card = host.cards(client.terminal)[0]
    client.keys = generate_working_keys("003")  # keys the host never issued
    reply = client.sale(card, 100)
    assert reply.text(39) == "A0"
    assert reply.header.processing_requirement == ProcessingRequirement.SIGN_ON


def test_sign_off_ends_the_session(host: Stack) -> None:
    client = host.signed_on()
    assert client.sign_off().text(39) == "00"
    card = host.cards(client.terminal)[0]
    reply = client.sale(card, 100)
    assert reply.text(39) == "A0"
    assert reply.header.processing_requirement == ProcessingRequirement.SIGN_ON


def test_echo_answers_and_asks_for_sign_on_when_keys_are_gone(host: Stack) -> None:
    client = host.client(host.take())
    reply = client.echo()
    assert reply.mti == "0830" and reply.text(39) == "00"
    assert reply.header.processing_requirement == ProcessingRequirement.SIGN_ON
    client.sign_on()
    assert client.echo().header.processing_requirement == ProcessingRequirement.NONE


def test_outdated_software_gets_tms_nibble_and_the_sale_still_runs(host: Stack) -> None:
    outdated = host.world.terminals[2]
    client = TerminalClient(host.acquirer.main, outdated)
    reply = client.sign_on()
    assert reply.text(39) == "00"
    assert reply.header.processing_requirement == ProcessingRequirement.TMS_DOWNLOAD
    card = host.cards(outdated)[0]
    sale = client.sale(card, 250)
    assert sale.text(39) == "00"
    assert sale.header.processing_requirement == ProcessingRequirement.TMS_DOWNLOAD
    # the min_software fault raises the bar for everyone below it
    current = host.client(host.take(), software="020100")
    current.sign_on()
    host.acquirer.fault("min_software", version="030000")
    assert current.echo().header.processing_requirement == ProcessingRequirement.TMS_DOWNLOAD
    host.acquirer.delete("/admin/faults/min_software")
    assert current.echo().header.processing_requirement == ProcessingRequirement.NONE


def test_expire_and_rotate_keys_by_region_and_tid(host: Stack) -> None:
    regions = sorted(host.world.regions)
    clients = [host.signed_on() for _ in range(6)]
    by_region = [c for c in clients if c.terminal.region == regions[0]]
    others = [c for c in clients if c.terminal.region != regions[0]]
    assert others
    response = host.acquirer.post("/admin/faults/expire_keys", {"regions": [regions[0]]})
    assert response.status_code == 200
    for client in by_region:
        reply = client.sale(host.cards(client.terminal)[0], 100)
        assert reply.text(39) == "A0"
        assert reply.header.processing_requirement == ProcessingRequirement.SIGN_ON
    target = others[0]
    host.acquirer.fault("rotate_keys", tids=[target.terminal.tid])
    reply = target.sale(host.cards(target.terminal)[0], 100)
    assert (reply.text(39), reply.header.processing_requirement) == (
        "A0",
        ProcessingRequirement.SIGN_ON,
    )
    for client in others[1:]:
        assert client.sale(host.cards(client.terminal)[0], 100).text(39) == "00"
    # signing on again is the cure, while the fault is still listed
    for client in [*by_region, target]:
        client.sign_on()
        assert client.sale(host.cards(client.terminal)[0], 100).text(39) == "00"


def test_acquirer_variants_x919_mac_and_another_key_layout(tmp_path: Path) -> None:
    """Acquirers differ: MAC algorithm and field 62 layout are configuration."""
    swapped = {"pik": [20, 16, 36], "mak": [0, 16, 16]}  # MAK first, then PIK
    stack = start_stack(
        tmp_path,
        {"day_seconds": 86400.0, "mac_algorithm": "x9.19", "key_layouts": {"003": swapped}},
    )
    try:
        terminal = stack.take()
        layout = KeyLayout(pik=KeySlot(20, 16, 36), mak=KeySlot(0, 16, 16))
        client = TerminalClient(stack.acquirer.main, terminal, mac_algorithm=MacAlgorithm.X9_19)
        assert client.sign_on("003", layout).text(39) == "00"
        card = stack.cards(terminal)[0]
        assert client.sale(card, 1_500).text(39) == "00"  # PIN under the PIK from slot 20
        cup = TerminalClient(stack.acquirer.main, terminal)  # the same keys, the other MAC
        cup.keys, cup.batch = client.keys, client.batch
        assert cup.sale(card, 1_500).text(39) == "A0"
    finally:
        stack.stop()


def test_refusing_outdated_software_until_it_updates(host: Stack) -> None:
    """``min_software`` with ``refuse``: the host no longer serves older versions
    (failure-modes row 12) — their financial requests get 96 and the TMS
    nibble, while reversals and settlement still pass and nothing is booked."""
    terminal = host.take()
    old = host.client(terminal, software="010000")
    old.sign_on()
    card = host.cards(terminal)[0]
    before = old.sale(card, 300)
    assert before.text(39) == "00"  # below the world's minimum: asked, still served
    before_request = old.last_request
    assert before_request is not None
    host.acquirer.fault("min_software", version="020100", refuse=True)
    try:
        assert host.acquirer.get("/admin/faults").json()["active"]["min_software"] == {
            "version": "020100",
            "refuse": True,
        }
        refused = old.sale(card, 400)
        refused_request = old.last_request
        assert refused_request is not None
        assert refused.text(39) == "96"
        assert refused.header.processing_requirement == ProcessingRequirement.TMS_DOWNLOAD
        assert old.balance(card).text(39) == "96"
        # money already moved can still be given back, and the batch settled
        assert old.reverse(refused_request).text(39) == "25"  # never booked
        assert old.reverse(before_request).text(39) == "00"
        current = host.client(host.take(), software="020100")
        current.sign_on()
        assert current.sale(host.cards(current.terminal)[0], 500).text(39) == "00"
        updated = host.client(terminal, software="020100")  # the download done
        updated._stan = old._stan  # the same device: its trace numbers go on
        updated.sign_on()
        assert updated.sale(card, 600).text(39) == "00"
    finally:
        host.acquirer.delete("/admin/faults/min_software")
    stans = {r["stan"] for r in host.acquirer.export("transactions") if r["tid"] == terminal.tid}
    assert refused.require(11) not in stans
