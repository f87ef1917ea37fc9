"""Onboarding end to end on a real agent process: multipart application →
review → approved with a MID → its terminals provisioned at the acquirer."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from poslab.world import World
from tests.agent.acquirer_stand_in import AcquirerStandIn
from tests.agent.conftest import AgentFleet, AgentProcess, wait_until
from tests.agent.documents import PDF, all_documents, application_form


@pytest.fixture
def solo(agents: AgentFleet, acquirer_stand_in: AcquirerStandIn) -> Iterator[AgentProcess]:
    # a lone primary (no peer ready file will ever appear): it processes after
    # the takeover delay
    yield agents.agent("primary", acquirer=acquirer_stand_in.url).start()


def _submit(
    client: httpx.Client,
    form: dict[str, str],
    files: list[tuple[str, tuple[str, bytes, str]]],
    key: str | None = None,
) -> httpx.Response:
    return client.post(
        "/onboarding/applications",
        data=form,
        files=files,
        headers={"Idempotency-Key": key or str(uuid.uuid4())},
    )


def test_application_is_approved_and_its_terminals_provisioned(
    solo: AgentProcess, agent_world: World, acquirer_stand_in: AcquirerStandIn
) -> None:
    with solo.client() as c:
        reply = _submit(c, application_form(agent_world), all_documents())
        assert reply.status_code == 201, reply.text
        app = reply.json()
        assert app["state"] == "submitted"
        assert [d["kind"] for d in app["documents"]] == [
            "business_licence",
            "legal_person_id_card",
            "settlement_card",
            "shop_photo",
            "shop_photo",
        ]
        assert app["documents"][0]["content_type"] == "application/pdf"

        def decided() -> bool:
            return bool(
                c.get(f"/onboarding/applications/{app['id']}").json()["state"] == "approved"
            )

        wait_until(decided)
        app = c.get(f"/onboarding/applications/{app['id']}").json()
        mid = app["mid"]
        assert mid.startswith("898") and len(mid) == 15
        assert app["reviewed_by"] == "primary"
        merchant = c.get(f"/merchants/{mid}").json()
        assert merchant["source"] == "onboarded"

        def provisioned() -> bool:
            order = c.get(f"/terminals/orders/{app['order_id']}").json()
            return len(order["terminals"]) == 2 and all(
                t["status"] == "active" for t in order["terminals"]
            )

        wait_until(provisioned)
        order = c.get(f"/terminals/orders/{app['order_id']}").json()
        tids = sorted(t["tid"] for t in order["terminals"])
        assert tids == ["15000000", "15000001"]  # the primary's slot range
        for t in order["terminals"]:
            registered = acquirer_stand_in.terminals[t["tid"]]
            assert registered["mid"] == mid
            assert registered["tmk"] == t["tmk"] and len(t["tmk"]) == 32
        # the TMS knows the new terminals at once
        tms = c.get(f"/tms/terminals/{tids[0]}").json()
        assert tms["mid"] == mid and tms["status"] == "active"
        # a document can be read back, byte for byte
        sha = app["documents"][0]["sha256"]
        assert c.get(f"/onboarding/applications/{app['id']}/documents/{sha}").content == PDF


def test_missing_documents_reject_with_a_clear_reason(
    solo: AgentProcess, agent_world: World
) -> None:
    with solo.client() as c:
        files = [d for d in all_documents() if d[0] == "business_licence"]
        app = _submit(c, application_form(agent_world), files).json()

        def rejected() -> bool:
            return bool(
                c.get(f"/onboarding/applications/{app['id']}").json()["state"] == "rejected"
            )

        wait_until(rejected)
        reasons = c.get(f"/onboarding/applications/{app['id']}").json()["rejection_reasons"]
        assert reasons == [
            "missing documents: legal person's ID card, settlement card, shop photos (at least one)"
        ]


def test_invalid_requests_get_422_with_the_field(solo: AgentProcess, agent_world: World) -> None:
    with solo.client() as c:
        reply = _submit(c, application_form(agent_world, mcc="12"), all_documents())
        assert reply.status_code == 422
        assert any(e["loc"][-1] == "mcc" for e in reply.json()["fields"])
        reply = _submit(c, application_form(agent_world, region="atlantis"), all_documents())
        assert reply.status_code == 422 and "region" in reply.json()["error"]
        form = application_form(agent_world)
        del form["legal_person_id"]
        reply = _submit(c, form, all_documents())
        assert reply.status_code == 422
        assert any(e["loc"][-1] == "legal_person_id" for e in reply.json()["fields"])
        reply = c.post("/onboarding/applications", data=application_form(agent_world))
        assert reply.status_code == 422  # no Idempotency-Key
        assert any(e["loc"][-1] == "Idempotency-Key" for e in reply.json()["fields"])


def test_a_replayed_key_is_answered_not_repeated(solo: AgentProcess, agent_world: World) -> None:
    with solo.client() as c:
        key = str(uuid.uuid4())
        first = _submit(c, application_form(agent_world), all_documents(), key)
        again = _submit(c, application_form(agent_world), all_documents(), key)
        assert (first.status_code, again.status_code) == (201, 200)
        assert first.json()["id"] == again.json()["id"]
        other = _submit(c, application_form(agent_world, merchant_name="别的店"), [], key)
        assert other.status_code == 422
        assert "idempotency key" in other.json()["error"]
        assert len(c.get("/onboarding/applications").json()) == 1
