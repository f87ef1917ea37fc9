"""The drill's HTTP face: the live dashboard and the participants' API.

Served by the drill controller with aiohttp on 127.0.0.1 (port 0 unless
told otherwise: the real port is read back from the bound socket):

==========================  ==========================================================
``GET /``                   the dashboard (static page; plotly.js served from the
                            installed plotly package — no CDN, works offline)
``GET /static/<file>``      its script, styles and ``plotly.min.js``
``GET /api/metrics``        samples newer than ``?after=<seq>`` (one per second)
``GET /api/drill``          what participants may know: status, clock, their events
``POST /api/note``          ``{"text": …}`` — a note on the timeline
``POST /api/detect``        ``{"text": …}`` — what the team thinks is wrong
``POST /api/check``         ``{"area": …}`` — a diagnosis check (poslab.drill.checks)
``POST /api/mitigate``      ``{"action": …, "params": {…}}`` — a mitigation
``POST /api/end``           ``{"keep": bool}`` — end the drill (the report follows)
==========================  ==========================================================

Every ``POST`` needs the header ``X-Drill-Token`` (from ``drill.json``): a
page on another site can make a browser send a simple POST to 127.0.0.1, but
not with a custom header. Errors are JSON ``{"error": …}``: 400 for a bad
request or an unknown name, 403 without the token, 409 when the drill is
ending, 502 when a mitigation failed on the stack.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from poslab.drill.errors import DrillError, MitigationFailed
from poslab.drill.metrics import MetricsBoard
from poslab.errors import ConfigError

STATIC = Path(__file__).resolve().parent / "static"
TOKEN_HEADER = "X-Drill-Token"
_MAX_TEXT = 2000
#: Samples a page load gets: the five minutes its charts show.
HISTORY = 300
_FILES = {"dashboard.js": "text/javascript", "dashboard.css": "text/css"}


def plotly_js() -> Path:
    """plotly.min.js as the plotly package installs it."""
    import plotly

    return Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


class DrillActions(Protocol):
    """What the API calls on (the drill controller fits)."""

    board: MetricsBoard
    token: str

    def public_status(self) -> dict[str, Any]: ...

    async def note(self, kind: str, text: str) -> dict[str, Any]: ...

    async def mitigate(self, action: str, params: Mapping[str, object]) -> dict[str, Any]: ...

    async def check(self, area: str) -> dict[str, Any]: ...

    def request_end(self, keep: bool) -> dict[str, Any]: ...


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_app(drill: DrillActions) -> web.Application:
    async def index(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def static(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name == "plotly.min.js":
            return web.FileResponse(
                plotly_js(),
                headers={"Content-Type": "text/javascript", "Cache-Control": "max-age=3600"},
            )
        if name not in _FILES:
            return _error(404, f"no static file {name}")
        return web.FileResponse(
            STATIC / name, headers={"Content-Type": _FILES[name], "Cache-Control": "no-store"}
        )

    async def metrics(request: web.Request) -> web.StreamResponse:
        try:
            after = int(request.query.get("after", "0"))
        except ValueError:
            return _error(400, "after must be an integer sequence number")
        samples = drill.board.after(after, limit=HISTORY)
        return web.json_response({"seq": drill.board.seq, "samples": samples})

    async def status(request: web.Request) -> web.StreamResponse:
        return web.json_response(drill.public_status())

    async def body_of(request: web.Request) -> dict[str, Any]:
        supplied = request.headers.get(TOKEN_HEADER, "")
        if not hmac.compare_digest(supplied.encode(), drill.token.encode()):
            raise web.HTTPForbidden(
                text=json.dumps({"error": f"missing or wrong {TOKEN_HEADER} header"}),
                content_type="application/json",
            )
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise _bad("the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise _bad("the body must be a JSON object")
        return body

    def text_of(body: Mapping[str, Any]) -> str:
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _bad("text: a non-empty string is needed")
        if len(text) > _MAX_TEXT:
            raise _bad(f"text: at most {_MAX_TEXT} characters")
        return text.strip()

    def action(run: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            body = await body_of(request)
            try:
                return web.json_response(await run(body))
            except ConfigError as exc:
                return _error(400, str(exc))
            except MitigationFailed as exc:
                return _error(502, str(exc))
            except DrillError as exc:
                return _error(409, str(exc))

        return handler

    async def note(body: dict[str, Any]) -> dict[str, Any]:
        return await drill.note("note", text_of(body))

    async def detect(body: dict[str, Any]) -> dict[str, Any]:
        return await drill.note("detect", text_of(body))

    async def check(body: dict[str, Any]) -> dict[str, Any]:
        area = body.get("area")
        if not isinstance(area, str):
            raise _bad("area: a string is needed")
        return await drill.check(area)

    async def mitigate(body: dict[str, Any]) -> dict[str, Any]:
        name, params = body.get("action"), body.get("params", {})
        if not isinstance(name, str) or not isinstance(params, dict):
            raise _bad("action: a string, params: an object")
        return await drill.mitigate(name, params)

    async def end(body: dict[str, Any]) -> dict[str, Any]:
        return drill.request_end(bool(body.get("keep", False)))

    app = web.Application(client_max_size=64 * 1024)
    app.add_routes(
        [
            web.get("/", index),
            web.get("/static/{name}", static),
            web.get("/api/metrics", metrics),
            web.get("/api/drill", status),
            web.post("/api/note", action(note)),
            web.post("/api/detect", action(detect)),
            web.post("/api/check", action(check)),
            web.post("/api/mitigate", action(mitigate)),
            web.post("/api/end", action(end)),
        ]
    )
    return app


def _bad(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


class DashboardServer:
    """The app on a TCP site; :attr:`url` once started."""

    def __init__(self, drill: DrillActions, host: str = "127.0.0.1", port: int = 0) -> None:
        self.runner = web.AppRunner(build_app(drill), access_log=None)
        self.host = host
        self.port = port
        self.url: str | None = None

    async def start(self) -> str:
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.host, self.port)
        await site.start()
        port = int(self.runner.addresses[0][1])
        self.url = f"http://{self.host}:{port}"
        return self.url

    async def stop(self) -> None:
        await self.runner.cleanup()
