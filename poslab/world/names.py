"""Chinese names for people, shops and streets, drawn from faker's zh_CN
vocabularies with the world's own seeded RNG.

Why not call ``Faker("zh_CN").name()`` and ``company()`` per merchant: faker
re-weights its 400 surnames on every call (about 40 µs a name, 100 µs a
merchant — 8 s for a 100,000-terminal world), and its zh_CN ``company()``
only makes technology firms (``…科技有限公司``), not shops. The word lists are
faker's (the same from faker 30 through 40.54, checked by
tests/packaging/test_dependency_ranges.py, so names are stable); the sampling is ours.
"""

from __future__ import annotations

import random
from itertools import accumulate

from faker.providers.address.zh_CN import Provider as AddressWords
from faker.providers.company.zh_CN import Provider as CompanyWords
from faker.providers.person.zh_CN import Provider as PersonWords

__all__ = ["SHOP_NOUNS", "ChineseNames"]

# What the sign over the door says, by MCC.
SHOP_NOUNS: dict[str, tuple[str, ...]] = {
    "5411": ("超市", "生活超市", "购物中心"),
    "5499": ("便利店", "食品店", "副食店"),
    "5812": ("餐厅", "酒家", "饭店", "火锅店"),
    "5814": ("快餐", "面馆", "小吃店", "包子铺"),
    "5912": ("大药房", "药店", "医药"),
    "5999": ("商行", "日用百货", "杂货店"),
    "5311": ("百货", "购物广场", "商场"),
    "5651": ("服饰", "服装店", "时装"),
    "5541": ("加油站",),
    "5732": ("电器", "数码", "手机店"),
    "7011": ("酒店", "宾馆", "大酒店"),
}
_DEFAULT_NOUNS = ("商店",)
_STREET_SUFFIXES = ("路", "街", "大道")
# faker's zh_CN company prefixes name IT firms; keep the ones that could be a
# shop's brand (plain Chinese, no 电子/软件/科技...).
_TECH_WORDS = ("电子", "计算机", "软件", "信息", "科技", "数字", "电脑", "公司", "国际", "开发区")


def _shop_brand(prefix: str) -> bool:
    plain_chinese = all("\u4e00" <= ch <= "\u9fff" for ch in prefix)
    return plain_chinese and not any(word in prefix for word in _TECH_WORDS)


class ChineseNames:
    """A seeded source of zh_CN names (one per world, used in a fixed order)."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        surnames = PersonWords.last_names
        self._surnames = list(surnames)
        self._surname_cum = list(accumulate(float(w) for w in surnames.values()))
        self._given = list(PersonWords.first_names)
        self._brands = sorted({p for p in CompanyWords.company_prefixes if _shop_brand(p)})
        self._districts = list(AddressWords.districts)

    def surname(self) -> str:
        return self._rng.choices(self._surnames, cum_weights=self._surname_cum)[0]

    def person(self) -> str:
        """A full name, surname weighted by how common it is in China."""
        return self.surname() + self._given[self._rng.randrange(len(self._given))]

    def district(self) -> str:
        return self._districts[self._rng.randrange(len(self._districts))]

    def shop(self, mcc: str) -> str:
        """A shop sign: ``鑫博超市``, ``张记面馆``, ``华联大药房（永川店）``."""
        rng = self._rng
        nouns = SHOP_NOUNS.get(mcc, _DEFAULT_NOUNS)
        noun = nouns[rng.randrange(len(nouns))]
        if rng.random() < 0.3:
            brand = self.surname() + "记"
        else:
            brand = self._brands[rng.randrange(len(self._brands))]
        branch = f"（{self.district()}店）" if rng.random() < 0.25 else ""
        return brand + noun + branch

    def street_address(self) -> str:
        """``永川路128号``: a street named after a place or a family, and a number."""
        rng = self._rng
        base = self.district() if rng.random() < 0.5 else self.surname() + "家"
        suffix = _STREET_SUFFIXES[rng.randrange(len(_STREET_SUFFIXES))]
        return f"{base}{suffix}{rng.randint(1, 999)}号"
