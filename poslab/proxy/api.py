"""The HTTP API: Toxiproxy 2.12's routes, status codes and bodies.

Handlers raise :class:`~poslab.proxy.api_error.ApiError`; the middleware turns
it into ``{"error":…,"status":…}`` plus a newline (``text/plain``, as Go's
``http.Error`` sends it), stamps ``X-Toxiproxy-Request-Id`` on every routed
response, answers browsers with 403, unknown paths with Go's
``404 page not found`` and wrong methods with a bare 405 — those two without a
request id, as gorilla/mux answers them before Toxiproxy's middleware runs.
``/populate`` writes its errors itself: ``application/json``, no newline (its
body also carries ``proxies``). No ``Server`` header, as Go sends none. Anything
unexpected is a 500 with a message — never a traceback, and the server keeps
serving.

Checks happen in Toxiproxy's order (proxy, then toxic, then body), so the
same bad request gets the same answer from either server.
"""

from __future__ import annotations

import base64
import itertools
import logging
import os
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from poslab.proxy import api_error
from poslab.proxy.api_error import ApiError
from poslab.proxy.api_json import dumps, parse_body
from poslab.proxy.collection import PopulateResult, ProxyCollection, ProxySpec, parse_proxy_body
from poslab.proxy.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from poslab.proxy.metrics import render_metrics

__all__ = ["TOXIPROXY_VERSION", "build_app"]

log = logging.getLogger("poslab.proxy.api")

#: The Toxiproxy release whose API this server reproduces.
TOXIPROXY_VERSION = "2.12.0"

_COLLECTION: web.AppKey[ProxyCollection] = web.AppKey("collection", ProxyCollection)
_JSON = "application/json"
_TEXT = "text/plain; charset=utf-8"


class _RequestIds:
    """20-character ids shaped like the ``xid`` values Toxiproxy sends:
    seconds, a per-process random part, and a counter, in base32hex."""

    def __init__(self) -> None:
        self._process = os.urandom(3) + struct.pack(">H", os.getpid() & 0xFFFF)
        self._counter = itertools.count(int.from_bytes(os.urandom(3), "big"))

    def next(self) -> str:
        count = next(self._counter) & 0xFFFFFF
        raw = struct.pack(">I", int(time.time())) + self._process + count.to_bytes(3, "big")
        return base64.b32hexencode(raw).decode("ascii").rstrip("=").lower()


def _json(value: object, status: int = 200) -> web.Response:
    return web.Response(body=dumps(value), status=status, headers={"Content-Type": _JSON})


def _error(error: ApiError) -> web.Response:
    body = {"error": error.message, "status": error.status}
    return web.Response(
        body=dumps(body) + b"\n",
        status=error.status,
        headers={"Content-Type": _TEXT, "X-Content-Type-Options": "nosniff"},
    )


def _populate_error(error: ApiError, proxies: object) -> web.Response:
    # Toxiproxy's Populate marshals {error, status, proxies} and writes it as
    # any JSON answer: application/json, no trailing newline, no nosniff.
    body = {"error": error.message, "status": error.status, "proxies": proxies}
    return web.Response(body=dumps(body), status=error.status, headers={"Content-Type": _JSON})


def _plain(text: str, status: int) -> web.Response:
    return web.Response(
        body=text.encode("utf-8"),
        status=status,
        headers={"Content-Type": _TEXT, "X-Content-Type-Options": "nosniff"},
    )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _middleware(ids: _RequestIds) -> Any:
    @web.middleware
    async def toxiproxy_conventions(request: web.Request, handler: Handler) -> web.StreamResponse:
        unmatched = request.match_info.http_exception
        if isinstance(unmatched, web.HTTPMethodNotAllowed):
            return web.Response(status=405)
        if unmatched is not None:
            return _plain("404 page not found\n", 404)
        request_id = ids.next()
        response: web.StreamResponse
        try:
            if request.headers.get("User-Agent", "").startswith("Mozilla/"):
                response = _plain("User agent not allowed\n", 403)
            else:
                response = await handler(request)
        except ApiError as exc:
            response = _error(exc)
        except web.HTTPNotFound:
            response = _plain("404 page not found\n", 404)
        except web.HTTPMethodNotAllowed:
            response = web.Response(status=405)
        except web.HTTPException as exc:
            response = _error(ApiError(exc.reason, exc.status))
        except Exception as exc:  # the API answers; it never dies on a request
            log.exception("%s %s failed", request.method, request.path)
            response = _error(ApiError(f"internal error: {exc}", 500))
        response.headers["X-Toxiproxy-Request-Id"] = request_id
        return response

    return toxiproxy_conventions


def _collection(request: web.Request) -> ProxyCollection:
    return request.app[_COLLECTION]


async def _body(request: web.Request) -> object:
    return parse_body(await request.read())


# --- proxies -------------------------------------------------------------------------


async def proxy_index(request: web.Request) -> web.Response:
    proxies = _collection(request).proxies()
    return _json({name: proxies[name].to_json() for name in sorted(proxies)})


async def proxy_create(request: web.Request) -> web.Response:
    spec = parse_proxy_body(await _body(request), ProxySpec("", "", "", enabled=True))
    if not spec.name:
        raise api_error.missing_field("name")
    if not spec.upstream:
        raise api_error.missing_field("upstream")
    collection = _collection(request)
    async with collection.lock:
        proxy = await collection.add(spec)
    return _json(proxy.to_json(), 201)


async def populate(request: web.Request) -> web.Response:
    collection = _collection(request)
    try:
        body = await _body(request)
        async with collection.lock:
            result = await collection.populate(body)
    except ApiError as exc:
        result = PopulateResult([], exc)
    if result.error is not None:
        return _populate_error(result.error, result.to_json()["proxies"])
    return _json(result.to_json(), 201)


async def proxy_show(request: web.Request) -> web.Response:
    proxy = _collection(request).get(request.match_info["proxy"])
    return _json(proxy.to_json())


async def proxy_update(request: web.Request) -> web.Response:
    collection = _collection(request)
    async with collection.lock:
        proxy = collection.get(request.match_info["proxy"])
        current = ProxySpec(proxy.name, proxy.listen, proxy.upstream, proxy.enabled)
        spec = parse_proxy_body(await _body(request), current)
        await proxy.update(spec.listen, spec.upstream, spec.enabled)
    return _json(proxy.to_json())


async def proxy_delete(request: web.Request) -> web.Response:
    collection = _collection(request)
    async with collection.lock:
        await collection.remove(request.match_info["proxy"])
    return web.Response(status=204)


async def reset(request: web.Request) -> web.Response:
    collection = _collection(request)
    async with collection.lock:
        await collection.reset()
    return web.Response(status=204)


# --- toxics ---------------------------------------------------------------------------


async def toxic_index(request: web.Request) -> web.Response:
    proxy = _collection(request).get(request.match_info["proxy"])
    return _json(proxy.toxics.to_json())


async def toxic_create(request: web.Request) -> web.Response:
    collection = _collection(request)
    async with collection.lock:
        proxy = collection.get(request.match_info["proxy"])
        wrapper = proxy.toxics.add_json(await _body(request))
    return _json(wrapper.to_json())  # 200, not 201: Toxiproxy's answer


async def toxic_show(request: web.Request) -> web.Response:
    proxy = _collection(request).get(request.match_info["proxy"])
    return _json(proxy.toxics.get(request.match_info["toxic"]).to_json())


async def toxic_update(request: web.Request) -> web.Response:
    collection = _collection(request)
    async with collection.lock:
        proxy = collection.get(request.match_info["proxy"])
        name = request.match_info["toxic"]
        proxy.toxics.get(name)
        wrapper = proxy.toxics.update_json(name, await _body(request))
    return _json(wrapper.to_json())


async def toxic_delete(request: web.Request) -> web.Response:
    collection = _collection(request)
    async with collection.lock:
        proxy = collection.get(request.match_info["proxy"])
        proxy.toxics.remove(request.match_info["toxic"])
    return web.Response(status=204)


async def version(request: web.Request) -> web.Response:
    body = f'{{"version": "{TOXIPROXY_VERSION}"}}\n'.encode()
    return web.Response(body=body, headers={"Content-Type": "application/json;charset=utf-8"})


async def _no_server_header(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.popall("Server", None)


def build_app(
    collection: ProxyCollection, *, proxy_metrics: bool = False, runtime_metrics: bool = False
) -> web.Application:
    """The API application over ``collection``."""
    app = web.Application(middlewares=[_middleware(_RequestIds())])
    app.on_response_prepare.append(_no_server_header)
    app[_COLLECTION] = collection
    router = app.router
    router.add_post("/reset", reset)
    router.add_get("/proxies", proxy_index, allow_head=False)
    router.add_post("/proxies", proxy_create)
    router.add_post("/populate", populate)
    router.add_get("/proxies/{proxy}", proxy_show, allow_head=False)
    router.add_post("/proxies/{proxy}", proxy_update)
    router.add_patch("/proxies/{proxy}", proxy_update)
    router.add_delete("/proxies/{proxy}", proxy_delete)
    router.add_get("/proxies/{proxy}/toxics", toxic_index, allow_head=False)
    router.add_post("/proxies/{proxy}/toxics", toxic_create)
    router.add_get("/proxies/{proxy}/toxics/{toxic}", toxic_show, allow_head=False)
    router.add_post("/proxies/{proxy}/toxics/{toxic}", toxic_update)
    router.add_patch("/proxies/{proxy}/toxics/{toxic}", toxic_update)
    router.add_delete("/proxies/{proxy}/toxics/{toxic}", toxic_delete)
    router.add_get("/version", version, allow_head=False)
    if proxy_metrics or runtime_metrics:

        async def metrics(request: web.Request) -> web.Response:
            text = render_metrics(
                _collection(request).proxies().values(),
                proxy=proxy_metrics,
                runtime=runtime_metrics,
            )
            return web.Response(
                body=text.encode("utf-8"), headers={"Content-Type": METRICS_CONTENT_TYPE}
            )

        router.add_get("/metrics", metrics, allow_head=False)
    return app
