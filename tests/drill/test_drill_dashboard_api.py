"""The dashboard server on a real socket with a stand-in drill: static files served
locally (plotly.js included), samples after a sequence number, and the participants'
API — token, bad input, and each error mapped to its status."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import pytest

from poslab.drill.dashboard.server import TOKEN_HEADER, DashboardServer, plotly_js
from poslab.drill.errors import DrillError, MitigationFailed
from poslab.drill.metrics import MetricsBoard
from poslab.errors import ConfigError

pytestmark = pytest.mark.anyio

TOKEN = "s3cret-token"


class StandIn:
    def __init__(self) -> None:
        self.board = MetricsBoard(None)
        self.token = TOKEN
        self.notes: list[tuple[str, str]] = []
        self.ending: bool | None = None
        for i in range(3):
            self.board.publish({"second": i, "t": 1.0 * i})

    def public_status(self) -> dict[str, Any]:
        return {"status": "running", "events": []}

    async def note(self, kind: str, text: str) -> dict[str, Any]:
        self.notes.append((kind, text))
        return {"event": kind, "text": text}

    async def mitigate(self, action: str, params: Mapping[str, object]) -> dict[str, Any]:
        if action == "bogus":
            raise ConfigError("unknown mitigation 'bogus'")
        if action == "restart_acquirer":
            raise MitigationFailed("acquirer not answering")
        return {"action": action, "params": dict(params), "result": "done"}

    async def check(self, area: str) -> dict[str, Any]:
        raise DrillError("the drill is ending, not running")

    def request_end(self, keep: bool) -> dict[str, Any]:
        self.ending = keep
        return {"ending": True}


@pytest.fixture
def drill() -> StandIn:
    return StandIn()


@pytest.fixture
async def client(drill: StandIn) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the dashboard server serving ``drill`` on a real socket."""
    server = DashboardServer(drill)  # type: ignore[arg-type]
    url = await server.start()
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            yield http
    finally:
        await server.stop()


async def test_the_page_and_everything_it_loads_come_from_the_drill(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/")
    assert page.status_code == 200 and "/static/plotly.min.js" in page.text
    assert "http" not in page.text.replace("http-equiv", "")  # nothing from elsewhere
    for name, kind in (("dashboard.js", "javascript"), ("dashboard.css", "css")):
        r = await client.get(f"/static/{name}")
        assert r.status_code == 200 and kind in r.headers["content-type"]
    plotly = await client.get("/static/plotly.min.js")
    assert plotly.status_code == 200 and len(plotly.content) == plotly_js().stat().st_size
    assert (await client.get("/static/../server.py")).status_code == 404
    assert (await client.get("/static/secrets.json")).status_code == 404


async def test_metrics_after_a_sequence_number(client: httpx.AsyncClient, drill: StandIn) -> None:
    body = (await client.get("/api/metrics", params={"after": 1})).json()
    assert body["seq"] == 3 and [s["seq"] for s in body["samples"]] == [2, 3]
    assert (await client.get("/api/metrics", params={"after": "x"})).status_code == 400
    assert (await client.get("/api/drill")).json()["status"] == "running"


async def test_participants_api_needs_the_token_and_maps_errors(
    client: httpx.AsyncClient, drill: StandIn
) -> None:
    auth = {TOKEN_HEADER: TOKEN}
    assert (await client.post("/api/note", json={"text": "hi"})).status_code == 403
    wrong = await client.post("/api/note", json={"text": "hi"}, headers={TOKEN_HEADER: "x"})
    assert wrong.status_code == 403 and "X-Drill-Token" in wrong.json()["error"]
    ok = await client.post("/api/detect", json={"text": "  host down "}, headers=auth)
    assert ok.status_code == 200 and drill.notes == [("detect", "host down")]
    bodies: list[object] = [{"text": ""}, {"text": 5}, {"text": "x" * 2001}, []]
    for body in bodies:
        r = await client.post("/api/note", json=body, headers=auth)
        assert r.status_code == 400, body
    r = await client.post("/api/note", content=b"{not json", headers=auth)
    assert r.status_code == 400 and r.json()["error"] == "the body is not valid JSON"
    r = await client.post("/api/mitigate", json={"action": "bogus"}, headers=auth)
    assert r.status_code == 400 and "bogus" in r.json()["error"]
    r = await client.post("/api/mitigate", json={"action": "restart_acquirer"}, headers=auth)
    assert r.status_code == 502
    r = await client.post(
        "/api/mitigate", json={"action": "throttle", "params": {"factor": "0.5"}}, headers=auth
    )
    assert r.json() == {"action": "throttle", "params": {"factor": "0.5"}, "result": "done"}
    r = await client.post("/api/mitigate", json={"action": "x", "params": []}, headers=auth)
    assert r.status_code == 400
    r = await client.post("/api/check", json={"area": "host"}, headers=auth)
    assert r.status_code == 409
    r = await client.post("/api/end", json={"keep": True}, headers=auth)
    assert r.status_code == 200 and drill.ending is True
