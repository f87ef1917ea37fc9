"""Reversals (lost reply, idempotence, unknown originals) and the issuer path:
slow issuer → 98 within the deadline and the late approval reversed,
unreachable issuer → 91, issuer declines."""

from __future__ import annotations

import time

from poslab.iso8583 import encode, frame, sign
from tests.acquirer.conftest import Stack


def _auth(stack: Stack, ref: str) -> dict[str, object] | None:
    rows = [a for a in stack.issuer.export("issuer") if a["acquirer_ref"] == ref]
    return rows[-1] if rows else None


def _await_auth_status(
    stack: Stack, ref: str, status: str, timeout: float = 10.0
) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        auth = _auth(stack, ref)
        if auth is not None and auth["status"] == status:
            return auth
        assert time.monotonic() < deadline, f"issuer auth {ref} is {auth} after {timeout} s"
        time.sleep(0.05)


def test_reversal_after_a_lost_reply(host: Stack) -> None:
    client = host.signed_on()
    card = host.cards(client.terminal)[0]
    from poslab.iso8583 import sale_request

    msg = sign(
        sale_request(
            client.identity,
            client.next_stan(),
            client.batch,
            7_700,
            client.card(card),
            client.pin_block(card),
        ),
        client.keys.mak,  # type: ignore[union-attr]
    )
    client.send_raw(frame(encode(msg)))
    client.close()  # the reply is lost: the terminal never reads it
    ref = client.terminal.tid + msg.require(11) + client.batch
    _await_auth_status(host, ref, "held")
    reply = client.reverse(msg, "98")
    assert reply.mti == "0410" and reply.text(39) == "00"
    assert reply.text(11) == msg.text(11)
    # idempotent: the same answer again, nothing changes
    assert client.reverse(msg, "98").text(39) == "00"
    rows = [r for r in host.acquirer.export("transactions") if r["tid"] == client.terminal.tid]
    assert [(r["status"], r["amount"]) for r in rows] == [("reversed", 7_700)]
    assert rows[0]["reversed_at"] is not None
    _await_auth_status(host, ref, "reversed")


def test_reversal_of_an_unknown_original_is_25_and_the_late_original_is_refused(
    host: Stack,
) -> None:
    client = host.signed_on()
    card = host.cards(client.terminal)[0]
    from poslab.iso8583 import sale_request

    never_sent = sale_request(
        client.identity, client.next_stan(), client.batch, 1_500, client.card(card)
    )
    assert client.reverse(never_sent).text(39) == "25"
    assert client.reverse(never_sent).text(39) == "25"
    # the original shows up after its reversal (it was stuck in the network)
    assert client.exchange(never_sent).text(39) == "94"
    assert [
        r for r in host.acquirer.export("transactions") if r["tid"] == client.terminal.tid
    ] == []
    ref = client.terminal.tid + never_sent.require(11) + client.batch
    # the issuer was told too, and refuses that authorisation for good
    deadline = time.monotonic() + 5
    while host.issuer.get("/admin/state").json()["tombstones"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert _auth(host, ref) is None


def test_reversing_a_void_restores_the_sale(host: Stack) -> None:
    client = host.signed_on()
    card = host.cards(client.terminal)[0]
    sale = client.sale(card, 4_000)
    sale_ref = client.terminal.tid + sale.require(11) + client.batch
    void = client.void(card, 4_000, sale)
    assert void.text(39) == "00"
    void_request = client.last_request
    _await_auth_status(host, sale_ref, "released")
    assert client.reverse(void_request).text(39) == "00"  # type: ignore[arg-type]
    statuses = {r["rrn"]: r["status"] for r in host.acquirer.export("transactions")}
    assert statuses[sale.require(37)] == "approved"
    assert statuses[void.require(37)] == "reversed"
    _await_auth_status(host, sale_ref, "held")
    # and the sale can be voided again
    assert client.void(card, 4_000, sale).text(39) == "00"
    _await_auth_status(host, sale_ref, "released")


def test_slow_issuer_gets_98_within_the_deadline_and_the_late_approval_is_reversed(
    host: Stack,
) -> None:
    client = host.signed_on()
    card = host.cards(client.terminal)[0]
    host.acquirer.fault("issuer_timeout", ms=300)
    host.issuer.fault("slow", delay_ms=1500, jitter_ms=0)
    started = time.monotonic()
    reply = client.sale(card, 2_500)
    elapsed = time.monotonic() - started
    assert reply.text(39) == "98"
    assert 0.28 <= elapsed < 1.2, elapsed  # the acquirer's deadline, not the issuer's delay
    ref = client.terminal.tid + reply.require(11) + client.batch
    [row] = [r for r in host.acquirer.export("transactions") if r["tid"] == client.terminal.tid]
    assert (row["status"], row["rc"]) == ("declined", "98")
    # the issuer approves late (hold), then the queued reversal cancels it
    auth = _await_auth_status(host, ref, "reversed")
    assert auth["amount"] == 2_500
    # a retransmission gets the same 98; the terminal's own reversal is acknowledged
    assert client.sale(card, 2_500, stan=reply.require(11)).text(39) == "98"
    assert client.reverse(client.last_request).text(39) == "00"  # type: ignore[arg-type]
    host.issuer.delete("/admin/faults/slow")
    assert client.sale(card, 2_500).text(39) == "00"


def test_unreachable_issuer_is_91_and_nothing_is_booked(host: Stack) -> None:
    client = host.signed_on()
    card = host.cards(client.terminal)[0]
    host.issuer.fault("unavailable")
    deadline = time.monotonic() + 5
    while host.acquirer.get("/admin/state").json()["issuer_links"] > 0:
        assert time.monotonic() < deadline, "the acquirer did not notice the issuer going away"
        time.sleep(0.02)
    reply = client.sale(card, 300)
    assert reply.text(39) == "91"
    host.issuer.delete("/admin/faults/unavailable")
    deadline = time.monotonic() + 5
    while host.acquirer.get("/admin/state").json()["issuer_links"] == 0:
        assert time.monotonic() < deadline, "the acquirer did not reconnect"
        time.sleep(0.02)
    # 91 was not booked: the terminal may retry the very same request
    again = client.sale(card, 300, stan=reply.require(11))
    assert again.text(39) == "00"
    rows = [r for r in host.acquirer.export("transactions") if r["tid"] == client.terminal.tid]
    assert [r["rc"] for r in rows] == ["00"]


def test_issuer_decline_fault(host: Stack) -> None:
    client = host.signed_on()
    card = host.cards(client.terminal)[0]
    host.issuer.fault("decline", share=1.0, rc="05")
    assert client.sale(card, 100).text(39) == "05"
    host.issuer.fault("decline", share=0.0)
    assert client.sale(card, 100).text(39) == "00"
