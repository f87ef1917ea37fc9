"""Build a world from a seed: the same seed and size give the same world, byte
for byte, in any process.

Randomness comes from separate ``random.Random`` streams seeded with
``"<seed>:<part>"`` (string seeds hash with SHA-512, independent of
``PYTHONHASHSEED``), one per part of the world, so changing how merchants are
named never reshuffles the cards. The agent company comes from
``Faker("zh_CN")`` seeded with the same seed; merchants' names use faker's
zh_CN word lists (see :mod:`poslab.world.names`).

Lognormal draws use ``math.log``/``exp``; a platform whose libm rounds the
last bit differently could, very rarely, differ by one fen. Runs compare
worlds generated on the same machine, or ship the world file itself.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from poslab.common import paused_gc
from poslab.errors import ConfigError
from poslab.world.fees import FeeSchedule
from poslab.world.issuance import issue_cards
from poslab.world.model import Agent, Params, World

__all__ = ["DEFAULT_REGIONS", "MAX_TERMINALS", "generate"]

DEFAULT_REGIONS = ("north", "south", "east")
MAX_TERMINALS = 1_000_000
_REGION_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")  # it becomes a proxy name


def _validate(seed: int, terminals: int, regions: tuple[str, ...], cards_per_terminal: int) -> None:
    if type(seed) is not int or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    if type(terminals) is not int or not 1 <= terminals <= MAX_TERMINALS:
        raise ConfigError(f"terminals must be between 1 and {MAX_TERMINALS}, got {terminals!r}")
    if type(cards_per_terminal) is not int or not 1 <= cards_per_terminal <= 100:
        raise ConfigError(
            f"cards per terminal must be between 1 and 100, got {cards_per_terminal!r}"
        )
    if not regions:
        raise ConfigError("at least one region is needed")
    for region in regions:
        if not isinstance(region, str) or not _REGION_NAME.match(region):
            raise ConfigError(
                f"region name {region!r} must be lower-case letters, digits and '-', "
                "starting with a letter (it names the proxy region-<name>)"
            )
    if len(set(regions)) != len(regions):
        raise ConfigError(f"region names repeat: {', '.join(regions)}")


def _split_overrides(overrides: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    param_names = {f.name for f in fields(Params)} - {"cards_per_terminal"}
    fee_names = {f.name for f in fields(FeeSchedule)}
    unknown = sorted(set(overrides) - param_names - fee_names)
    if unknown:
        raise ConfigError(f"unknown world setting(s): {', '.join(unknown)}")
    params = {k: v for k, v in overrides.items() if k in param_names}
    fees = {k: v for k, v in overrides.items() if k in fee_names}
    return params, fees


def generate(
    seed: int,
    terminals: int,
    *,
    regions: Sequence[str] = DEFAULT_REGIONS,
    cards_per_terminal: int = 4,
    **overrides: Any,
) -> World:
    """A world of ``terminals`` terminals, their merchants and their customers'
    cards (``terminals × cards_per_terminal``), from ``seed``.

    ``overrides`` set any other :class:`Params` or :class:`FeeSchedule` field by
    name (``min_software="020003"``, ``expired_share=0.05``,
    ``debit_cap_fen=2000``); an unknown name raises ConfigError.
    ``shared_cards`` defaults to a quarter of ``cards_per_terminal`` (at least 1).
    """
    if isinstance(regions, str):  # "north" would otherwise be five regions
        raise ConfigError(f"regions must be a list of names, got the string {regions!r}")
    regions = tuple(regions)
    _validate(seed, terminals, regions, cards_per_terminal)
    param_overrides, fee_overrides = _split_overrides(overrides)
    param_overrides.setdefault("shared_cards", max(1, cards_per_terminal // 4))
    params = Params(cards_per_terminal=cards_per_terminal, **param_overrides)
    fees = FeeSchedule(**fee_overrides)

    # Imported here, not at the top: faker takes ~0.1 s to import and every
    # process imports poslab.world, while only the one that generates needs it.
    from poslab.world.onboarding import onboard

    with paused_gc():
        agents = _agents(seed)
        merchants, fleet = onboard(
            random.Random(f"{seed}:merchants"), terminals, regions, params, agents[0]
        )
        cards = issue_cards(random.Random(f"{seed}:cards"), terminals * cards_per_terminal, params)
        return World(
            seed=seed,
            regions=regions,
            agents=agents,
            merchants=merchants,
            terminals=fleet,
            cards=cards,
            fees=fees,
            params=params,
        )


def _agents(seed: int) -> tuple[Agent, ...]:
    """One reseller company running two instances of its backend, as the stack
    starts them (``agent-primary`` behind proxy ``agent``, ``agent-backup``
    behind ``agent-backup``; see docs/faults.md)."""
    from faker import Faker  # see generate(): only the generating process pays for it

    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    company = fake.company()  # resellers are the technology firms faker names
    company_id = f"AG{random.Random(f'{seed}:agents').randrange(10_000):04d}"
    return tuple(
        Agent(f"agent-{role}", company_id, company, role, fake.phone_number(), path)
        for role, path in (("primary", "agent"), ("backup", "agent-backup"))
    )
