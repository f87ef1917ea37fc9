from __future__ import annotations

import random

import pytest

from poslab.world import World
from poslab.world.licence import make_credit_code, valid_credit_code
from poslab.world.names import SHOP_NOUNS
from poslab.world.places import AREA_CODES, CITIES, DIVISION_CODES, provinces_by_region


@pytest.mark.parametrize("code", ["91350100M000100Y43", "91440300708461136T"])
def test_published_credit_codes_validate(code: str) -> None:
    assert valid_credit_code(code)


@pytest.mark.parametrize(
    "code", ["91350100M000100Y44", "91350100M000100Y4", "91350100M0001O0Y43", "911100001000036821"]
)
def test_wrong_credit_codes_do_not(code: str) -> None:
    assert not valid_credit_code(code)


def test_made_codes_validate_and_name_their_district() -> None:
    rng = random.Random(8)
    for _ in range(500):
        code = make_credit_code(rng, "440106")
        assert valid_credit_code(code) and code.startswith("91440106")


def test_every_province_has_codes_and_cities() -> None:
    assert set(AREA_CODES) == set(CITIES) == set(DIVISION_CODES)
    assert all(len(a) == 4 and a.isdigit() for a in AREA_CODES.values())
    assert all(len(d) == 2 and d.isdigit() for d in DIVISION_CODES.values())
    assert len(set(AREA_CODES.values())) == len(AREA_CODES)
    assert all(cities and all(c.endswith("市") for c in cities) for cities in CITIES.values())


def test_compass_regions_follow_geography() -> None:
    mapping = provinces_by_region(("north", "south", "east"))
    assert "北京市" in mapping["north"] and "广东省" in mapping["south"]
    assert "上海市" in mapping["east"]


def test_other_region_names_share_out_every_province() -> None:
    mapping = provinces_by_region(("a", "b", "c", "d"))
    assigned = [p for provinces in mapping.values() for p in provinces]
    assert sorted(assigned) == sorted(AREA_CODES)
    many = provinces_by_region(tuple(f"r{i}" for i in range(40)))
    assert all(len(p) == 1 for p in many.values())


def test_shop_names_fit_their_category(big_world: World) -> None:
    for m in big_world.merchants[:2000]:
        assert any(noun in m.name for noun in SHOP_NOUNS[m.mcc]), (m.mcc, m.name)
        assert not any(w in m.name for w in ("科技", "软件", "电子"))
