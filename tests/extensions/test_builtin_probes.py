"""The built-in probe types against real sockets on 127.0.0.1: http, prometheus
(a stand-in Prometheus HTTP API) and command (a real program)."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from poslab.plugins import ProbeContext, ProbeResult, probe_class
from poslab.scenario.extensions import fill

#: query -> the body the stand-in Prometheus answers
ANSWERS: dict[str, Any] = {
    "up": {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [
                {"metric": {"job": "acquirer"}, "value": [1, "1"]},
                {"metric": {"job": "issuer"}, "value": [1, "0"]},
            ],
        },
    },
    "scalar(1)": {"status": "success", "data": {"resultType": "scalar", "result": [1, "1"]}},
    "absent": {"status": "success", "data": {"resultType": "vector", "result": []}},
    "bad(": {"status": "error", "errorType": "bad_data", "error": "parse error"},
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path == "/api/v1/query":
            query = parse_qs(parts.query)["query"][0]
            body, status = json.dumps(ANSWERS[query]).encode(), 200
            if query == "bad(":
                status = 400
        elif parts.path == "/health":
            body, status = b'{"status": "ok"}', 200
        else:
            body, status = b"nothing here", 404
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


async def _check(kind: str, params: dict[str, Any], tmp: Path, **ctx: Any) -> ProbeResult:
    cls = probe_class(kind)
    context = ProbeContext("s", tmp, tmp, timeout_s=ctx.pop("timeout_s", 2.0), **ctx)
    return await cls(cls.Params.model_validate(params)).check(context)


@pytest.mark.anyio
async def test_http(server: str, tmp_path: Path) -> None:
    url = fill("{admin.acquirer}/health", {"admin.acquirer": server})
    assert url == f"{server}/health"
    ok = await _check("http", {"url": url, "contains": "ok"}, tmp_path)
    assert ok.ok and ok.value == 200 and ok.detail.startswith(f"GET {url} → 200 in ")
    missing = await _check("http", {"url": f"{server}/nope"}, tmp_path)
    assert not missing.ok and missing.value == 404 and "(want [200])" in missing.detail
    body = await _check("http", {"url": url, "contains": "degraded"}, tmp_path)
    assert not body.ok and "body lacks 'degraded'" in body.detail
    assert (await _check("http", {"url": f"{server}/nope", "status": [404]}, tmp_path)).ok


@pytest.mark.anyio
async def test_prometheus(server: str, tmp_path: Path) -> None:
    def q(query: str, criteria: str = ">=", value: float = 1, **more: Any) -> dict[str, Any]:
        return {"url": server, "query": query, "criteria": criteria, "value": value, **more}

    every = await _check("prometheus", q("up", ">=", 0), tmp_path)
    assert every.ok and every.value == [1.0, 0.0]
    one_down = await _check("prometheus", q("up"), tmp_path)
    assert not one_down.ok and one_down.detail == '1 of 2 not >= 1: {job="issuer"} 0'
    assert (await _check("prometheus", q("scalar(1)", "==", 1), tmp_path)).ok
    empty = await _check("prometheus", q("absent"), tmp_path)
    assert not empty.ok and empty.detail == "absent: no series"
    assert (await _check("prometheus", q("absent", empty_ok=True), tmp_path)).ok
    error = await _check("prometheus", q("bad("), tmp_path)
    assert not error.ok and error.detail == "HTTP 400: the query failed: parse error"


@pytest.mark.anyio
async def test_command(tmp_path: Path) -> None:
    script = "import os, sys; print(os.environ['POSLAB_ADMIN_ACQUIRER']); sys.exit(3)"
    argv = [sys.executable, "-c", script]
    addresses = {"admin.acquirer": "http://127.0.0.1:1"}
    exited = await _check("command", {"argv": argv, "exit_code": 3}, tmp_path, addresses=addresses)
    assert exited.ok and exited.value == 3
    assert exited.detail.endswith("exited 3: http://127.0.0.1:1")
    wrong = await _check("command", {"argv": argv}, tmp_path, addresses=addresses)
    assert not wrong.ok and "(want 0)" in wrong.detail
    hang = [sys.executable, "-c", "import time; time.sleep(30)"]
    with pytest.raises(TimeoutError):  # the runner turns it into a failed probe
        await _check("command", {"argv": hang}, tmp_path, timeout_s=0.5)
