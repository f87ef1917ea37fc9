"""Where shops are: provinces, their People's Bank area codes, and which lab
region each belongs to.

A merchant ID in the CUP style starts ``898`` + the 4-digit area code of the
merchant's location + its MCC, so the table here shapes every MID.
"""

from __future__ import annotations

__all__ = ["AREA_CODES", "provinces_by_region"]

# Province → area code (地区码) of its capital, as used in CUP merchant IDs.
AREA_CODES: dict[str, str] = {
    "北京市": "1000",
    "天津市": "1100",
    "河北省": "1210",
    "山西省": "1610",
    "内蒙古自治区": "1910",
    "辽宁省": "2210",
    "吉林省": "2410",
    "黑龙江省": "2610",
    "上海市": "2900",
    "江苏省": "3010",
    "浙江省": "3310",
    "安徽省": "3610",
    "福建省": "3910",
    "江西省": "4210",
    "山东省": "4510",
    "河南省": "4910",
    "湖北省": "5210",
    "湖南省": "5510",
    "广东省": "5810",
    "广西壮族自治区": "6110",
    "海南省": "6410",
    "四川省": "6510",
    "贵州省": "7010",
    "云南省": "7310",
    "陕西省": "7910",
    "甘肃省": "8210",
    "青海省": "8510",
    "宁夏回族自治区": "8710",
    "新疆维吾尔自治区": "8810",
}

# For region names that are compass points, real geography; any other names
# share the provinces out in turn.
_GEOGRAPHY: dict[str, tuple[str, ...]] = {
    "north": (
        "北京市",
        "天津市",
        "河北省",
        "山西省",
        "内蒙古自治区",
        "辽宁省",
        "吉林省",
        "黑龙江省",
        "山东省",
        "河南省",
    ),
    "south": ("广东省", "广西壮族自治区", "海南省", "福建省", "湖南省"),
    "east": ("上海市", "江苏省", "浙江省", "安徽省", "江西省"),
    "west": (
        "四川省",
        "贵州省",
        "云南省",
        "陕西省",
        "甘肃省",
        "青海省",
        "宁夏回族自治区",
        "新疆维吾尔自治区",
    ),
    "central": ("湖北省", "河南省", "湖南省"),
}


def provinces_by_region(regions: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """The provinces whose shops each region's terminals stand in (never empty)."""
    if all(r in _GEOGRAPHY for r in regions):
        return {r: _GEOGRAPHY[r] for r in regions}
    provinces = list(AREA_CODES)
    if len(regions) > len(provinces):
        return {r: (provinces[i % len(provinces)],) for i, r in enumerate(regions)}
    return {r: tuple(provinces[i :: len(regions)]) for i, r in enumerate(regions)}
