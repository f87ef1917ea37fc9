"""The dashboard server on a real socket with the drill room over a stand-in drill:
static files served locally (plotly.js included), samples after a sequence number,
and the API — both tokens, names, bad input, each error mapped to its status, the
facilitator's routes, the long poll, and TLS."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from poslab.drill.dashboard.server import TOKEN_HEADER, DashboardServer, plotly_js, tls_context
from poslab.drill.room import DrillRoom
from poslab.errors import ConfigError
from tests.drill.team_stage import FACILITATOR_TOKEN, TOKEN, StandInStage, room, self_signed

pytestmark = pytest.mark.anyio


@pytest.fixture
def stage() -> StandInStage:
    return StandInStage()


@pytest.fixture
def drill(tmp_path: Path, stage: StandInStage) -> DrillRoom:
    return room(tmp_path, stage)


@pytest.fixture
async def client(drill: DrillRoom) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the dashboard server serving ``drill`` on a real socket."""
    server = DashboardServer(drill)
    url = await server.start()
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            yield http
    finally:
        await server.stop()


AUTH = {TOKEN_HEADER: TOKEN}
FACILITATOR = {TOKEN_HEADER: FACILITATOR_TOKEN}


async def test_the_page_and_everything_it_loads_come_from_the_drill(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/", "/facilitator"):
        page = await client.get(path)
        assert page.status_code == 200
        assert "http" not in page.text.replace("http-equiv", "")  # nothing from elsewhere
        assert page.headers["X-Frame-Options"] == "DENY"
        assert TOKEN not in page.text and FACILITATOR_TOKEN not in page.text
    assert "/static/plotly.min.js" in (await client.get("/")).text
    for name, kind in (
        ("dashboard.js", "javascript"),
        ("dashboard.css", "css"),
        ("team.js", "javascript"),
        ("facilitator.js", "javascript"),
    ):
        r = await client.get(f"/static/{name}")
        assert r.status_code == 200 and kind in r.headers["content-type"]
    plotly = await client.get("/static/plotly.min.js")
    assert plotly.status_code == 200 and len(plotly.content) == plotly_js().stat().st_size
    assert (await client.get("/static/../server.py")).status_code == 404
    assert (await client.get("/static/secrets.json")).status_code == 404


async def test_metrics_after_a_sequence_number(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/metrics", params={"after": 1}, headers=AUTH)).json()
    assert body["seq"] == 3 and [s["seq"] for s in body["samples"]] == [2, 3]
    r = await client.get("/api/metrics", params={"after": "x"}, headers=AUTH)
    assert r.status_code == 400
    status = (await client.get("/api/drill", headers=AUTH)).json()
    assert status["status"] == "running" and status["paused"] is False
    assert "use_backup_path" in [m["name"] for m in status["mitigations"]]
    assert "plan" not in status  # hidden until the facilitator reveals it


async def test_every_api_route_needs_a_token_and_nothing_changes_without_it(
    client: httpx.AsyncClient, drill: DrillRoom, stage: StandInStage
) -> None:
    posts = {
        "/api/note": {"text": "hi"},
        "/api/detect": {"text": "hi"},
        "/api/check": {"area": "host"},
        "/api/mitigate": {"action": "throttle"},
        "/api/end": {},
        "/api/facilitator/reveal": {"everyone": True},
        "/api/facilitator/inject": {"scenario": "issuer-slow"},
        "/api/facilitator/pause": {},
        "/api/facilitator/end": {},
    }
    for headers in ({}, {TOKEN_HEADER: "x"}, {TOKEN_HEADER: TOKEN.upper()}):
        for path in ("/api/metrics", "/api/drill", "/api/facilitator/plan"):
            assert (await client.get(path, headers=headers)).status_code == 403, path
        for path, body in posts.items():
            r = await client.post(path, json=body, headers=headers)
            assert r.status_code == 403 and TOKEN_HEADER in r.json()["error"], path
    # the participants' token does not open the facilitator's routes
    for path, body in posts.items():
        if path.startswith("/api/facilitator/"):
            r = await client.post(path, json=body, headers=AUTH)
            assert r.status_code == 403 and "facilitator" in r.json()["error"], path
    assert (await client.get("/api/facilitator/plan", headers=AUTH)).status_code == 403
    assert drill.timeline.read() == [] and stage.stack.calls == []
    assert stage.injected == [] and stage.ended is None and not drill.revealed


async def test_participants_act_under_their_names_and_errors_are_mapped(
    client: httpx.AsyncClient, drill: DrillRoom, stage: StandInStage
) -> None:
    ok = await client.post("/api/detect", json={"text": "  host down ", "by": "Lin"}, headers=AUTH)
    assert ok.status_code == 200
    (event,) = drill.timeline.read()
    assert (event["event"], event["text"], event["by"]) == ("detect", "host down", "Lin")
    bodies: list[object] = [
        {"text": ""},
        {"text": 5},
        {"text": "x" * 2001},
        [],
        {"text": "a", "by": 3},
    ]
    for body in bodies:
        r = await client.post("/api/note", json=body, headers=AUTH)
        assert r.status_code == 400, body
    r = await client.post("/api/note", json={"text": "a", "by": "x" * 41}, headers=AUTH)
    assert r.status_code == 400 and "name" in r.json()["error"]
    r = await client.post("/api/note", content=b"{not json", headers=AUTH)
    assert r.status_code == 400 and r.json()["error"] == "the body is not valid JSON"
    r = await client.post("/api/mitigate", json={"action": "bogus"}, headers=AUTH)
    assert r.status_code == 400 and "unknown mitigation 'bogus'" in r.json()["error"]
    r = await client.post(
        "/api/mitigate", json={"action": "use_backup_path", "params": {"zone": "e"}}, headers=AUTH
    )
    assert r.status_code == 400 and "unknown param(s) zone" in r.json()["error"]
    r = await client.post("/api/mitigate", json={"action": "x", "params": []}, headers=AUTH)
    assert r.status_code == 400
    stage.stack.admin_status = 0  # the host does not answer: the switch cannot be thrown
    r = await client.post("/api/mitigate", json={"action": "end_cutover"}, headers=AUTH)
    assert r.status_code == 502 and "not answering" in r.json()["error"]
    stage.stack.admin_status = 200
    r = await client.post(
        "/api/mitigate",
        json={"action": "throttle", "params": {"factor": "0.5"}, "by": "Wang"},
        headers=AUTH,
    )
    assert r.status_code == 200 and r.json()["by"] == "Wang" and r.json()["ok"]
    r = await client.post("/api/check", json={"area": "host", "by": "Lin"}, headers=AUTH)
    assert r.status_code == 200 and r.json()["verdict"] == "bad"
    assert (await client.post("/api/check", json={"area": "moon"}, headers=AUTH)).status_code == 400
    r = await client.post("/api/end", json={"keep": True, "by": "Lin"}, headers=AUTH)
    assert r.status_code == 200 and stage.ended == ("ended by the participants (Lin)", True)
    # after the end, every action is told so, and nothing is recorded
    before = len(drill.timeline.read())
    for path, body in (
        ("/api/note", {"text": "late"}),
        ("/api/mitigate", {"action": "throttle"}),
        ("/api/check", {"area": "host"}),
        ("/api/end", {}),
    ):
        r = await client.post(path, json=body, headers=AUTH)
        assert r.status_code == 409 and "the drill has ended" in r.json()["error"], path
    assert len(drill.timeline.read()) == before


async def test_the_facilitator_reveals_injects_pauses_and_ends(
    client: httpx.AsyncClient, drill: DrillRoom, stage: StandInStage
) -> None:
    plan = (await client.get("/api/facilitator/plan", headers=FACILITATOR)).json()
    assert plan["faults"][0]["id"] == "east-sagging" and not plan["revealed_to_everyone"]
    r = await client.post("/api/facilitator/pause", json={"by": "Zhao"}, headers=FACILITATOR)
    assert r.status_code == 200
    assert (
        await client.post("/api/facilitator/pause", json={}, headers=FACILITATOR)
    ).status_code == 409
    r = await client.post("/api/note", json={"text": "now?"}, headers=AUTH)
    assert r.status_code == 409 and "paused" in r.json()["error"]
    status = (await client.get("/api/drill", headers=AUTH)).json()
    assert status["paused"] and [e["event"] for e in status["events"]] == ["pause"]
    r = await client.post("/api/facilitator/resume", json={}, headers=FACILITATOR)
    assert r.status_code == 200 and r.json()["by"] == "facilitator"
    r = await client.post(
        "/api/facilitator/inject", json={"scenario": "issuer-slow"}, headers=FACILITATOR
    )
    assert r.json() == {"scenario": "issuer-slow", "faults": ["issuer-slow/f"]}
    r = await client.post("/api/facilitator/inject", json={"scenario": "nope"}, headers=FACILITATOR)
    assert r.status_code == 400 and "unknown scenario" in r.json()["error"]
    # what was injected stays the facilitator's: not on the participants' timeline
    events = (await client.get("/api/drill", headers=AUTH)).json()["events"]
    assert [e["event"] for e in events] == ["pause", "resume"]
    assert [e["event"] for e in drill.timeline.read()][-1] == "inject"
    r = await client.post("/api/facilitator/reveal", json={"everyone": True}, headers=FACILITATOR)
    assert r.json()["revealed_to_everyone"]
    assert "plan" in (await client.get("/api/drill", headers=AUTH)).json()
    r = await client.post("/api/facilitator/end", json={"keep": False}, headers=FACILITATOR)
    assert r.status_code == 200 and stage.ended == ("ended by the facilitator (facilitator)", False)


async def test_a_waiting_page_is_answered_as_soon_as_something_changes(
    client: httpx.AsyncClient, drill: DrillRoom
) -> None:
    version = (await client.get("/api/drill", headers=AUTH)).json()["version"]
    waiting = asyncio.create_task(
        client.get("/api/drill", params={"version": version}, headers=AUTH)
    )
    await asyncio.sleep(0.3)
    assert not waiting.done()  # nothing changed: the page waits
    began = time.monotonic()
    await client.post("/api/note", json={"text": "east slow", "by": "Lin"}, headers=AUTH)
    answer = (await waiting).json()
    assert time.monotonic() - began < 0.5  # well within a second (tolerance for a busy host)
    assert answer["version"] > version and answer["events"][-1]["text"] == "east slow"


async def test_tls_when_a_certificate_is_given(tmp_path: Path, drill: DrillRoom) -> None:
    cert, key = self_signed(tmp_path)
    server = DashboardServer(drill, tls=tls_context(cert, key))
    url = await server.start()
    try:
        assert url.startswith("https://127.0.0.1:")
        trust = ssl.create_default_context(cafile=str(cert))
        trust.check_hostname = False  # as the CLI does: the drill's own certificate only
        async with httpx.AsyncClient(base_url=url, verify=trust, timeout=10) as http:
            assert (await http.get("/api/drill", headers=AUTH)).json()["status"] == "running"
            assert (await http.get("/api/drill")).status_code == 403
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            with pytest.raises(httpx.ConnectError):  # nobody else's trust covers it
                await http.get("/")
    finally:
        await server.stop()
    with pytest.raises(ConfigError, match="cannot use the certificate"):
        tls_context(key, None)
