"""A world of a team's own test terminals and cards (``lab world import``).

A host the lab did not write knows only its own test terminals (TIDs, MIDs,
terminal master keys) and test cards, so the fleet must use those and no
others. :func:`team_world` builds a world file from them; the rows arrive
already parsed, each with where it came from (``cards.csv:7``), so every
refusal names its line. What a team does not give, the world fills in plainly
(a merchant named after its MID, the standard fee class, the default fees).

Each card's ``expect`` is the answer the team's host gives it, turned into the
card record the lab's terminals and hosts reason with:

- ``approve`` (or ``00``): an active card with ample funds;
- ``decline-lost`` (``41``): a lost card;
- ``decline-funds`` (``51``): an account without funds;
- ``decline-expired`` (``54``): a card past its expiry.

The cards are dealt to the terminals in turn; every terminal holds the same
number of them (the world's layout), so a remainder is left out and said so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from poslab.errors import ConfigError
from poslab.world.fees import FeeSchedule
from poslab.world.model import Agent, Card, Merchant, Params, Terminal, World
from poslab.world.pan import luhn_valid, mask_pan

__all__ = ["EXPECTATIONS", "ImportedWorld", "Row", "team_world"]

#: A row as read, with its origin for messages (``terminals.csv:3``).
Row = tuple[str, Mapping[str, str]]

#: expect → (status, balance fen, expiry YYMM)
EXPECTATIONS: dict[str, tuple[str, int, str]] = {
    "approve": ("active", 10_000_000_00, "4912"),
    "decline-lost": ("lost", 10_000_000_00, "4912"),
    "decline-funds": ("active", 0, "4912"),
    "decline-expired": ("active", 10_000_000_00, "2001"),
}
_CODES = {"00": "approve", "41": "decline-lost", "51": "decline-funds", "54": "decline-expired"}
_DEFAULT_REGION = "north"


@dataclass
class ImportedWorld:
    world: World
    #: what was left out or filled in, one line each (masked PANs only)
    notes: list[str] = field(default_factory=list)


def _odd_parity(key: bytes) -> bool:
    return all(bin(b).count("1") % 2 == 1 for b in key)


def _tmk(where: str, tid: str, raw: str) -> str:
    """A double-length 3DES key: 32 hex digits, odd parity, two different halves."""
    value = raw.strip().upper()
    try:
        key = bytes.fromhex(value)
    except ValueError:
        raise ConfigError(f"{where}: terminal {tid}: TMK is not hexadecimal") from None
    if len(key) != 16:
        raise ConfigError(
            f"{where}: terminal {tid}: TMK must be 32 hex digits (a double-length 3DES key), "
            f"got {len(value)}"
        )
    if not _odd_parity(key):
        raise ConfigError(f"{where}: terminal {tid}: TMK has a byte without odd parity")
    if key[:8] == key[8:]:
        raise ConfigError(f"{where}: terminal {tid}: TMK halves are equal (single DES in effect)")
    return value


def _need(where: str, row: Mapping[str, str], name: str) -> str:
    value = (row.get(name) or "").strip()
    if not value:
        raise ConfigError(f"{where}: {name} is missing")
    return value


def _terminal(where: str, row: Mapping[str, str]) -> Terminal:
    tid, mid = _need(where, row, "tid"), _need(where, row, "mid")
    if len(tid) != 8 or not tid.isascii() or not tid.isalnum():
        raise ConfigError(f"{where}: tid {tid!r} must be 8 letters or digits (field 41)")
    if len(mid) != 15 or not mid.isascii() or not mid.isalnum():
        raise ConfigError(f"{where}: mid {mid!r} must be 15 letters or digits (field 42)")
    tmk = _tmk(where, tid, _need(where, row, "tmk"))
    region = (row.get("region") or "").strip() or _DEFAULT_REGION
    return Terminal(
        tid=tid,
        mid=mid,
        region=region,
        tmk=tmk,
        software_version=(row.get("software_version") or "").strip() or "020100",
        app_type=(row.get("app_type") or "").strip() or "61",
        primary_path=f"region-{region}",
    )


def _card(where: str, row: Mapping[str, str]) -> Card:
    pan = _need(where, row, "pan")
    if not (pan.isdigit() and 13 <= len(pan) <= 19):
        raise ConfigError(f"{where}: PAN {mask_pan(pan)} must be 13 to 19 digits")
    if not luhn_valid(pan):
        raise ConfigError(f"{where}: PAN {mask_pan(pan)} fails the Luhn check")
    pin = (row.get("pin") or "").strip()
    if pin and not (pin.isdigit() and 4 <= len(pin) <= 12):
        raise ConfigError(f"{where}: PAN {mask_pan(pan)}: PIN must be 4 to 12 digits")
    expect = (row.get("expect") or "approve").strip().lower()
    expect = _CODES.get(expect, expect)
    if expect not in EXPECTATIONS:
        known = ", ".join([*EXPECTATIONS, *_CODES])
        raise ConfigError(f"{where}: PAN {mask_pan(pan)}: expect {expect!r} (known: {known})")
    status, balance, expiry = EXPECTATIONS[expect]
    kind = (row.get("kind") or "debit").strip().lower()
    if kind not in ("debit", "credit"):
        raise ConfigError(f"{where}: PAN {mask_pan(pan)}: kind must be debit or credit")
    expiry = (row.get("expiry") or "").strip() or expiry
    if not (len(expiry) == 4 and expiry.isdigit()):
        raise ConfigError(f"{where}: PAN {mask_pan(pan)}: expiry must be YYMM")
    return Card(
        pan=pan,
        pin=pin or "123456",
        kind=kind,
        balance_fen=balance,
        credit_limit_fen=balance if kind == "credit" else 0,
        expiry=expiry,
        status=status,
        bank=(row.get("bank") or "").strip() or "test bank",
    )


def _merchant(mid: str, region: str, company: str) -> Merchant:
    return Merchant(
        mid=mid,
        name=f"merchant {mid}",
        address="",
        province="",
        city="",
        mcc=mid[7:11] if mid[7:11].isdigit() else "5411",
        region=region,
        agent_id=company,
        legal_person="",
        licence_no="",
        settlement_account="",
        fee_class="standard",
    )


def team_world(
    terminals: Sequence[Row], cards: Sequence[Row], *, fees: FeeSchedule | None = None
) -> ImportedWorld:
    """The world of these terminals and cards; ConfigError naming the first bad line."""
    if not terminals:
        raise ConfigError("no terminal to import")
    if len(cards) < len(terminals):
        raise ConfigError(
            f"{len(cards)} card(s) for {len(terminals)} terminals: every terminal needs one"
        )
    fleet: list[Terminal] = []
    seen: dict[str, str] = {}
    for where, row in terminals:
        terminal = _terminal(where, row)
        if terminal.tid in seen:
            raise ConfigError(f"{where}: tid {terminal.tid} already on {seen[terminal.tid]}")
        seen[terminal.tid] = where
        fleet.append(terminal)
    pool: list[Card] = []
    pans: dict[str, str] = {}
    for where, row in cards:
        card = _card(where, row)
        if card.pan in pans:
            raise ConfigError(f"{where}: PAN {mask_pan(card.pan)} already on {pans[card.pan]}")
        pans[card.pan] = where
        pool.append(card)
    per_terminal = len(pool) // len(fleet)
    notes = []
    left = len(pool) - per_terminal * len(fleet)
    if left:
        dropped = ", ".join(mask_pan(c.pan) for c in pool[-left:])
        notes.append(f"{left} card(s) left out so every terminal holds {per_terminal}: {dropped}")
    # Dealt in turn: terminal i holds cards i, i+n, i+2n, … laid out as its slice.
    dealt = [pool[i + j * len(fleet)] for i in range(len(fleet)) for j in range(per_terminal)]
    regions = tuple(dict.fromkeys(t.region for t in fleet))
    company = "TEAM"
    merchants: dict[str, Merchant] = {}
    for t in fleet:
        merchants.setdefault(t.mid, _merchant(t.mid, t.region, company))
    agents = tuple(
        Agent(f"agent-{role}", company, "the team's agent", role, "", path)
        for role, path in (("primary", "agent"), ("backup", "agent-backup"))
    )
    world = World(
        seed=0,
        regions=regions,
        agents=agents,
        merchants=tuple(merchants.values()),
        terminals=tuple(fleet),
        cards=tuple(dealt),
        fees=fees or FeeSchedule(),
        # nobody else's cards, no simulated wrong PINs: every answer is the team's
        params=Params(
            cards_per_terminal=per_terminal,
            shared_cards=0,
            wrong_pin_share=0.0,
            unknown_card_share=0.0,
        ),
    )
    return ImportedWorld(world, notes)
