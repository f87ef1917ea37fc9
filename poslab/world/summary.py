"""What a world holds, in numbers: the shares the scenarios rely on (outdated
software, expired and lost cards, terminals without refunds), for
``lab world show`` and for checking a world before a run."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from poslab.world.model import World

__all__ = ["RegionSummary", "WorldSummary", "summarize"]


@dataclass(frozen=True, slots=True)
class RegionSummary:
    region: str
    merchants: int
    terminals: int
    outdated: int  # terminals below params.min_software
    no_refund: int  # terminals the host answers 58 for refunds
    magstripe: int  # terminals with app type 60


@dataclass(frozen=True, slots=True)
class WorldSummary:
    seed: int
    format: int
    agents: int
    merchants: int
    terminals: int
    cards: int
    regions: tuple[RegionSummary, ...]
    cards_by_kind: dict[str, int]
    expired_cards: int
    lost_cards: int
    low_funds_cards: int  # under 20 yuan to spend
    merchants_by_mcc: dict[str, int]
    d0_merchants: int

    def share(self, count: int, of: int) -> float:
        return count / of if of else 0.0


_LOW_FUNDS_FEN = 2_000


def summarize(world: World) -> WorldSummary:
    merchants_in: Counter[str] = Counter(m.region for m in world.merchants)
    regions = []
    for region in world.regions:
        fleet = world.terminals_in_region(region)
        regions.append(
            RegionSummary(
                region=region,
                merchants=merchants_in[region],
                terminals=len(fleet),
                outdated=sum(1 for t in fleet if world.is_outdated(t)),
                no_refund=sum(1 for t in fleet if not t.allows("refund")),
                magstripe=sum(1 for t in fleet if t.app_type == "60"),
            )
        )
    return WorldSummary(
        seed=world.seed,
        format=world.format,
        agents=len(world.agents),
        merchants=len(world.merchants),
        terminals=len(world.terminals),
        cards=len(world.cards),
        regions=tuple(regions),
        cards_by_kind=dict(sorted(Counter(c.kind for c in world.cards).items())),
        expired_cards=sum(1 for c in world.cards if world.card_expired(c)),
        lost_cards=sum(1 for c in world.cards if c.status == "lost"),
        low_funds_cards=sum(1 for c in world.cards if c.balance_fen < _LOW_FUNDS_FEN),
        merchants_by_mcc=dict(sorted(Counter(m.mcc for m in world.merchants).items())),
        d0_merchants=sum(1 for m in world.merchants if m.fee_class == "d0"),
    )
