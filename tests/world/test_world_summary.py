from __future__ import annotations

from poslab.world import World
from poslab.world.summary import summarize


def test_summary_counts_agree_with_the_records(big_world: World) -> None:
    s = summarize(big_world)
    assert (s.terminals, s.merchants, s.cards, s.agents) == (
        5000,
        len(big_world.merchants),
        20000,
        2,
    )
    assert sum(r.terminals for r in s.regions) == s.terminals
    assert sum(r.merchants for r in s.regions) == s.merchants
    assert sum(r.outdated for r in s.regions) == sum(
        big_world.is_outdated(t) for t in big_world.terminals
    )
    assert sum(r.no_refund for r in s.regions) == sum(
        "refund" not in t.allowed for t in big_world.terminals
    )
    assert sum(s.cards_by_kind.values()) == s.cards
    assert s.expired_cards == sum(c.expiry < big_world.params.as_of for c in big_world.cards)
    assert s.lost_cards == sum(c.status == "lost" for c in big_world.cards)
    assert sum(s.merchants_by_mcc.values()) == s.merchants
    assert s.share(1, 4) == 0.25 and s.share(1, 0) == 0.0
