"""The drill's HTTP face: the live dashboard, the facilitator's view and their API.

Served by the drill controller with aiohttp — on 127.0.0.1 unless ``lab drill
start --host ADDR`` asks for another address, over TLS when a certificate is
given — on port 0 unless told otherwise (the real port is read back):

===================================  ===================================================
``GET /``                            the participants' dashboard (static page; plotly.js
                                     served from the installed plotly package)
``GET /facilitator``                 the facilitator's view (static page)
``GET /static/<file>``               their scripts, styles and ``plotly.min.js``
``GET /api/metrics``                 samples newer than ``?after=<seq>`` (one per second)
``GET /api/drill``                   what participants may know; ``?version=N`` waits
                                     (up to 15 s) until something changes
``POST /api/note``, ``/api/detect``  ``{"text": …, "by": name}``
``POST /api/check``                  ``{"area": …, "by": name}`` — a diagnosis check
``POST /api/mitigate``               ``{"action": …, "params": {…}, "by": name}``
``POST /api/end``                    ``{"keep": bool, "by": name}``
``GET /api/facilitator/plan``        the hidden plan (facilitator only)
``POST /api/facilitator/reveal``     ``{"everyone": bool}`` — the plan on every page too
``POST /api/facilitator/inject``     ``{"scenario": …}`` — a further fault from the catalogue
``POST /api/facilitator/pause``,     stop / restart the drill clock
``…/resume``
``POST /api/facilitator/end``        ``{"keep": bool}``
===================================  ===================================================

The pages carry no secret: each reads its token from the link it was opened
with (``/#token=…``; a fragment never reaches a server's log or a Referer) and
sends it as ``X-Drill-Token`` on every API call. Every ``/api/`` route needs a
token — the participants' (``drill.json``) or the facilitator's
(``facilitator.json``, 0600), the facilitator's routes only the latter — and
answers 403 without the right one, having changed nothing. A browser cannot
send a custom header across sites, so another web page cannot act either.
Errors are JSON ``{"error": …}``: 400 for a bad request or an unknown name,
403 without the token, 409 when the drill has ended or is paused, 502 when a
mitigation failed on the stack.
"""

from __future__ import annotations

import hmac
import json
import ssl
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from poslab.drill.errors import DrillError, MitigationFailed
from poslab.drill.room import DrillRoom, participant_name
from poslab.errors import ConfigError

STATIC = Path(__file__).resolve().parent / "static"
TOKEN_HEADER = "X-Drill-Token"
#: Samples a page load gets: the five minutes its charts show.
HISTORY = 300
_FILES = {
    "dashboard.js": "text/javascript",
    "dashboard.css": "text/css",
    "facilitator.js": "text/javascript",
    "team.js": "text/javascript",
}
_PAGES = {"/": "index.html", "/facilitator": "facilitator.html"}
PARTICIPANT, FACILITATOR = "participant", "facilitator"


def plotly_js() -> Path:
    """plotly.min.js as the plotly package installs it."""
    import plotly

    return Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _bad(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Action = Callable[[dict[str, Any], str], Awaitable[dict[str, Any]]]


@web.middleware
async def _headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Served beyond loopback: no framing, no sniffing, no referrer, nothing cached."""
    response = await handler(request)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if request.path.startswith("/api/"):
        response.headers["Cache-Control"] = "no-store"
    return response


def build_app(room: DrillRoom) -> web.Application:
    def role_of(request: web.Request) -> str | None:
        supplied = request.headers.get(TOKEN_HEADER, "").encode()
        if hmac.compare_digest(supplied, room.facilitator_token.encode()):
            return FACILITATOR
        if hmac.compare_digest(supplied, room.token.encode()):
            return PARTICIPANT
        return None

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/api/"):
            role = role_of(request)
            wanted = FACILITATOR if request.path.startswith("/api/facilitator/") else None
            if role is None or (wanted is not None and role != wanted):
                who = "the facilitator's" if wanted else "a drill"
                return _error(403, f"missing or wrong {TOKEN_HEADER} header: {who} token is needed")
        return await handler(request)

    async def page(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(
            STATIC / _PAGES[request.path], headers={"Cache-Control": "no-store"}
        )

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
        samples = room.board.after(after, limit=HISTORY)
        return web.json_response({"seq": room.board.seq, "samples": samples})

    async def status(request: web.Request) -> web.StreamResponse:
        if "version" in request.query:
            try:
                version = int(request.query["version"])
            except ValueError:
                return _error(400, "version must be an integer")
            await room.wait_change(version)
        return web.json_response(room.public_status())

    async def body_of(request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        # ValueError also covers an integer beyond Python's 4,300-digit limit
        # (not a JSONDecodeError); RecursionError: nesting too deep
        except (ValueError, RecursionError):
            raise _bad("the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise _bad("the body must be a JSON object")
        return body

    def action(run: Action, default_by: str = "") -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            body = await body_of(request)
            try:
                by = participant_name(body.get("by")) or default_by
                return web.json_response(await run(body, by))
            except ConfigError as exc:
                return _error(400, str(exc))
            except MitigationFailed as exc:
                return _error(502, str(exc))
            except DrillError as exc:
                return _error(409, str(exc))

        return handler

    def text_of(body: Mapping[str, Any]) -> str:
        text = body.get("text")
        if not isinstance(text, str):
            raise ConfigError("text: a non-empty string is needed")
        return text

    async def note(body: dict[str, Any], by: str) -> dict[str, Any]:
        return await room.note("note", text_of(body), by)

    async def detect(body: dict[str, Any], by: str) -> dict[str, Any]:
        return await room.note("detect", text_of(body), by)

    async def check(body: dict[str, Any], by: str) -> dict[str, Any]:
        area = body.get("area")
        if not isinstance(area, str):
            raise ConfigError("area: a string is needed")
        return await room.check(area, by)

    async def mitigate(body: dict[str, Any], by: str) -> dict[str, Any]:
        name, params = body.get("action"), body.get("params", {})
        if not isinstance(name, str) or not isinstance(params, dict):
            raise ConfigError("action: a string, params: an object")
        return await room.mitigate(name, params, by)

    async def end(body: dict[str, Any], by: str) -> dict[str, Any]:
        return room.request_end(bool(body.get("keep", False)), by)

    async def plan(request: web.Request) -> web.StreamResponse:
        return web.json_response(room.plan_view())

    async def reveal(body: dict[str, Any], by: str) -> dict[str, Any]:
        return room.reveal(bool(body.get("everyone", False)), by)

    async def inject(body: dict[str, Any], by: str) -> dict[str, Any]:
        scenario = body.get("scenario")
        if not isinstance(scenario, str):
            raise ConfigError("scenario: a catalogue scenario's name is needed")
        return await room.inject(scenario, by)

    async def pause(body: dict[str, Any], by: str) -> dict[str, Any]:
        return room.pause(by)

    async def resume(body: dict[str, Any], by: str) -> dict[str, Any]:
        return room.resume(by)

    async def end_drill(body: dict[str, Any], by: str) -> dict[str, Any]:
        return room.end_by_facilitator(bool(body.get("keep", False)), by)

    app = web.Application(client_max_size=64 * 1024, middlewares=[_headers, guard])
    facilitator = "facilitator"
    app.add_routes(
        [
            *(web.get(path, page) for path in _PAGES),
            web.get("/static/{name}", static),
            web.get("/api/metrics", metrics),
            web.get("/api/drill", status),
            web.post("/api/note", action(note)),
            web.post("/api/detect", action(detect)),
            web.post("/api/check", action(check)),
            web.post("/api/mitigate", action(mitigate)),
            web.post("/api/end", action(end)),
            web.get("/api/facilitator/plan", plan),
            web.post("/api/facilitator/reveal", action(reveal, facilitator)),
            web.post("/api/facilitator/inject", action(inject, facilitator)),
            web.post("/api/facilitator/pause", action(pause, facilitator)),
            web.post("/api/facilitator/resume", action(resume, facilitator)),
            web.post("/api/facilitator/end", action(end_drill, facilitator)),
        ]
    )
    return app


def tls_context(cert: Path, key: Path | None) -> ssl.SSLContext:
    """A server context for the certificate (and its key, if in another file);
    a bad file is a ConfigError before anything is served."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot use the certificate {cert}: {exc}") from None
    return context


class DashboardServer:
    """The app on a TCP site (TLS when given a context); :attr:`url` once started."""

    def __init__(
        self,
        room: DrillRoom,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        # The long polls end with the server, not after their 15 s.
        # keepalive_timeout: aiohttp's timer also closes a half-sent request
        # (its default, an hour, let a slowloris hold a served-off-loopback
        # dashboard's sockets); it does not run while a long poll is answered.
        self.runner = web.AppRunner(
            build_app(room), access_log=None, shutdown_timeout=1.0, keepalive_timeout=15.0
        )
        self.host = host
        self.port = port
        self.tls = tls
        self.url: str | None = None

    async def start(self) -> str:
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.host, self.port, ssl_context=self.tls)
        await site.start()
        port = int(self.runner.addresses[0][1])
        scheme = "https" if self.tls is not None else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"{scheme}://{host}:{port}"
        return self.url

    async def stop(self) -> None:
        await self.runner.cleanup()
