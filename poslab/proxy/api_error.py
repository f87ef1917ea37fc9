"""Errors the proxy's HTTP API answers with.

An :class:`ApiError` is a value that carries its HTTP status, as in Toxiproxy's
``api.go``: handlers raise it and one place (``poslab.proxy.api``) turns it into
``{"error": msg, "status": code}`` plus a newline. It derives from
:class:`poslab.errors.ProxyError`, the same class the client raises when a server
answers an error, so both ends of the API share one exception tree::

    LabError
    └── ProxyError            (poslab.errors; the client raises it with .status)
        └── ApiError          the server-side value with its HTTP status

The messages are Toxiproxy's, word for word: clients and scripts match them.
"""

from __future__ import annotations

from poslab.errors import ProxyError

__all__ = [
    "ApiError",
    "bad_request_body",
    "missing_field",
    "refused_value",
]


class ApiError(ProxyError):
    """An API failure with the HTTP status it is answered with."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message, status)
        self.message = message

    def joined(self, detail: str) -> ApiError:
        """Toxiproxy's ``joinError``: ``"<message>: <detail>"``, same status."""
        return ApiError(f"{self.message}: {detail}", self.status)


BAD_REQUEST_BODY = ApiError("bad request body", 400)
MISSING_FIELD = ApiError("missing required field", 400)
PROXY_NOT_FOUND = ApiError("proxy not found", 404)
PROXY_ALREADY_EXISTS = ApiError("proxy already exists", 409)
INVALID_STREAM = ApiError("stream was invalid, can be either upstream or downstream", 400)
INVALID_TOXIC_TYPE = ApiError("invalid toxic type", 400)
TOXIC_ALREADY_EXISTS = ApiError("toxic already exists", 409)
TOXIC_NOT_FOUND = ApiError("toxic not found", 404)


def bad_request_body(detail: str) -> ApiError:
    return BAD_REQUEST_BODY.joined(detail)


def missing_field(detail: str) -> ApiError:
    return MISSING_FIELD.joined(detail)


def refused_value(detail: str) -> ApiError:
    """A value Toxiproxy would accept and then hang or crash on (a lab
    extension: refused up front, with the reason)."""
    return ApiError(f"bad request body: {detail}", 400)
