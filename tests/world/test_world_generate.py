from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time
from collections import Counter

import pytest

from poslab.errors import ConfigError
from poslab.world import World, generate
from poslab.world.licence import valid_credit_code
from poslab.world.pan import luhn_valid
from poslab.world.places import AREA_CODES

_CHILD = """
import hashlib, sys
from poslab.world import generate
world = generate(2024, 300, regions=("north", "west"))
sys.stdout.write(hashlib.sha256(world.to_json()).hexdigest())
"""


def test_same_seed_same_bytes() -> None:
    a = generate(2024, 300).to_json()
    b = generate(2024, 300).to_json()
    assert a == b
    assert generate(2025, 300).to_json() != a
    assert generate(2024, 301).to_json() != a


def test_same_bytes_in_another_process_with_another_hash_seed() -> None:
    here = hashlib.sha256(generate(2024, 300, regions=("north", "west")).to_json()).hexdigest()
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    child = subprocess.run(
        [sys.executable, "-c", _CHILD],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    assert child.stdout == here


def test_a_bigger_world_extends_nothing_else() -> None:
    # Separate random streams: the cards do not depend on how merchants were named.
    small, other_regions = generate(5, 50), generate(5, 50, regions=("a", "b"))
    assert small.cards == other_regions.cards


def test_sizes_and_identifiers(big_world: World) -> None:
    assert len(big_world.terminals) == 5000
    assert len(big_world.cards) == 5000 * big_world.params.cards_per_terminal
    assert [a.role for a in big_world.agents] == ["primary", "backup"]
    assert [a.path for a in big_world.agents] == ["agent", "agent-backup"]
    assert len({a.company_id for a in big_world.agents}) == 1
    tids = [t.tid for t in big_world.terminals]
    assert all(re.fullmatch(r"\d{8}", t) for t in tids) and len(set(tids)) == len(tids)
    for m in big_world.merchants:
        assert re.fullmatch(r"898\d{12}", m.mid)
        assert m.mid[3:7] == AREA_CODES[m.province] and m.mid[7:11] == m.mcc
        assert m.agent_id == big_world.agents[0].company_id
        assert valid_credit_code(m.licence_no)
        assert luhn_valid(m.settlement_account)
        assert m.fee_class in ("standard", "d0")
        assert m.address.startswith(m.province + m.city)
    # every merchant has at least one terminal, and its terminals are consecutive
    owners = [t.mid for t in big_world.terminals]
    assert set(owners) == {m.mid for m in big_world.merchants}
    assert [mid for i, mid in enumerate(owners) if i == 0 or owners[i - 1] != mid] == [
        m.mid for m in big_world.merchants
    ]


def test_terminal_fields(big_world: World) -> None:
    for t in big_world.terminals:
        key = bytes.fromhex(t.tmk)
        assert len(key) == 16 and all(b.bit_count() % 2 == 1 for b in key)  # odd parity
        assert re.fullmatch(r"\d{6}", t.software_version)
        assert t.app_type in ("60", "61")
        assert t.backup_path == "acquirer-backup" and t.primary_path == f"region-{t.region}"
        assert {"sale", "void", "balance"} <= set(t.allowed)
    assert len({t.tmk for t in big_world.terminals}) == len(big_world.terminals)


def test_cards_are_unionpay_luhn_valid(big_world: World) -> None:
    pans = [c.pan for c in big_world.cards]
    assert len(set(pans)) == len(pans)
    for c in big_world.cards:
        assert c.pan.startswith("62") and 16 <= len(c.pan) <= 19 and luhn_valid(c.pan)
        assert re.fullmatch(r"\d{6}", c.pin)
        assert re.fullmatch(r"\d{2}(0[1-9]|1[0-2])", c.expiry)
        assert c.status in ("active", "lost")
        assert type(c.balance_fen) is int and c.balance_fen >= 0
        if c.kind == "credit":
            assert c.credit_limit_fen > 0 and c.balance_fen <= c.credit_limit_fen
        else:
            assert c.kind == "debit" and c.credit_limit_fen == 0


def _share(count: int, total: int) -> float:
    return count / total


def test_realistic_shares(big_world: World) -> None:
    p = big_world.params
    fleet, cards = big_world.terminals, big_world.cards
    # Tolerances are about four standard deviations at these sizes.
    outdated = _share(sum(big_world.is_outdated(t) for t in fleet), len(fleet))
    assert outdated == pytest.approx(p.outdated_share, abs=0.016)
    no_refund = _share(sum(not t.allows("refund") for t in fleet), len(fleet))
    assert no_refund == pytest.approx(p.no_refund_share, abs=0.013)
    ic = _share(sum(t.app_type == "61" for t in fleet), len(fleet))
    assert ic == pytest.approx(p.ic_share, abs=0.02)
    credit = _share(sum(c.kind == "credit" for c in cards), len(cards))
    assert credit == pytest.approx(p.credit_share, abs=0.015)
    expired = _share(sum(big_world.card_expired(c) for c in cards), len(cards))
    assert expired == pytest.approx(p.expired_share, abs=0.005)
    lost = _share(sum(c.status == "lost" for c in cards), len(cards))
    assert lost == pytest.approx(p.lost_share, abs=0.0025)
    d0 = _share(sum(m.fee_class == "d0" for m in big_world.merchants), len(big_world.merchants))
    assert d0 == pytest.approx(p.d0_share, abs=0.03)
    tills = len(fleet) / len(big_world.merchants)
    assert 1.2 < tills < 1.6  # mostly one till per shop


def test_fleet_software_mix(big_world: World) -> None:
    versions = Counter(t.software_version for t in big_world.terminals)
    p = big_world.params
    assert versions.most_common(1)[0][0] == p.latest_software
    assert all(v <= p.latest_software for v in versions)
    assert any(v < p.min_software for v in versions)


def test_insufficient_funds_rate_is_realistic(big_world: World) -> None:
    """Sales drawn as terminals draw them are above the card's funds (→ 51) in
    one to four percent of cases."""
    import random

    from poslab.world import draw_amount

    rng = random.Random(51)
    short = total = 0
    for t in big_world.terminals:
        mcc = big_world.merchant(t.mid).mcc  # type: ignore[union-attr]
        pool = big_world.cards_for_terminal(t.tid)
        for _ in range(4):
            card = pool[rng.randrange(len(pool))]
            short += draw_amount(mcc, rng) > card.balance_fen
            total += 1
    assert 0.01 <= short / total <= 0.04


def test_regions(big_world: World) -> None:
    assert big_world.regions == ("north", "south", "east")
    counts = Counter(t.region for t in big_world.terminals)
    assert set(counts) == set(big_world.regions)
    assert min(counts.values()) > 0.25 * len(big_world.terminals)
    custom = generate(1, 40, regions=["zone-a", "zone-b"])
    assert {t.primary_path for t in custom.terminals} <= {"region-zone-a", "region-zone-b"}


def test_overrides_reach_params_and_fees() -> None:
    world = generate(
        9, 400, cards_per_terminal=8, min_software="020003", outdated_share=0.5, debit_cap_fen=2000
    )
    assert world.params.min_software == "020003" and world.params.cards_per_terminal == 8
    assert world.params.shared_cards == 2
    assert world.fees.debit_cap_fen == 2000
    assert len(world.cards) == 3200
    outdated = sum(world.is_outdated(t) for t in world.terminals) / 400
    assert 0.4 < outdated < 0.6


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((1, 0), {}, "terminals"),
        ((1, -5), {}, "terminals"),
        ((1, 10**7), {}, "terminals"),
        ((-1, 10), {}, "seed"),
        ((1, 10), {"regions": ()}, "region"),
        ((1, 10), {"regions": ("north", "north")}, "repeat"),
        ((1, 10), {"regions": ("North",)}, "region name"),
        ((1, 10), {"regions": ("a b",)}, "region name"),
        ((1, 10), {"regions": "north"}, "string"),
        ((1, 10), {"cards_per_terminal": 0}, "cards per terminal"),
        ((1, 10), {"no_such_setting": 1}, "unknown world setting"),
        ((1, 10), {"expired_share": 2.0}, "expired_share"),
        ((1, 10), {"credit_ppm": -1}, "credit_ppm"),
    ],
)
def test_bad_arguments(args: tuple[int, int], kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        generate(*args, **kwargs)  # type: ignore[arg-type]


def test_ten_thousand_terminals_well_under_ten_seconds() -> None:
    started = time.perf_counter()
    world = generate(10, 10_000)
    elapsed = time.perf_counter() - started
    assert len(world.terminals) == 10_000
    assert elapsed < 10.0, f"generating 10,000 terminals took {elapsed:.1f} s"
