"""The service kit the mocks share: one shape for every service.

- ready file and atomic writes: :mod:`poslab.common` (the proxy uses them too);
- the admin API: ``{"error": message}`` errors (:class:`ServiceError`, and
  :class:`~poslab.app_faults.FaultError` for refused faults), the bearer-token
  rule (:func:`admin_token_for`, :func:`guarded`: every path but ``/health``)
  and guard, body caps and server timeouts, the fault routes — for aiohttp
  (:mod:`.aiohttp_admin`, the acquirer and the issuer) and FastAPI
  (:mod:`.fastapi_admin` and :mod:`.asgi_guard`, the agent);
- :class:`FaultBoard`: the active application faults, validated by the
  declarations the scenario engine shares (:mod:`poslab.app_faults`);
- :class:`ServiceMetrics`: Prometheus metrics through prometheus-client, with
  one set of latency buckets.

The mocks are independent services and may not import each other; the kit
belongs to none of them.
"""

from __future__ import annotations

from poslab.mocks.kit.admin_token import (
    OPEN_PATHS,
    UNAUTHORISED,
    admin_token_for,
    authorised,
    guarded,
)
from poslab.mocks.kit.fault_board import FaultBoard
from poslab.mocks.kit.metrics import CONTENT_TYPE, REQUEST_SECONDS, STORAGE_SECONDS, ServiceMetrics
from poslab.mocks.kit.service_error import ServiceError, error_body

__all__ = [
    "CONTENT_TYPE",
    "OPEN_PATHS",
    "REQUEST_SECONDS",
    "STORAGE_SECONDS",
    "UNAUTHORISED",
    "FaultBoard",
    "ServiceError",
    "ServiceMetrics",
    "admin_token_for",
    "authorised",
    "error_body",
    "guarded",
]
