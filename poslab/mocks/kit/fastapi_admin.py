"""The kit for the FastAPI mock (the agent): the same error body as the
aiohttp admin APIs (:mod:`~poslab.mocks.kit.aiohttp_admin`); the token guard
and the body cap are ASGI middleware (:mod:`~poslab.mocks.kit.asgi_guard`),
installed by :func:`install_guard`.

Every error is ``{"error": message}``: a :class:`ServiceError` or
:class:`FaultError` with its status, an unknown path or method with Starlette's
status, and a request that fails validation with 422 and the failing fields
(``{"error": "body.mcc: …", "fields": [{"loc", "msg", "type"}]}``), which the
OpenAPI document declares instead of FastAPI's ``{"detail"}``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from poslab.app_faults import FaultError
from poslab.mocks.kit.asgi_guard import DEFAULT_MAX_BODY_BYTES, BearerGuard, BodyLimit
from poslab.mocks.kit.service_error import ServiceError, error_body

__all__ = ["ERROR_RESPONSES", "ErrorBody", "install_error_answers", "install_guard"]


class FieldProblem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    error: str
    fields: list[FieldProblem] | None = None


#: For ``FastAPI(responses=...)``: what a validation failure looks like.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorBody, "description": "Validation error"},
}


def install_guard(
    app: FastAPI,
    token: str | None,
    *,
    max_body: int = DEFAULT_MAX_BODY_BYTES,
    larger_bodies: dict[str, int] | None = None,
) -> None:
    """The token guard outermost (a request without the token is refused
    before its body is read), the body cap next. Call it after every other
    ``add_middleware``: Starlette runs the last one added first."""
    app.add_middleware(BodyLimit, default=max_body, larger=larger_bodies)
    app.add_middleware(BearerGuard, token=token)


def install_error_answers(app: FastAPI) -> None:
    async def refused(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ServiceError | FaultError)
        return JSONResponse(error_body(exc), status_code=exc.status)

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        fields = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        message = "; ".join(f"{'.'.join(map(str, f['loc']))}: {f['msg']}" for f in fields)
        return JSONResponse({"error": message, "fields": fields}, status_code=422)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        return JSONResponse(
            {"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
        )

    app.add_exception_handler(ServiceError, refused)
    app.add_exception_handler(FaultError, refused)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http_error)
