"""The ``http`` probe: one request, judged on its status (and, if given, its body).

probes:
  - name: acquirer-admin-up
    type: http
    params: {url: "{admin.acquirer}/health", status: [200], contains: ok}
"""

from __future__ import annotations

import time
from typing import Annotated, Literal

import httpx
from pydantic import Field

from poslab.plugins.api import Probe, ProbeContext, ProbeParams, ProbeResult

Status = Annotated[int, Field(ge=100, le=599)]


class HttpParams(ProbeParams):
    url: Annotated[str, Field(min_length=1)]
    method: Literal["GET", "HEAD", "POST"] = "GET"
    #: the statuses that mean healthy
    status: Annotated[list[Status], Field(min_length=1)] = Field(default_factory=lambda: [200])
    #: text the body must contain
    contains: str | None = None


class HttpProbe(Probe[HttpParams]):
    type = "http"
    Params = HttpParams
    summary = "an HTTP request; ok when the status is one of `status` (and the body has `contains`)"

    async def check(self, ctx: ProbeContext) -> ProbeResult:
        p = self.params
        began = time.monotonic()
        async with httpx.AsyncClient(timeout=ctx.timeout_s) as client:
            response = await client.request(p.method, p.url)
        ms = (time.monotonic() - began) * 1000
        said = f"{p.method} {p.url} → {response.status_code} in {ms:.0f} ms"
        if response.status_code not in p.status:
            return ProbeResult(False, response.status_code, f"{said} (want {p.status})")
        if p.contains is not None and p.contains not in response.text:
            return ProbeResult(False, response.status_code, f"{said}, body lacks {p.contains!r}")
        return ProbeResult(True, response.status_code, said)
