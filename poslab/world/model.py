"""The payment world: who sells, on which terminals, to whose cards.

Every record is a frozen, slotted dataclass (cheap to build a million of on
load, impossible to mutate by accident across a process). ``World`` builds
its lookup indexes once, when it is constructed.

Secrets in a lab world: terminal master keys (TMK) and card PINs are stored in
the clear in the world file. That is deliberate — every mock must derive the
same keys and PINs from one file without a key-management system — and it is
the only place they live in the clear. ``repr`` of every record hides them and
masks card and account numbers, so logging a record never leaks one.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from poslab.errors import ConfigError
from poslab.world.fees import FeeSchedule
from poslab.world.pan import mask_pan

__all__ = [
    "FORMAT",
    "TXN_TYPES",
    "Agent",
    "Card",
    "Merchant",
    "Params",
    "Terminal",
    "World",
]

FORMAT = 1
# What a terminal may be allowed to do (the host answers 58 to anything else).
TXN_TYPES = ("sale", "void", "refund", "balance")


@dataclass(frozen=True, slots=True)
class Agent:
    """One instance of the reseller's (代理商) backend. A company runs a primary
    and a backup; merchants belong to the company (``Merchant.agent_id``)."""

    id: str  # service name: "agent-primary" / "agent-backup"
    company_id: str
    name: str  # the company, zh_CN
    role: str  # "primary" or "backup"
    phone: str
    path: str  # proxy the fleet reaches it through: "agent" / "agent-backup"


@dataclass(frozen=True, slots=True)
class Merchant:
    """A shop under contract with the acquirer, signed up through an agent."""

    mid: str  # 15 digits: "898" + area code (4) + MCC (4) + sequence (4)
    name: str
    address: str
    province: str
    city: str
    mcc: str
    region: str
    agent_id: str  # the agent company (Agent.company_id)
    legal_person: str
    licence_no: str  # 18-character unified social credit code
    settlement_account: str  # bank account the payouts go to; masked in repr
    fee_class: str  # "standard" (T+1) or "d0" (same-day payout, surcharge)

    def __repr__(self) -> str:
        return (
            f"Merchant(mid={self.mid!r}, name={self.name!r}, mcc={self.mcc!r}, "
            f"region={self.region!r}, account={mask_pan(self.settlement_account)!r})"
        )


@dataclass(frozen=True, slots=True)
class Terminal:
    """A POS terminal (one Locust user drives one)."""

    tid: str  # 8 digits
    mid: str
    region: str
    tmk: str = field(repr=False)  # 16-byte double-length 3DES key, hex, odd parity
    software_version: str = "020100"  # "MMmmpp"
    vendor: str = ""
    model: str = ""
    app_type: str = "61"  # header app type: "60" magstripe, "61" IC
    allowed: tuple[str, ...] = TXN_TYPES
    primary_path: str = ""  # proxy name: "region-<region>"
    backup_path: str = "acquirer-backup"

    def allows(self, txn_type: str) -> bool:
        return txn_type in self.allowed


@dataclass(frozen=True, slots=True)
class Card:
    """A cardholder's UnionPay card as its issuer knows it."""

    pan: str
    pin: str  # 6 digits, lab only; hidden from repr
    kind: str  # "credit" or "debit"
    balance_fen: int  # funds the issuer authorises against: balance, or open-to-buy
    credit_limit_fen: int  # credit line (0 for debit cards)
    expiry: str  # YYMM; valid through the end of that month
    status: str  # "active" or "lost" (the issuer answers 41)
    bank: str

    def __repr__(self) -> str:
        return (
            f"Card(pan={mask_pan(self.pan)!r}, kind={self.kind!r}, "
            f"expiry={self.expiry!r}, status={self.status!r}, bank={self.bank!r})"
        )

    def expired(self, as_of_yymm: str) -> bool:
        """Expired in month ``as_of_yymm`` (YYMM strings compare in date order)."""
        return self.expiry < as_of_yymm


@dataclass(frozen=True, slots=True)
class Params:
    """Lab-wide defaults every process reads, and the shares the world was built
    with. Shares are probabilities (0..1), not money."""

    min_software: str = "020000"  # below this the host asks for a TMS download
    latest_software: str = "020100"  # what the agent's TMS serves
    as_of: str = "2601"  # YYMM the hosts check card expiry against (stable results)
    cards_per_terminal: int = 4  # each terminal's own slice of the card pool
    shared_cards: int = 1  # cards borrowed from the next terminal's slice
    credit_share: float = 0.35
    expired_share: float = 0.02
    lost_share: float = 0.005
    low_funds_share: float = 0.01  # nearly empty accounts / maxed-out credit
    outdated_share: float = 0.08
    no_refund_share: float = 0.05
    ic_share: float = 0.85
    d0_share: float = 0.10
    # customer behaviour the fleet reproduces (business declines, not failures)
    wrong_pin_share: float = 0.015  # → 55
    unknown_card_share: float = 0.003  # a card from another world → 14

    def __post_init__(self) -> None:
        for name in ("min_software", "latest_software"):
            value = getattr(self, name)
            if not (isinstance(value, str) and len(value) == 6 and value.isdigit()):
                raise ConfigError(f"{name} must be 6 digits MMmmpp, got {value!r}")
        if self.min_software > self.latest_software:
            raise ConfigError("min_software is newer than latest_software")
        if not (len(self.as_of) == 4 and self.as_of.isdigit() and "01" <= self.as_of[2:] <= "12"):
            raise ConfigError(f"as_of must be YYMM, got {self.as_of!r}")
        if type(self.cards_per_terminal) is not int or self.cards_per_terminal < 1:
            raise ConfigError(f"cards_per_terminal must be ≥ 1, got {self.cards_per_terminal!r}")
        if (
            type(self.shared_cards) is not int
            or not 0 <= self.shared_cards <= self.cards_per_terminal
        ):
            raise ConfigError(
                f"shared_cards must be 0..cards_per_terminal, got {self.shared_cards!r}"
            )
        for f in fields(self):
            if f.name.endswith("_share"):
                value = getattr(self, f.name)
                if type(value) not in (int, float) or not 0.0 <= value <= 1.0:
                    raise ConfigError(f"{f.name} must be a share between 0 and 1, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Params:
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"unknown world parameter(s): {', '.join(unknown)}")
        return cls(**data)


def _unique_index(kind: str, keys: list[str]) -> dict[str, int]:
    index = {key: i for i, key in enumerate(keys)}
    if len(index) != len(keys):
        for i, key in enumerate(keys):
            if index[key] != i:  # the dict kept the last position of a repeated key
                raise ConfigError(f"world: duplicate {kind} {key!r}")
    return index


@dataclass(frozen=True, slots=True)
class World:
    """The whole world. Records are tuples in generation order; the card pool is
    laid out so terminal ``i`` owns cards ``[i·k, (i+1)·k)`` (k =
    ``params.cards_per_terminal``) — see :meth:`cards_for_terminal`."""

    seed: int
    regions: tuple[str, ...]
    agents: tuple[Agent, ...]
    merchants: tuple[Merchant, ...]
    terminals: tuple[Terminal, ...]
    cards: tuple[Card, ...]
    fees: FeeSchedule = field(default_factory=FeeSchedule)
    params: Params = field(default_factory=Params)
    format: int = FORMAT
    _tid: dict[str, int] = field(init=False, repr=False, compare=False)
    _mid: dict[str, int] = field(init=False, repr=False, compare=False)
    _pan: dict[str, int] = field(init=False, repr=False, compare=False)
    _by_region: dict[str, tuple[Terminal, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        tid = _unique_index("TID", [t.tid for t in self.terminals])
        mid = _unique_index("MID", [m.mid for m in self.merchants])
        pan = _unique_index("PAN", [c.pan for c in self.cards])
        expected_cards = len(self.terminals) * self.params.cards_per_terminal
        if len(self.cards) != expected_cards:
            raise ConfigError(
                f"world: {len(self.cards)} cards, expected terminals × cards_per_terminal "
                f"= {expected_cards}"
            )
        by_region: dict[str, list[Terminal]] = {r: [] for r in self.regions}
        for t in self.terminals:
            if t.mid not in mid:
                raise ConfigError(f"world: terminal {t.tid} names unknown merchant {t.mid}")
            bucket = by_region.get(t.region)
            if bucket is None:
                raise ConfigError(f"world: terminal {t.tid} in unknown region {t.region!r}")
            bucket.append(t)
        object.__setattr__(self, "_tid", tid)
        object.__setattr__(self, "_mid", mid)
        object.__setattr__(self, "_pan", pan)
        object.__setattr__(self, "_by_region", {r: tuple(ts) for r, ts in by_region.items()})

    def __repr__(self) -> str:
        # Never every record: a world holds hundreds of thousands.
        return (
            f"World(seed={self.seed}, format={self.format}, regions={self.regions!r}, "
            f"agents={len(self.agents)}, merchants={len(self.merchants)}, "
            f"terminals={len(self.terminals)}, cards={len(self.cards)})"
        )

    # -- lookups: None for an unknown key, which the hosts answer (97, 14, ...) --

    def terminal(self, tid: str) -> Terminal | None:
        i = self._tid.get(tid)
        return None if i is None else self.terminals[i]

    def merchant(self, mid: str) -> Merchant | None:
        i = self._mid.get(mid)
        return None if i is None else self.merchants[i]

    def card(self, pan: str) -> Card | None:
        i = self._pan.get(pan)
        return None if i is None else self.cards[i]

    def agent(self, agent_id: str) -> Agent | None:
        return next((a for a in self.agents if a.id == agent_id), None)

    def terminals_in_region(self, region: str) -> tuple[Terminal, ...]:
        return self._by_region.get(region, ())

    def terminal_index(self, tid: str) -> int:
        """Position of the terminal in ``terminals`` (KeyError if unknown)."""
        return self._tid[tid]

    def cards_for_terminal(self, tid: str) -> tuple[Card, ...]:
        """The customers' cards a terminal draws from, in a fixed order.

        Terminal ``i`` owns the slice ``[i·k, (i+1)·k)`` of the card pool and
        also sees the first ``params.shared_cards`` of the next terminal's slice
        (wrapping around): neighbours are mostly the same merchant's other
        tills, so a few regulars shop at both — shared realistically, while no
        two terminals draw from the same whole pool. KeyError for unknown TIDs.
        """
        i = self._tid[tid]
        k = self.params.cards_per_terminal
        own = self.cards[i * k : (i + 1) * k]
        n = len(self.terminals)
        if n == 1 or self.params.shared_cards == 0:
            return own
        j = (i + 1) % n
        return own + self.cards[j * k : j * k + self.params.shared_cards]

    def is_outdated(self, terminal: Terminal) -> bool:
        """Runs software older than the host accepts (``params.min_software``)."""
        return terminal.software_version < self.params.min_software

    def card_expired(self, card: Card) -> bool:
        return card.expired(self.params.as_of)

    def to_json(self) -> bytes:
        """Canonical JSON (see :mod:`poslab.world.worldfile`): same world, same bytes."""
        from poslab.world.worldfile import dumps

        return dumps(self)
