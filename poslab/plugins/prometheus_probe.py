"""The ``prometheus`` probe: a PromQL instant query against a Prometheus HTTP API,
every value it returns compared with ``criteria`` and ``value`` (Litmus's promProbe).

    probes:
      - name: host-error-rate
        type: prometheus
        mode: during_fault
        params:
          url: http://prometheus:9090
          query: sum(rate(acquirer_errors_total[30s]))
          criteria: "<="
          value: 0.5

The query goes to ``<url>/api/v1/query`` (Prometheus, Thanos, Mimir and
VictoriaMetrics answer it alike). A vector must hold at least one series
(``empty_ok: true`` accepts none) and every series must meet the criteria; a
scalar is one value. Why PromQL and not a scrape of a ``/metrics`` page: the
team's own dashboards and alerts are PromQL, so a probe reads what its alerts
read, over its windows and aggregations; a lab without a Prometheus reads a
service's page with the ``http`` probe (``contains``) or a ``command``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Annotated, Any, Literal

import httpx
from pydantic import Field, JsonValue

from poslab.plugins.api import Probe, ProbeContext, ProbeParams, ProbeResult

Criteria = Literal["==", "!=", "<", "<=", ">", ">="]
_OPS: dict[str, Callable[[float, float], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class PrometheusParams(ProbeParams):
    #: the Prometheus base URL (the probe adds /api/v1/query)
    url: Annotated[str, Field(min_length=1)]
    query: Annotated[str, Field(min_length=1)]
    criteria: Criteria
    value: float
    empty_ok: bool = False


class PromQLError(Exception):
    """The API answered, but not with a result (an error status, a bad body)."""


def values_of(body: Any) -> list[tuple[str, float]]:
    """(series, value) of an instant query's answer."""
    if not isinstance(body, dict) or body.get("status") != "success":
        error = body.get("error") if isinstance(body, dict) else None
        raise PromQLError(f"the query failed: {error if error else repr(body)}")
    data: dict[str, Any] = body.get("data") or {}
    kind: Any = data.get("resultType")
    result: Any = data.get("result")
    if kind == "scalar":
        return [("scalar", float(result[1]))]
    if kind == "vector":
        out = []
        for item in result:
            metric = item.get("metric") or {}
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(metric.items()))
            out.append((f"{{{labels}}}", float(item["value"][1])))
        return out
    raise PromQLError(f"want a scalar or an instant vector, got {kind!r}")


class PrometheusProbe(Probe[PrometheusParams]):
    type = "prometheus"
    Params = PrometheusParams
    summary = "a PromQL instant query; ok when every value meets `criteria` `value`"

    async def check(self, ctx: ProbeContext) -> ProbeResult:
        p = self.params
        url = p.url.rstrip("/") + "/api/v1/query"
        async with httpx.AsyncClient(timeout=ctx.timeout_s) as client:
            response = await client.get(url, params={"query": p.query})
        try:
            series = values_of(response.json())
        except (ValueError, PromQLError, KeyError, TypeError, IndexError) as exc:
            return ProbeResult(False, None, f"HTTP {response.status_code}: {exc}")
        if not series:
            return ProbeResult(p.empty_ok, [], f"{p.query}: no series")
        compare = _OPS[p.criteria]
        bad = [(s, v) for s, v in series if math.isnan(v) or not compare(v, p.value)]
        values: list[JsonValue] = [None if math.isnan(v) else v for _, v in series]
        if bad:
            shown = ", ".join(f"{s} {v:g}" for s, v in bad[:3])
            return ProbeResult(
                False, values, f"{len(bad)} of {len(series)} not {p.criteria} {p.value:g}: {shown}"
            )
        return ProbeResult(True, values, f"{len(series)} value(s) {p.criteria} {p.value:g}")
