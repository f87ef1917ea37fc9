"""Network management: sign-on (0800), sign-off and echo (0820).

Sign-on is where a terminal gets its working keys. 60.3 chooses them: 001
single-length PIN and MAC keys, 003 double-length, 004 double plus a
track-data key. Every sign-on generates fresh keys (the old ones stop working
at once), sends them in field 62 under the terminal master key with their
check values (layout from the config), and tells the terminal the host's date
and time (12/13, it sets its clock) and the batch to use (60.2, it adopts it).
The session is written to the ledger before the reply leaves, so a host that
restarts still accepts the keys it handed out.
"""

from __future__ import annotations

from poslab.iso8583 import Field60, KeyMode

from . import business_day
from .host import Fields, Host, Request
from .ledger import DELETE_SESSION, UPSERT_SESSION

__all__ = ["echo", "host_clock", "sign_off", "sign_on"]

_MODES: dict[str, KeyMode] = {"001": "001", "003": "003", "004": "004"}


def host_clock(when: float) -> Fields:
    """F12 (hhmmss) and F13 (MMDD) of the host's clock."""
    hhmmss, mmdd = business_day.host_clock(when)
    return {12: hhmmss, 13: mmdd}


async def sign_on(host: Host, request: Request) -> Fields:
    msg = request.msg
    field60 = Field60.parse(msg.require(60))
    mode = _MODES.get(field60.net_mgmt)
    if mode is None:
        return {39: "12"}  # a sign-on mode this host does not offer
    terminal = request.terminal
    session, block = host.keystore.issue(terminal.tid, mode, terminal.tmk, request.received)
    if host.config.persist_sessions:
        await host.commit(
            [
                (
                    UPSERT_SESSION,
                    (terminal.tid, mode, block, session.issued_at, session.expires_at, 0),
                )
            ]
        )
    batch = host.journal.host_batch(terminal.tid)
    fields: Fields = {
        **host_clock(request.received),
        37: host.sign_on_rrn(),
        39: "00",
        60: Field60(field60.msg_type, batch, mode).format(),
        62: block,
    }
    return fields


async def sign_off(host: Host, request: Request) -> Fields:
    host.keystore.drop(request.tid)
    if host.config.persist_sessions:
        await host.commit([(DELETE_SESSION, (request.tid,))])
    return {39: "00"}


async def echo(host: Host, request: Request) -> Fields:
    return {**host_clock(request.received), 39: "00"}
