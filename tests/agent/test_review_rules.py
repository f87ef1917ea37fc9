"""The reviewer's rules, without a server."""

from __future__ import annotations

import datetime as dt
from typing import Any

from poslab.mocks.agent.review_rules import review, sniff_content_type, valid_id_number
from poslab.world import World
from tests.agent.documents import JPEG, PDF, PNG, application_form, id_number

TODAY = dt.date(2026, 1, 15)


def _doc(kind: str, content_type: str = "image/jpeg", size: int = 100) -> dict[str, Any]:
    return {"kind": kind, "filename": f"{kind}.bin", "content_type": content_type, "size": size}


def _complete(world: World, **overrides: Any) -> dict[str, Any]:
    data = application_form(world, **overrides)
    data["documents"] = [
        _doc("business_licence", "application/pdf"),
        _doc("legal_person_id_card"),
        _doc("settlement_card", "image/png"),
        _doc("shop_photo"),
    ]
    return data


def test_a_complete_valid_application_passes(agent_world: World) -> None:
    assert review(_complete(agent_world), TODAY) == []


def test_missing_documents_are_named_in_one_reason(agent_world: World) -> None:
    data = _complete(agent_world)
    data["documents"] = [_doc("business_licence", "application/pdf")]
    reasons = review(data, TODAY)
    assert reasons == [
        "missing documents: legal person's ID card, settlement card, shop photos (at least one)"
    ]


def test_every_problem_is_reported_at_once(agent_world: World) -> None:
    data = _complete(agent_world)
    data["licence_no"] = data["licence_no"][:-1] + ("0" if data["licence_no"][-1] != "0" else "1")
    data["legal_person_id"] = id_number(born="20150101")  # a child
    data["settlement_account"] = data["settlement_account"][:-1] + str(
        (int(data["settlement_account"][-1]) + 1) % 10
    )
    data["documents"][3] = _doc("shop_photo", "application/pdf")
    data["documents"][1] = _doc("legal_person_id_card", size=0)
    reasons = review(data, TODAY)
    assert len(reasons) == 5
    assert any("shop photos" in r and "not a JPEG or PNG photo" in r for r in reasons)
    assert any("the file is empty" in r for r in reasons)
    assert any(r.startswith("business licence number") for r in reasons)
    assert any(r.startswith("legal person's ID number") for r in reasons)
    assert any(r.startswith("settlement card number") for r in reasons)


def test_id_numbers() -> None:
    assert valid_id_number(id_number(), TODAY)
    assert valid_id_number("11010519491231002X", TODAY)  # the standard's own example
    wrong = id_number()[:-1] + ("0" if id_number()[-1] != "0" else "1")
    assert not valid_id_number(wrong, TODAY)
    assert not valid_id_number(id_number(born="19851332"), TODAY)  # no 13th month


def test_content_type_comes_from_the_bytes() -> None:
    assert sniff_content_type(JPEG) == "image/jpeg"
    assert sniff_content_type(PNG) == "image/png"
    assert sniff_content_type(PDF) == "application/pdf"
    assert sniff_content_type(b"GIF89a") == "application/octet-stream"
