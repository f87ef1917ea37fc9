"""The agent backend's errors: values that carry their HTTP status, answered in
one place (the kit's :func:`~poslab.mocks.kit.fastapi_admin.install_error_answers`)
as ``{"error": message}``, the shape of every mock.

    ServiceError                  (poslab.mocks.kit) a failure with its status
    └── AgentError                an agent API failure with its HTTP status
        ├── NotFound              404 no such record / terminal / version
        ├── Conflict              409 the record is in a state that forbids it
        ├── Invalid               422 a request that parses but makes no sense
        └── UpstreamUnavailable   502 the acquirer's admin API did not answer

A subsystem switched off by an admin fault answers 503 from the fault
middleware (:mod:`poslab.mocks.agent.faults`) before any handler runs.

Field-level validation errors (pydantic) are 422 too, with the failing fields
listed (``{"error", "fields": [{"loc", "msg", "type"}]}``); these classes cover
what only the business rules can tell.
"""

from __future__ import annotations

from poslab.mocks.kit import ServiceError

__all__ = [
    "AgentError",
    "Conflict",
    "Invalid",
    "NotFound",
    "UpstreamUnavailable",
]


class AgentError(ServiceError):
    """An agent API failure answered with ``status``."""


class NotFound(AgentError):
    status = 404


class Conflict(AgentError):
    status = 409


class Invalid(AgentError):
    status = 422


class UpstreamUnavailable(AgentError):
    status = 502
