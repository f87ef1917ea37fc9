"""The agent backend's errors: values that carry their HTTP status, answered in
one place (:mod:`poslab.mocks.agent.app`) as ``{"detail": message}``.

    LabError                      (poslab.errors)
    └── AgentError                an agent API failure with its HTTP status
        ├── NotFound              404 no such record / terminal / version
        ├── Conflict              409 the record is in a state that forbids it
        ├── Invalid               422 a request that parses but makes no sense
        ├── SubsystemDown         503 a subsystem switched off (admin fault)
        └── UpstreamUnavailable   502 the acquirer's admin API did not answer

Field-level validation errors (pydantic) are FastAPI's own 422 with the usual
``{"detail": [{"loc", "msg", "type"}]}`` list; these classes cover what only
the business rules can tell.
"""

from __future__ import annotations

from poslab.errors import LabError

__all__ = [
    "AgentError",
    "Conflict",
    "Invalid",
    "NotFound",
    "SubsystemDown",
    "UpstreamUnavailable",
]


class AgentError(LabError):
    """An agent API failure answered with ``status``."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(AgentError):
    status = 404


class Conflict(AgentError):
    status = 409


class Invalid(AgentError):
    status = 422


class SubsystemDown(AgentError):
    status = 503


class UpstreamUnavailable(AgentError):
    status = 502
