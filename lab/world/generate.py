"""Build a world from a seed: the same seed and size give the same world, byte
for byte, in any process.

Randomness comes from separate seeded streams (``random.Random`` seeded with
``"<seed>:<part>"``), one per part of the world, so changing how merchants are
named never reshuffles the cards. Chinese names, companies and addresses come
from faker's zh_CN locale seeded with the same seed; card numbers do not: see
:func:`_cards` for why.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import fields
from typing import Any

from faker import Faker

from lab.errors import ConfigError
from lab.world.amounts import mcc_weights
from lab.world.fees import FeeSchedule
from lab.world.licence import make_credit_code
from lab.world.model import TXN_TYPES, Agent, Card, Merchant, Params, Terminal, World
from lab.world.pan import BINS, make_pan
from lab.world.places import AREA_CODES, provinces_by_region

__all__ = ["DEFAULT_REGIONS", "MAX_TERMINALS", "generate"]

DEFAULT_REGIONS = ("north", "south", "east")
MAX_TERMINALS = 1_000_000
_REGION_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")  # it becomes a proxy name

# Tills per merchant: most small shops have one; supermarkets a few.
_TILLS = (1, 2, 3, 4, 6)
_TILLS_CUM = (78, 90, 95, 98, 100)
# (vendor, model, weight): the terminals Chinese acquirers deploy.
_DEVICES = (
    ("Newland", "ME31", 20),
    ("Newland", "N910", 10),
    ("PAX", "S90", 18),
    ("PAX", "A920", 12),
    ("Landi", "E550", 12),
    ("Centerm", "C960", 10),
    ("Xinguodu", "K9", 8),
    ("VeriFone", "VX675", 10),
)
_DEVICES_CUM = (20, 30, 48, 60, 72, 82, 90, 100)


def _validate(seed: int, terminals: int, regions: tuple[str, ...]) -> None:
    if type(seed) is not int or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    if type(terminals) is not int or not 1 <= terminals <= MAX_TERMINALS:
        raise ConfigError(f"terminals must be between 1 and {MAX_TERMINALS}, got {terminals!r}")
    if not regions:
        raise ConfigError("at least one region is needed")
    for region in regions:
        if not _REGION_NAME.match(region):
            raise ConfigError(
                f"region name {region!r} must be lower-case letters, digits and '-' "
                "(it names the proxy region-<name>)"
            )
    if len(set(regions)) != len(regions):
        raise ConfigError(f"region names repeat: {', '.join(regions)}")


def _split_overrides(overrides: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    param_names = {f.name for f in fields(Params)}
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
    regions: tuple[str, ...] | list[str] = DEFAULT_REGIONS,
    cards_per_terminal: int = 4,
    **overrides: Any,
) -> World:
    """A world of ``terminals`` terminals (and their merchants and customers'
    cards) from ``seed``. ``overrides`` set any :class:`Params` or
    :class:`FeeSchedule` field by name (e.g. ``min_software="020003"``,
    ``debit_cap_fen=2000``); unknown names raise ConfigError."""
    regions = tuple(regions)
    _validate(seed, terminals, regions)
    param_overrides, fee_overrides = _split_overrides(overrides)
    param_overrides.setdefault("shared_cards", max(1, cards_per_terminal // 4))
    params = Params(cards_per_terminal=cards_per_terminal, **param_overrides)
    fees = FeeSchedule(**fee_overrides)

    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    agents = _agents(fake, random.Random(f"{seed}:agents"))
    merchants, fleet = _merchants_and_terminals(
        fake, random.Random(f"{seed}:merchants"), terminals, regions, params, agents[0]
    )
    cards = _cards(random.Random(f"{seed}:cards"), terminals * cards_per_terminal, params)
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


def _agents(fake: Faker, rng: random.Random) -> tuple[Agent, ...]:
    # One reseller company runs two instances of its backend (see docs/faults.md).
    company = fake.company()
    company_id = f"AG{rng.randrange(10_000):04d}"
    return tuple(
        Agent(f"agent-{role}", company_id, company, role, fake.phone_number(), path)
        for role, path in (("primary", "agent"), ("backup", "agent-backup"))
    )


def _odd_parity_key(rng: random.Random) -> str:
    # DES keys carry odd parity in each byte's low bit; HSMs and some libraries
    # reject keys without it, so the lab's keys have it.
    out = bytearray(rng.randbytes(16))
    for i, b in enumerate(out):
        if bin(b).count("1") % 2 == 0:
            out[i] = b ^ 1
    return out.hex().upper()


def _software_versions(params: Params) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(versions at or above the minimum, versions below it) for the fleet."""
    current = (params.latest_software,) + (
        (params.min_software,) if params.min_software != params.latest_software else ()
    )
    major, minor = int(params.min_software[:2]), int(params.min_software[2:4])
    older: list[str] = []
    if minor > 0:
        older.append(f"{major:02d}{minor - 1:02d}05")
    if major > 0:
        older += [f"{major - 1:02d}1203", f"{major - 1:02d}0803"]
    return current, tuple(older)


def _merchants_and_terminals(
    fake: Faker,
    rng: random.Random,
    count: int,
    regions: tuple[str, ...],
    params: Params,
    agent: Agent,
) -> tuple[tuple[Merchant, ...], tuple[Terminal, ...]]:
    mcc_codes, mcc_w = mcc_weights()
    mcc_cum = [sum(mcc_w[: i + 1]) for i in range(len(mcc_w))]
    provinces = provinces_by_region(regions)
    current, outdated = _software_versions(params)
    sequence: dict[tuple[str, str], int] = {}
    debit_bins = [b for b in BINS if b.kind == "debit"]
    merchants: list[Merchant] = []
    fleet: list[Terminal] = []
    while len(fleet) < count:
        region = regions[rng.randrange(len(regions))]
        mcc = rng.choices(mcc_codes, cum_weights=mcc_cum)[0]
        province, area, seq = _next_mid_slot(rng, provinces[region], mcc, sequence)
        mid = f"898{area}{mcc}{seq:04d}"
        account_bin = debit_bins[rng.randrange(len(debit_bins))]  # settlement accounts
        city = fake.city()
        merchants.append(
            Merchant(
                mid=mid,
                name=fake.company(),
                address=f"{province}{city}{fake.district()}区{fake.street_address()}",
                province=province,
                city=city,
                mcc=mcc,
                region=region,
                agent_id=agent.company_id,
                legal_person=fake.name(),
                licence_no=make_credit_code(rng, area + f"{rng.randrange(100):02d}"),
                settlement_account=make_pan(rng, account_bin.prefix, account_bin.length),
                fee_class="d0" if rng.random() < params.d0_share else "standard",
            )
        )
        tills = min(rng.choices(_TILLS, cum_weights=_TILLS_CUM)[0], count - len(fleet))
        for _ in range(tills):
            fleet.append(
                _terminal(rng, 10_000_001 + len(fleet), mid, region, params, current, outdated)
            )
    return tuple(merchants), tuple(fleet)


def _next_mid_slot(
    rng: random.Random, provinces: tuple[str, ...], mcc: str, sequence: dict[tuple[str, str], int]
) -> tuple[str, str, int]:
    """A province and the next free 4-digit MID sequence for it and ``mcc``."""
    start = rng.randrange(len(provinces))
    for step in range(len(provinces)):
        province = provinces[(start + step) % len(provinces)]
        area = AREA_CODES[province]
        seq = sequence.get((area, mcc), 0) + 1
        if seq <= 9999:
            sequence[(area, mcc)] = seq
            return province, area, seq
    raise ConfigError("too many merchants for one region's MID ranges: use more regions")


def _terminal(
    rng: random.Random,
    number: int,
    mid: str,
    region: str,
    params: Params,
    current: tuple[str, ...],
    outdated: tuple[str, ...],
) -> Terminal:
    vendor, model, _ = rng.choices(_DEVICES, cum_weights=_DEVICES_CUM)[0]
    if outdated and rng.random() < params.outdated_share:
        version = outdated[rng.randrange(len(outdated))]
    else:
        # Most of the up-to-date fleet already runs the latest release.
        version = current[0] if len(current) == 1 or rng.random() < 0.85 else current[1]
    no_refund = rng.random() < params.no_refund_share
    return Terminal(
        tid=f"{number:08d}",
        mid=mid,
        region=region,
        tmk=_odd_parity_key(rng),
        software_version=version,
        vendor=vendor,
        model=model,
        app_type="61" if rng.random() < params.ic_share else "60",
        allowed=tuple(t for t in TXN_TYPES if not (no_refund and t == "refund")),
        primary_path=f"region-{region}",
        backup_path="acquirer-backup",
    )


def _shift_yymm(yymm: str, months: int) -> str:
    index = int(yymm[:2]) * 12 + int(yymm[2:]) - 1 + months
    year, month = divmod(max(index, 0), 12)
    return f"{year % 100:02d}{month + 1:02d}"


def _cards(rng: random.Random, count: int, params: Params) -> tuple[Card, ...]:
    """The card pool.

    Numbers are drawn here (BIN + random digits + Luhn digit) instead of with
    faker's ``credit_card_number("unionpay")``: faker's costs about 26 µs a
    number (400,000 cards for 100,000 terminals would take 10 s alone) and its
    numbers carry no real issuer prefix, while a BIN table makes each card's
    bank agree with its number.
    """
    credit_bins = [b for b in BINS if b.kind == "credit"]
    debit_bins = [b for b in BINS if b.kind == "debit"]
    seen: set[str] = set()
    cards: list[Card] = []
    ln_debit, ln_limit = math.log(300_000), math.log(2_000_000)  # 3,000 / 20,000 yuan
    while len(cards) < count:
        credit = rng.random() < params.credit_share
        issuer = rng.choice(credit_bins if credit else debit_bins)
        pan = make_pan(rng, issuer.prefix, issuer.length)
        if pan in seen:
            continue
        seen.add(pan)
        low_funds = rng.random() < params.low_funds_share
        if credit:
            # Limits come in round thousands of yuan; open-to-buy is what is left.
            limit = max(1, round(rng.lognormvariate(ln_limit, 0.8) / 100_000)) * 100_000
            available = rng.randrange(3_000) if low_funds else int(limit * rng.uniform(0.2, 1.0))
        else:
            limit = 0
            available = (
                rng.randrange(2_000) if low_funds else int(rng.lognormvariate(ln_debit, 1.2))
            )
        if rng.random() < params.expired_share:
            expiry = _shift_yymm(params.as_of, -rng.randint(1, 36))
        else:
            expiry = _shift_yymm(params.as_of, rng.randint(0, 72))
        cards.append(
            Card(
                pan=pan,
                pin=f"{rng.randrange(1_000_000):06d}",
                kind="credit" if credit else "debit",
                balance_fen=available,
                credit_limit_fen=limit,
                expiry=expiry,
                status="lost" if rng.random() < params.lost_share else "active",
                bank=issuer.bank,
            )
        )
    return tuple(cards)
