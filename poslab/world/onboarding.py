"""Merchants signed up through the agent, and the terminals deployed to them.

Shapes follow an acquirer's book of small merchants: most shops have one till,
a few supermarkets have several; a share of the fleet runs software older than
the host accepts (the ``outdated-software`` scenario), a small share is not
allowed refunds (the host answers 58), most terminals read chip cards.
"""

from __future__ import annotations

import random
from itertools import accumulate

from poslab.errors import ConfigError
from poslab.world.amounts import mcc_weights
from poslab.world.licence import make_credit_code
from poslab.world.model import TXN_TYPES, Agent, Merchant, Params, Terminal
from poslab.world.names import ChineseNames
from poslab.world.pan import BINS, make_pan
from poslab.world.places import AREA_CODES, CITIES, DIVISION_CODES, provinces_by_region

__all__ = ["FIRST_TID", "onboard", "software_versions"]

FIRST_TID = 10_000_001
_MID_SEQUENCE_MAX = 9999  # 4 digits at the end of the MID

# Tills per merchant: most small shops have one; supermarkets a few.
_TILLS = (1, 2, 3, 4, 6)
_TILLS_CUM = (78, 90, 95, 98, 100)
# (vendor, model): the terminals Chinese acquirers deploy, by weight.
_DEVICES = (
    ("Newland", "ME31"),
    ("Newland", "N910"),
    ("PAX", "S90"),
    ("PAX", "A920"),
    ("Landi", "E550"),
    ("Centerm", "C960"),
    ("Xinguodu", "K9"),
    ("VeriFone", "VX675"),
)
_DEVICES_CUM = tuple(accumulate((20, 10, 18, 12, 12, 10, 8, 10)))
_ON_LATEST_SHARE = 0.85  # of the up-to-date fleet, how many already run the newest


def software_versions(params: Params) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(versions the host accepts, versions below ``params.min_software``)."""
    current: tuple[str, ...] = (params.latest_software,)
    if params.min_software != params.latest_software:
        current += (params.min_software,)
    major, minor = int(params.min_software[:2]), int(params.min_software[2:4])
    older: list[str] = []
    if minor > 0:
        older.append(f"{major:02d}{minor - 1:02d}05")
    if major > 0:
        older += [f"{major - 1:02d}1203", f"{major - 1:02d}0803"]
    return current, tuple(older)


# DES keys carry odd parity in each byte's low bit; HSMs and some crypto
# libraries reject keys without it. This table fixes a byte's parity.
_ODD_PARITY = bytes(b ^ 1 if b.bit_count() % 2 == 0 else b for b in range(256))


def _odd_parity_key(rng: random.Random) -> str:
    return rng.randbytes(16).translate(_ODD_PARITY).hex().upper()


class _MidAllocator:
    """Hands out ``898`` + area + MCC + 4-digit sequence, never twice."""

    def __init__(self) -> None:
        self._next: dict[tuple[str, str], int] = {}

    def allocate(self, rng: random.Random, provinces: tuple[str, ...], mcc: str) -> tuple[str, str]:
        start = rng.randrange(len(provinces))
        for step in range(len(provinces)):
            province = provinces[(start + step) % len(provinces)]
            area = AREA_CODES[province]
            seq = self._next.get((area, mcc), 0) + 1
            if seq <= _MID_SEQUENCE_MAX:
                self._next[(area, mcc)] = seq
                return province, f"898{area}{mcc}{seq:04d}"
        raise ConfigError("too many merchants for one region's MID ranges: use more regions")


def onboard(
    rng: random.Random,
    count: int,
    regions: tuple[str, ...],
    params: Params,
    agent: Agent,
) -> tuple[tuple[Merchant, ...], tuple[Terminal, ...]]:
    """Merchants, and exactly ``count`` terminals numbered from ``FIRST_TID``;
    a merchant's terminals are consecutive."""
    names = ChineseNames(rng)
    mcc_codes, weights = mcc_weights()
    mcc_cum = list(accumulate(weights))
    provinces = provinces_by_region(regions)
    current, outdated = software_versions(params)
    debit_bins = [b for b in BINS if b.kind == "debit"]  # payouts go to debit accounts
    mids = _MidAllocator()
    merchants: list[Merchant] = []
    fleet: list[Terminal] = []
    while len(fleet) < count:
        region = regions[rng.randrange(len(regions))]
        mcc = rng.choices(mcc_codes, cum_weights=mcc_cum)[0]
        province, mid = mids.allocate(rng, provinces[region], mcc)
        cities = CITIES[province]
        city = cities[rng.randrange(len(cities))]
        account = debit_bins[rng.randrange(len(debit_bins))]
        merchants.append(
            Merchant(
                mid=mid,
                name=names.shop(mcc),
                address=f"{province}{city}{names.district()}区{names.street_address()}",
                province=province,
                city=city,
                mcc=mcc,
                region=region,
                agent_id=agent.company_id,
                legal_person=names.person(),
                # registered in a district of the capital: PP01xx
                licence_no=make_credit_code(
                    rng, f"{DIVISION_CODES[province]}01{rng.randrange(1, 20):02d}"
                ),
                settlement_account=make_pan(rng, account.prefix, account.length),
                fee_class="d0" if rng.random() < params.d0_share else "standard",
            )
        )
        tills = min(rng.choices(_TILLS, cum_weights=_TILLS_CUM)[0], count - len(fleet))
        for _ in range(tills):
            number = FIRST_TID + len(fleet)
            fleet.append(_terminal(rng, number, mid, region, params, current, outdated))
    return tuple(merchants), tuple(fleet)


def _terminal(
    rng: random.Random,
    number: int,
    mid: str,
    region: str,
    params: Params,
    current: tuple[str, ...],
    outdated: tuple[str, ...],
) -> Terminal:
    vendor, model = rng.choices(_DEVICES, cum_weights=_DEVICES_CUM)[0]
    if outdated and rng.random() < params.outdated_share:
        version = outdated[rng.randrange(len(outdated))]
    elif len(current) == 1 or rng.random() < _ON_LATEST_SHARE:
        version = current[0]
    else:
        version = current[1]
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
