"""Sale and balance inquiry (0200): authorised at the issuer, booked, answered.

A sale is booked exactly once per F41 + F42 + batch + F11. A retransmission
of a request the host already answered gets the **original answer replayed**
(same RRN, auth code, response code), not 94: the terminal that lost the
reply then learns the real outcome and completes the sale instead of
reversing a good one. A different request under the same key (a reused
trace number) is answered 94 and not booked; so is a request whose reversal
arrived first (the host answered 25 to that reversal and remembered it).

Upstream outcomes (docs/issuer-protocol.md):

- the issuer's answer — approved (00) or its decline (51, 55, 54, 14, ...) —
  booked as ``approved``/``declined`` and answered;
- no connection (91) — answered 91, nothing booked: the issuer never saw it,
  so the terminal may simply retry;
- no reply in time (98) — booked ``declined`` with rc 98, and a reversal is
  queued for the issuer in the same commit: if the issuer did approve (late),
  the hold is cancelled, so the cardholder is never left debited.

The PIN block is translated from the terminal's PIN key to the zone PIN key
the issuer knows, as an HSM would; a block that does not decrypt to ISO
format 0 under the terminal's key is answered 99 (sign on again).
"""

from __future__ import annotations

import asyncio
import logging

from poslab.iso8583 import (
    CURRENCY_CNY,
    Field60,
    FieldError,
    FieldValue,
    IsoMessage,
    PinBlockError,
    decrypt_pin_block,
    encrypt_pin_block,
    parse_amount,
)

from .group_commit import Op, WriteError
from .host import Fields, Host, Request
from .issuer_link import ISSUER_HEADER, ISSUER_TPDU, IssuerTimeout, IssuerUnavailable
from .journal import APPROVED, DECLINED, Txn
from .ledger import Advice, txn_op
from .sign_on import host_clock

__all__ = ["balance", "card_data", "reply_fields", "sale"]

log = logging.getLogger(__name__)

_PROCESSING = {"sale": "000000", "balance": "310000"}
# Answers that mean "the issuer did not decide": nothing is booked.
_NOT_DECIDED = frozenset({"90", "91", "96"})


def card_data(msg: IsoMessage) -> tuple[str, str | None]:
    """PAN (F2, or track 2 before the separator) and expiry YYMM if known."""
    track2 = msg.text(35)
    pan = msg.text(2)
    if not pan and track2:
        pan = track2.partition("D")[0]
    if not pan or not 12 <= len(pan) <= 19:
        raise FieldError("no usable card number in F2 or F35")
    expiry = msg.text(14)
    if expiry is None and track2 and "D" in track2:
        expiry = track2.partition("D")[2][:4] or None
    return pan, expiry


def reply_fields(host: Host, txn: Txn) -> Fields:
    """The answer to a booked request (also what a retransmission gets)."""
    fields: Fields = {
        **host_clock(txn.booked_at),
        15: txn.settle_date[5:].replace("-", ""),
        37: txn.rrn,
        39: txn.rc,
    }
    if txn.auth_code:
        fields[38] = txn.auth_code
    if txn.balance:
        fields[54] = txn.balance
    return fields


def replay(host: Host, txn: Txn, kind: str, amount: int, pan: str) -> Fields:
    same = txn.type == kind and txn.amount == amount and txn.pan_hash == host.pan_hash(pan)
    return reply_fields(host, txn) if same else {39: "94"}


async def sale(host: Host, request: Request) -> Fields:
    return await _authorise(host, request, "sale")


async def balance(host: Host, request: Request) -> Fields:
    return await _authorise(host, request, "balance")


def _upstream(
    host: Host,
    msg: IsoMessage,
    kind: str,
    pan: str,
    expiry: str | None,
    pin_block: bytes | None,
) -> IsoMessage:
    fields: dict[int, FieldValue] = {
        2: pan,
        3: _PROCESSING[kind],
        11: msg.require(11),
        32: host.config.institution_id,
        41: msg.require(41),
        42: msg.require(42),
        49: CURRENCY_CNY,
        # 60.1 + batch + 000, as the terminal sent it (no 60.4 onwards upstream)
        60: msg.require(60)[:11],
    }
    if kind == "sale":
        fields[4] = msg.require(4)
    if expiry is not None and len(expiry) == 4 and expiry.isdigit():
        fields[14] = expiry
    for number in (22, 25):
        value = msg.text(number)
        if value is not None:
            fields[number] = value
    if pin_block is not None:
        fields[52] = pin_block
        fields[53] = msg.text(53) or "2600000000000000"
    return IsoMessage("0100", fields, ISSUER_TPDU, ISSUER_HEADER)


async def _authorise(host: Host, request: Request, kind: str) -> Fields:
    msg = request.msg
    terminal = request.terminal
    field60 = Field60.parse(msg.require(60))
    key = (terminal.tid, terminal.mid, field60.batch, msg.require(11))
    pan, expiry = card_data(msg)
    amount = parse_amount(msg.require(4)) if kind == "sale" else 0
    if kind == "sale" and amount == 0:
        return {39: "13"}
    await host.wait_in_flight(key)
    existing = host.journal.by_key.get(key)
    if existing is not None:
        return replay(host, existing, kind, amount, pan)
    if key in host.journal.tombstones:
        return {39: "94"}
    if host.batch_refused(terminal.tid, field60.batch):
        return {39: "77"}
    pin_block = msg.binary(52)
    if pin_block is not None:
        if request.session is None:
            return {39: "99"}
        try:
            pin = decrypt_pin_block(pin_block, pan, request.session.keys.pik)
            pin_block = encrypt_pin_block(pin, pan, host.zpk)
        except PinBlockError:
            return {39: "99"}
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    host.journal.in_flight[key] = done
    try:
        return await _ask_and_book(
            host,
            request,
            kind,
            key,
            pan,
            amount,
            _upstream(host, msg, kind, pan, expiry, pin_block),
        )
    finally:
        del host.journal.in_flight[key]
        done.set_result(None)


async def _ask_and_book(
    host: Host,
    request: Request,
    kind: str,
    key: tuple[str, str, str, str],
    pan: str,
    amount: int,
    upstream: IsoMessage,
) -> Fields:
    auth_code = balance_text = ""
    try:
        reply = await host.issuer.request(upstream, host.issuer_timeout_s())
    except IssuerUnavailable:
        host.metrics.issuer_request("0100", "unavailable")
        return {39: "91"}
    except IssuerTimeout:
        host.metrics.issuer_request("0100", "timeout")
        rc = "98"
    else:
        rc = reply.text(39) or "96"
        host.metrics.issuer_request("0100", rc)
        if rc in _NOT_DECIDED:
            return {39: rc}
        if rc == "00":
            auth_code = reply.text(38) or ""
            balance_text = reply.text(54) or ""
    txn = host.new_txn(
        key,
        kind,
        amount,
        host.card_ref(pan),
        rc=rc,
        status=APPROVED if rc == "00" else DECLINED,
        auth_code=auth_code,
        balance=balance_text,
    )
    tid, mid, batch, _ = key
    now = txn.booked_at
    ops = [*host.open_batch_ops(tid, mid, batch, now), txn_op(txn)]
    advice = None
    # the no-late-reversal defect forgets the issuer may have approved after our timeout
    if rc == "98" and not host.config.defective("no-late-reversal"):
        advice, op = host.advices.new("reverse", key, amount, "98", now)
        ops.append(op)
    if host.config.defective("reply-before-durable"):
        host.book(txn)
        _write_behind(host, ops, advice)
        return reply_fields(host, txn)
    try:
        await host.commit(ops)
    except WriteError:
        if rc == "00":  # approved upstream but not booked: give the cardholder the money back
            host.advices.activate(host.advices.new("reverse", key, amount, "96", now)[0])
        raise
    host.book(txn)
    if advice is not None:
        host.advices.activate(advice)
    return reply_fields(host, txn)


# The reply-before-durable defect's write-behind: rows reach the ledger this long
# after their 00 left, so a crash inside the window loses approvals already printed.
WRITE_BEHIND_S = 0.5
_write_behind_tasks: set[asyncio.Task[None]] = set()


def _write_behind(host: Host, ops: list[Op], advice: Advice | None) -> None:
    async def flush() -> None:
        await asyncio.sleep(WRITE_BEHIND_S)
        try:
            await host.commit(ops)
        except WriteError:
            log.warning("write-behind lost %d ledger ops (reply-before-durable defect)", len(ops))
            return
        if advice is not None:
            host.advices.activate(advice)

    task = asyncio.get_running_loop().create_task(flush())
    _write_behind_tasks.add(task)  # held until done: the loop keeps weak references only
    task.add_done_callback(_write_behind_tasks.discard)
