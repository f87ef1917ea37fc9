"""Errors a mock's HTTP API answers: values that carry their status, turned
into ``{"error": message}`` in one place per web framework
(:mod:`~poslab.mocks.kit.aiohttp_admin`, :mod:`~poslab.mocks.kit.fastapi_admin`).

    ServiceError          a refusal with its HTTP status (subclassed by the
                          agent's business errors)
    poslab.app_faults.FaultError
                          a refused fault request (404 / 400 / 422), raised by
                          the fault declarations the scenario engine shares
"""

from __future__ import annotations

from typing import Any

from poslab.app_faults import FaultError

__all__ = ["ServiceError", "error_body"]


class ServiceError(Exception):
    """An API failure answered with ``status``."""

    status = 500

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


def error_body(exc: ServiceError | FaultError) -> dict[str, Any]:
    return {"error": exc.message if isinstance(exc, ServiceError) else str(exc)}
