from __future__ import annotations

import dataclasses

import pytest

from poslab.errors import ConfigError
from poslab.world import Card, Params, World
from poslab.world.pan import mask_pan


def test_lookups(small_world: World) -> None:
    t = small_world.terminals[5]
    assert small_world.terminal(t.tid) is t
    m = small_world.merchant(t.mid)
    assert m is not None and m.mid == t.mid and m.region == t.region
    c = small_world.cards[17]
    assert small_world.card(c.pan) is c
    assert small_world.terminal("99999999") is None
    assert small_world.merchant("898000000000000") is None
    assert small_world.card("6222020000000000") is None
    assert small_world.agent("agent-backup") is small_world.agents[1]
    assert small_world.agent("agent-nobody") is None


def test_regions_partition_the_fleet(small_world: World) -> None:
    seen = []
    for region in small_world.regions:
        fleet = small_world.terminals_in_region(region)
        assert all(t.region == region and t.primary_path == f"region-{region}" for t in fleet)
        seen += [t.tid for t in fleet]
    assert sorted(seen) == sorted(t.tid for t in small_world.terminals)
    assert small_world.terminals_in_region("atlantis") == ()


def test_card_pools_own_slice_plus_neighbours_regulars(small_world: World) -> None:
    k = small_world.params.cards_per_terminal
    shared = small_world.params.shared_cards
    terminals = small_world.terminals
    own_slices: set[str] = set()
    for i, t in enumerate(terminals):
        pool = small_world.cards_for_terminal(t.tid)
        assert len(pool) == k + shared
        assert pool[:k] == small_world.cards[i * k : (i + 1) * k]
        nxt = (i + 1) % len(terminals)
        assert pool[k:] == small_world.cards[nxt * k : nxt * k + shared]
        own_slices.update(c.pan for c in pool[:k])
        assert small_world.cards_for_terminal(t.tid) == pool  # deterministic
    assert len(own_slices) == len(small_world.cards)  # every card is someone's regular
    with pytest.raises(KeyError):
        small_world.cards_for_terminal("99999999")


def test_single_terminal_world_shares_nothing() -> None:
    from poslab.world import generate

    world = generate(3, 1, cards_per_terminal=2)
    assert world.cards_for_terminal(world.terminals[0].tid) == world.cards


def test_records_are_frozen(small_world: World) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        small_world.terminals[0].tid = "1"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        small_world.seed = 1  # type: ignore[misc]
    assert not hasattr(small_world.cards[0], "__dict__")  # slotted


def test_repr_never_leaks_secrets(small_world: World) -> None:
    card, terminal, merchant = (
        small_world.cards[0],
        small_world.terminals[0],
        small_world.merchants[0],
    )
    text = repr(card) + repr(terminal) + repr(merchant) + repr(small_world)
    assert card.pan not in text and card.pin not in text and mask_pan(card.pan) in text
    assert terminal.tmk not in text
    assert merchant.settlement_account not in text
    assert len(repr(small_world)) < 2_000  # no dump of every record either


def test_outdated_and_expired_follow_params(small_world: World) -> None:
    for t in small_world.terminals:
        assert small_world.is_outdated(t) == (t.software_version < small_world.params.min_software)
    card = small_world.cards[0]
    assert small_world.card_expired(card) == (card.expiry < small_world.params.as_of)
    assert Card("6", "0", "debit", 0, 0, "2512", "active", "x").expired("2601")
    assert not Card("6", "0", "debit", 0, 0, "2601", "active", "x").expired("2601")


def _rebuild(world: World, **changes: object) -> World:
    base = {f.name: getattr(world, f.name) for f in dataclasses.fields(World) if f.init}
    base.update(changes)
    return World(**base)  # type: ignore[arg-type]


def test_inconsistent_worlds_are_refused(small_world: World) -> None:
    terminals = small_world.terminals
    with pytest.raises(ConfigError, match="duplicate TID"):
        _rebuild(small_world, terminals=(*terminals, terminals[0]))
    orphan = dataclasses.replace(terminals[0], mid="898000000000000")
    with pytest.raises(ConfigError, match="unknown merchant"):
        _rebuild(small_world, terminals=(orphan, *terminals[1:]))
    lost = dataclasses.replace(terminals[0], region="atlantis")
    with pytest.raises(ConfigError, match="unknown region"):
        _rebuild(small_world, terminals=(lost, *terminals[1:]))
    with pytest.raises(ConfigError, match="cards"):
        _rebuild(small_world, cards=small_world.cards[:-1])
    with pytest.raises(ConfigError, match="duplicate PAN"):
        _rebuild(small_world, cards=(*small_world.cards[:-1], small_world.cards[0]))


@pytest.mark.parametrize(
    "bad",
    [
        {"min_software": "2.1"},
        {"min_software": "020200", "latest_software": "020100"},
        {"as_of": "2613"},
        {"cards_per_terminal": 0},
        {"shared_cards": 9},
        {"expired_share": 1.5},
        {"wrong_pin_share": -0.1},
        {"lost_share": True},
    ],
)
def test_bad_params(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        Params(**bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unknown world parameter"):
        Params.from_dict({"no_such": 1})
