"""Onboarding applications for the tests: valid identity numbers and small
files with real magic bytes (the agent types uploads by their bytes)."""

from __future__ import annotations

import random
from typing import Any

from poslab.world import World
from poslab.world.licence import make_credit_code
from poslab.world.pan import make_pan
from poslab.world.places import provinces_by_region

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(200))
PNG = b"\x89PNG\r\n\x1a\n" + bytes(200)
PDF = b"%PDF-1.4\n%lab licence scan\n" + b"0" * 200
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number(born: str = "19850412", area: str = "110101", seq: str = "123") -> str:
    body = area + born + seq
    total = sum(int(c) * w for c, w in zip(body, _ID_WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]


def application_form(world: World, seed: int = 1, **overrides: Any) -> dict[str, Any]:
    rng = random.Random(seed)
    region = world.regions[0]
    form: dict[str, Any] = {
        "merchant_name": "好又多便利店",
        "legal_person": "王小明",
        "legal_person_id": id_number(),
        "licence_no": make_credit_code(rng, "110101"),
        "settlement_account": make_pan(rng, "621700", 19),
        "mcc": "5411",
        "region": region,
        "province": provinces_by_region(world.regions)[region][0],
        "address": "北京市朝阳区建国路88号",
        "phone": "010-12345678",
        "terminal_count": "2",
    }
    form.update(overrides)
    return form


def all_documents() -> list[tuple[str, tuple[str, bytes, str]]]:
    return [
        ("business_licence", ("licence.pdf", PDF, "application/pdf")),
        ("legal_person_id_card", ("id.jpg", JPEG, "image/jpeg")),
        ("settlement_card", ("card.png", PNG, "image/png")),
        ("shop_photos", ("front.jpg", JPEG, "image/jpeg")),
        ("shop_photos", ("inside.png", PNG, "image/png")),
    ]
