"""Sale, balance inquiry, void, refund: approvals, every decline code, and
duplicates — checked on the wire and in both ledgers."""

from __future__ import annotations

from poslab.iso8583 import OriginalRef, ProcessingRequirement, sale_request, sign
from tests.acquirer.conftest import Stack
from tests.acquirer.terminal_client import TerminalClient


def _rows(stack: Stack, tid: str) -> list[dict[str, object]]:
    return [r for r in stack.acquirer.export("transactions") if r["tid"] == tid]


def test_sale_is_approved_booked_and_held_at_the_issuer(host: Stack) -> None:
    client = host.signed_on()
    card = host.cards(client.terminal)[0]
    reply = client.sale(card, 12_345)
    assert reply.mti == "0210"
    assert reply.text(39) == "00"
    assert reply.text(11) == client.last_request.text(11)  # type: ignore[union-attr]
    assert 64 in reply.fields  # the client verified it
    rrn, auth = reply.require(37), reply.require(38)
    assert len(rrn) == 12 and len(auth) == 6
    [row] = _rows(host, client.terminal.tid)
    assert row["type"] == "sale" and row["status"] == "approved" and row["amount"] == 12_345
    assert row["rrn"] == rrn and row["rc"] == "00"
    assert row["pan"] == card.pan[:6] + "*" * (len(card.pan) - 10) + card.pan[-4:]
    assert row["card_kind"] == card.kind
    ref = client.terminal.tid + client.last_request.require(11) + client.batch  # type: ignore[union-attr]
    [auth_row] = [a for a in host.issuer.export("issuer") if a["acquirer_ref"] == ref]
    assert auth_row["status"] == "held" and auth_row["amount"] == 12_345
    assert card.pan not in host.acquirer.log_text() + host.issuer.log_text()


def test_sale_by_track_data_without_pin(host: Stack) -> None:
    client = host.signed_on()
    card = host.cards(client.terminal)[1]
    msg = sale_request(
        client.identity, client.next_stan(), client.batch, 800, client.card(card, track=True)
    )
    assert client.exchange(msg).text(39) == "00"


def test_balance_inquiry_answers_the_available_balance(host: Stack) -> None:
    client = host.signed_on()
    card = host.cards(client.terminal)[2]
    assert client.sale(card, 1_000).text(39) == "00"
    reply = client.balance(card)
    assert reply.text(39) == "00"
    f54 = reply.require(54)
    assert f54[:7] == "1002156" and f54[7] == "C"
    assert int(f54[8:]) == card.balance_fen - 1_000


def test_business_declines(host: Stack) -> None:
    special = host.world.terminals[0]
    client = TerminalClient(host.acquirer.main, special)
    client.sign_on()
    good, expired, lost, empty = host.cards(special)[:4]
    assert (
        client.sale(good, 100, pin="000000" if good.pin != "000000" else "111111").text(39) == "55"
    )
    assert client.sale(expired, 100).text(39) == "54"
    assert client.sale(lost, 100).text(39) == "41"
    assert client.sale(empty, 501).text(39) == "51"
    assert client.sale(empty, 500).text(39) == "00"
    unknown = type(good)(
        **{**{f: getattr(good, f) for f in good.__slots__}, "pan": "6299990000000004"}
    )
    assert client.sale(unknown, 100, with_pin=False).text(39) == "14"
    rows = _rows(host, special.tid)
    assert sorted(str(r["rc"]) for r in rows) == ["00", "14", "41", "51", "54", "55"]
    assert {r["status"] for r in rows if r["rc"] != "00"} == {"declined"}


def test_transaction_type_not_allowed_is_58(host: Stack) -> None:
    no_refund = host.world.terminals[1]
    client = TerminalClient(host.acquirer.main, no_refund)
    client.sign_on()
    card = host.cards(no_refund)[0]
    sale = client.sale(card, 900)
    assert sale.text(39) == "00"
    assert client.refund(card, 100, sale).text(39) == "58"


def test_bad_mac_is_a0_and_not_booked(host: Stack) -> None:
    client = host.signed_on()
    card = host.cards(client.terminal)[0]
    msg = sale_request(client.identity, client.next_stan(), client.batch, 100, client.card(card))
    signed = sign(msg, client.keys.mak)  # type: ignore[union-attr]
    signed.fields[4] = "000000000200"  # tampered after the MAC
    reply = client.exchange(signed, mac=False)
    assert reply.text(39) == "A0"
    assert reply.header.processing_requirement == ProcessingRequirement.SIGN_ON
    assert _rows(host, client.terminal.tid) == []


def test_garbage_pin_block_is_99(host: Stack) -> None:
    client = host.signed_on()
    card = host.cards(client.terminal)[0]
    msg = sale_request(
        client.identity, client.next_stan(), client.batch, 100, client.card(card), b"\x01" * 8
    )
    assert client.exchange(msg).text(39) == "99"


def test_retransmission_gets_the_original_answer_and_is_booked_once(host: Stack) -> None:
    client = host.signed_on()
    card = host.cards(client.terminal)[0]
    first = client.sale(card, 4_321)
    stan = first.require(11)
    again = client.sale(card, 4_321, stan=stan)
    assert again.text(39) == "00"
    assert (again.require(37), again.require(38)) == (first.require(37), first.require(38))
    # the same trace number with other content is a duplicate, not a sale
    assert client.sale(card, 9_999, stan=stan).text(39) == "94"
    assert len(_rows(host, client.terminal.tid)) == 1


def test_void_checks(host: Stack) -> None:
    client = host.signed_on()
    card = host.cards(client.terminal)[0]
    sale = client.sale(card, 2_000)
    assert client.void(card, 1_999, sale).text(39) == "13"
    void = client.void(card, 2_000, sale)
    assert void.text(39) == "00" and void.require(37) != sale.require(37)
    assert client.void(card, 2_000, sale).text(39) == "C9"
    # a declined original cannot be voided; an unknown one is not found
    declined = client.sale(card, 10**11)
    assert declined.text(39) == "51"
    assert client.void(card, 10**11, declined).text(39) == "12"
    forged = declined.copy()
    forged.fields[37] = "999999999999"
    forged.fields[11] = "999999"
    assert client.void(card, 5, forged).text(39) == "25"
    # a reversed sale: CA
    sale2 = client.sale(card, 3_000)
    request2 = client.last_request
    assert client.reverse(request2).text(39) == "00"  # type: ignore[arg-type]
    assert client.void(card, 3_000, sale2).text(39) == "CA"
    statuses = {r["rrn"]: r["status"] for r in _rows(host, client.terminal.tid)}
    assert statuses[sale.require(37)] == "voided"
    assert statuses[void.require(37)] == "approved"
    assert statuses[sale2.require(37)] == "reversed"
    ref = client.terminal.tid + sale.require(11) + client.batch
    [auth] = [a for a in host.issuer.export("issuer") if a["acquirer_ref"] == ref]
    assert auth["status"] == "released"


def test_void_only_in_the_open_batch(host: Stack) -> None:
    client = host.signed_on()
    card = host.cards(client.terminal)[0]
    sale = client.sale(card, 700)
    from poslab.iso8583 import CardTotals

    assert client.settle(CardTotals(700, 1, 0, 0)).text(39) == "00"
    client.next_batch()
    assert client.void(card, 700, sale).text(39) == "12"


def test_refunds(host: Stack) -> None:
    client = host.signed_on()
    card = host.cards(client.terminal)[0]
    sale = client.sale(card, 5_000)
    assert client.refund(card, 2_000, sale).text(39) == "00"
    assert client.refund(card, 3_001, sale).text(39) == "13"
    assert client.refund(card, 3_000, sale).text(39) == "00"
    assert client.refund(card, 1, sale).text(39) == "13"
    other = host.cards(client.terminal)[1]
    sale2 = client.sale(card, 800)
    assert client.refund(other, 100, sale2).text(39) == "12"  # another card
    lost = sale.copy()
    lost.fields[37] = "000000999999"
    lost.fields[11] = "999998"
    assert client.refund(card, 100, lost).text(39) == "25"
    rows = [r for r in _rows(host, client.terminal.tid) if r["type"] == "refund"]
    assert [r["amount"] for r in rows] == [2_000, 3_000]
    assert {r["orig_rrn"] for r in rows} == {sale.require(37)}


def test_stale_batch_is_77_after_settlement(host: Stack) -> None:
    from poslab.iso8583 import CardTotals

    client = host.signed_on()
    card = host.cards(client.terminal)[0]
    assert client.sale(card, 100).text(39) == "00"
    assert client.settle(CardTotals(100, 1, 0, 0)).text(39) == "00"
    assert client.sale(card, 100).text(39) == "77"  # still on the settled batch
    reply = client.sign_on()
    assert reply.require(60)[2:8] == f"{int(client.batch):06d}"
    assert client.sale(card, 100).text(39) == "00"


def test_day_end_cut_fault_answers_90_but_reversals_go_through(host: Stack) -> None:
    client = host.signed_on()
    card = host.cards(client.terminal)[0]
    assert client.sale(card, 600).text(39) == "00"
    request = client.last_request
    host.acquirer.fault("day_end_cut")
    assert client.sale(card, 600).text(39) == "90"
    assert client.reverse(request).text(39) == "00"  # type: ignore[arg-type]
    host.acquirer.delete("/admin/faults/day_end_cut")
    assert client.sale(card, 600).text(39) == "00"


def test_original_ref_field_is_parsed_strictly(host: Stack) -> None:
    client = host.signed_on()
    card = host.cards(client.terminal)[0]
    sale = client.sale(card, 300)
    from poslab.iso8583 import void_request

    bad = void_request(
        client.identity,
        client.next_stan(),
        client.batch,
        300,
        client.card(card),
        sale.require(37),
        OriginalRef(batch=client.batch, trace=sale.require(11)),
    )
    bad.fields[61] = "12345"  # truncated original data
    assert client.exchange(bad).text(39) == "30"
