"""The drill dashboard's API answers no 500 to anything a participant or the
facilitator can send, with their tokens: hypothesis drives random JSON (huge
integers, deep nesting, odd text) and random bytes at every API route of a
dashboard server on 127.0.0.1 over the stand-in drill of tests/drill.

The server runs on its own event loop in a thread, so the fuzzer's blocking
client never stalls it. Bounded: a fixed number of examples, no database.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from poslab.drill.dashboard.server import TOKEN_HEADER, DashboardServer
from tests.drill.team_stage import FACILITATOR_TOKEN, TOKEN, room
from tests.security.test_admin_fuzz import _raw_body, _segment

pytestmark = pytest.mark.timeout(180)

EXAMPLES = 150
POSTS = [
    "/api/note",
    "/api/detect",
    "/api/check",
    "/api/mitigate",
    "/api/end",
    "/api/facilitator/reveal",
    "/api/facilitator/inject",
    "/api/facilitator/pause",
    "/api/facilitator/resume",
    "/api/facilitator/end",
]
# /api/drill without ?version: with one it waits up to 15 s for a change
GETS = ["/api/metrics", "/api/drill", "/api/facilitator/plan"]


class _ServedDrill:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def __enter__(self) -> _ServedDrill:
        self._thread.start()
        assert self._ready.wait(10), "the dashboard did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _main(self) -> None:
        self._loop.run_until_complete(self._serve())
        self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        server = DashboardServer(room(self.tmp))
        self.url = await server.start()
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await server.stop()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[_ServedDrill]:
    with _ServedDrill(tmp_path) as drill:
        yield drill


def test_the_drill_api_answers_no_500(served: _ServedDrill) -> None:
    errors: list[str] = []
    statuses: list[int] = []
    client = httpx.Client(base_url=served.url, timeout=20)

    @given(
        post=st.booleans(),
        path=st.sampled_from(POSTS),
        get=st.sampled_from(GETS),
        token=st.sampled_from([TOKEN, FACILITATOR_TOKEN]),
        body=_raw_body(),
        query=st.dictionaries(st.sampled_from(["after", "by", "x"]), _segment, max_size=2),
    )
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def exercise(
        post: bool, path: str, get: str, token: str, body: bytes, query: dict[str, str]
    ) -> None:
        headers = {TOKEN_HEADER: token, "Content-Type": "application/json"}
        if post:
            reply = client.post(path, content=body, params=query, headers=headers)
        else:
            reply = client.get(get, params=query, headers=headers)
            path = get
        statuses.append(reply.status_code)
        if reply.status_code >= 500 and reply.status_code != 502:  # 502: a mitigation failed
            errors.append(f"{path} {body[:80]!r} {query} → {reply.status_code} {reply.text[:200]}")

    try:
        exercise()
    finally:
        client.close()
    assert len(statuses) >= EXAMPLES // 2
    assert errors == [], "\n".join(errors[:20])
