"""The mocks' service kit on its own: the token rule, the fault board and
routes, the error body and the metrics (no process, no socket beyond
aiohttp's test server on 127.0.0.1)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from poslab.app_faults import AppFault, FaultError, ServiceFamily
from poslab.app_faults.issuer import IssuerSlow
from poslab.errors import ConfigError
from poslab.mocks.kit import FaultBoard, ServiceError, ServiceMetrics, admin_token_for, authorised
from poslab.mocks.kit.aiohttp_admin import admin_middleware, fault_routes


def test_a_token_is_needed_off_loopback_and_enforced_whenever_given() -> None:
    assert admin_token_for("127.0.0.1", None) is None
    assert admin_token_for("::1", "") is None
    assert admin_token_for("localhost", "s3cret") == "s3cret"
    assert admin_token_for("0.0.0.0", "s3cret") == "s3cret"
    with pytest.raises(ConfigError, match="required off loopback"):
        admin_token_for("0.0.0.0", None)
    assert authorised(None, None)
    assert authorised("s3cret", "Bearer s3cret")
    assert not authorised("s3cret", "Bearer s3cre")
    assert not authorised("s3cret", "s3cret")
    assert not authorised("s3cret", None)


def test_the_board_holds_typed_faults() -> None:
    board = FaultBoard(ServiceFamily.ISSUER)
    board.set(board.parse("slow", {"delay_ms": 250}))
    slow = board.get(IssuerSlow)
    assert slow is not None and slow.delay_ms == 250
    assert board.snapshot() == {"slow": {"delay_ms": 250, "jitter_ms": 0}}
    board.clear("slow")
    board.clear("slow")
    assert board.get(IssuerSlow) is None
    with pytest.raises(FaultError) as unknown:
        board.clear("meteor")
    assert unknown.value.status == 404


def test_metrics_are_rendered_by_the_client_library() -> None:
    metrics = ServiceMetrics()
    counter = metrics.counter("svc_requests", "answered", ("rc",))
    counter.labels("00").inc(3)
    metrics.histogram("svc_request_seconds", "time").observe(0.003)
    metrics.gauge("svc_open", "open now", lambda: 7)
    metrics.labelled_gauge("svc_records", "by state", ("state",), lambda: {("open",): 2.0})
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics.render().decode())
        for s in family.samples
    }
    assert samples[("svc_requests_total", (("rc", "00"),))] == 3
    assert samples[("svc_request_seconds_bucket", (("le", "0.005"),))] == 1
    assert samples[("svc_open", ())] == 7
    assert samples[("svc_records", (("state", "open"),))] == 2


def _app(board: FaultBoard, token: str | None, seen: list[AppFault]) -> web.Application:
    async def on_set(fault: AppFault) -> dict[str, Any]:
        if fault.to_json().get("delay_ms") == 13:
            raise FaultError("fault slow: 13 ms is unlucky")  # the mock's own refusal
        seen.append(fault)
        return {"noted": True}

    async def refuse(request: web.Request) -> web.Response:
        raise ServiceError("the till is closed", 409)

    app = web.Application(middlewares=[admin_middleware(token)])
    app.add_routes([*fault_routes(board, on_set=on_set), web.get("/till", refuse)])
    app.router.add_get("/health", _ok)
    return app


async def _ok(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@pytest.mark.anyio
async def test_fault_routes_and_errors_over_http() -> None:
    async def scenario() -> None:
        board = FaultBoard(ServiceFamily.ISSUER)
        seen: list[AppFault] = []
        async with TestClient(TestServer(_app(board, "s3cret", seen))) as client:
            assert (await client.get("/health")).status == 200
            refused = await client.get("/admin/faults")
            assert refused.status == 401 and "Bearer" in (await refused.json())["error"]
            auth = {"Authorization": "Bearer s3cret"}
            reply = await client.post("/admin/faults/slow", json={"delay_ms": 5}, headers=auth)
            assert await reply.json() == {
                "fault": "slow",
                "params": {"delay_ms": 5, "jitter_ms": 0},
                "noted": True,
            }
            for body, status in (({"delay_ms": 13}, 422), ({"delay_ms": -1}, 422), ([1], 400)):
                bad = await client.post("/admin/faults/slow", json=body, headers=auth)
                assert bad.status == status and (await bad.json())["error"].startswith("fault slow")
            gone = await client.delete("/admin/faults/slow", headers=auth)
            assert await gone.json() == {"fault": "slow", "cleared": True}
            assert (await client.delete("/admin/faults/melt", headers=auth)).status == 404
            till = await client.get("/till", headers=auth)
            assert till.status == 409 and await till.json() == {"error": "the till is closed"}
            assert await (await client.post("/admin/reset", headers=auth)).json() == {"reset": True}
            assert board.active == {} and len(seen) == 1

    await scenario()
