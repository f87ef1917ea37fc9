"""Where shops are: provinces, their cities, the People's Bank area codes, and
which lab region each province belongs to.

A CUP-style merchant ID starts ``898`` + the 4-digit area code of the
merchant's province (its capital's code) + the MCC, so this table shapes every
MID; the cities make addresses read like real ones.
"""

from __future__ import annotations

__all__ = ["AREA_CODES", "CITIES", "DIVISION_CODES", "provinces_by_region"]

# Province → (GB/T 2260 division code, area code 地区码 of its capital, a few
# of its cities, capital first).
_PROVINCES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "北京市": ("11", "1000", ("北京市",)),
    "天津市": ("12", "1100", ("天津市",)),
    "河北省": ("13", "1210", ("石家庄市", "唐山市", "保定市", "邯郸市")),
    "山西省": ("14", "1610", ("太原市", "大同市", "运城市")),
    "内蒙古自治区": ("15", "1910", ("呼和浩特市", "包头市", "赤峰市")),
    "辽宁省": ("21", "2210", ("沈阳市", "大连市", "鞍山市")),
    "吉林省": ("22", "2410", ("长春市", "吉林市", "延吉市")),
    "黑龙江省": ("23", "2610", ("哈尔滨市", "齐齐哈尔市", "大庆市")),
    "上海市": ("31", "2900", ("上海市",)),
    "江苏省": ("32", "3010", ("南京市", "苏州市", "无锡市", "常州市", "南通市")),
    "浙江省": ("33", "3310", ("杭州市", "宁波市", "温州市", "绍兴市", "金华市")),
    "安徽省": ("34", "3610", ("合肥市", "芜湖市", "蚌埠市")),
    "福建省": ("35", "3910", ("福州市", "厦门市", "泉州市")),
    "江西省": ("36", "4210", ("南昌市", "赣州市", "九江市")),
    "山东省": ("37", "4510", ("济南市", "青岛市", "烟台市", "潍坊市")),
    "河南省": ("41", "4910", ("郑州市", "洛阳市", "南阳市")),
    "湖北省": ("42", "5210", ("武汉市", "宜昌市", "襄阳市")),
    "湖南省": ("43", "5510", ("长沙市", "株洲市", "衡阳市")),
    "广东省": ("44", "5810", ("广州市", "深圳市", "东莞市", "佛山市", "珠海市")),
    "广西壮族自治区": ("45", "6110", ("南宁市", "柳州市", "桂林市")),
    "海南省": ("46", "6410", ("海口市", "三亚市")),
    "四川省": ("51", "6510", ("成都市", "绵阳市", "宜宾市")),
    "贵州省": ("52", "7010", ("贵阳市", "遵义市")),
    "云南省": ("53", "7310", ("昆明市", "大理市", "曲靖市")),
    "陕西省": ("61", "7910", ("西安市", "宝鸡市", "咸阳市")),
    "甘肃省": ("62", "8210", ("兰州市", "天水市")),
    "青海省": ("63", "8510", ("西宁市",)),
    "宁夏回族自治区": ("64", "8710", ("银川市",)),
    "新疆维吾尔自治区": ("65", "8810", ("乌鲁木齐市", "喀什市")),
}
DIVISION_CODES: dict[str, str] = {p: gb for p, (gb, _, _) in _PROVINCES.items()}
AREA_CODES: dict[str, str] = {p: area for p, (_, area, _) in _PROVINCES.items()}
CITIES: dict[str, tuple[str, ...]] = {p: cities for p, (_, _, cities) in _PROVINCES.items()}

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
    provinces = list(_PROVINCES)
    if len(regions) > len(provinces):
        return {r: (provinces[i % len(provinces)],) for i, r in enumerate(regions)}
    return {r: tuple(provinces[i :: len(regions)]) for i, r in enumerate(regions)}
