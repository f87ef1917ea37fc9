"""The kit for the FastAPI mock (the agent): the same error body and token
guard as the aiohttp admin APIs (:mod:`~poslab.mocks.kit.aiohttp_admin`).

Every error is ``{"error": message}``: a :class:`ServiceError` or
:class:`FaultError` with its status, an unknown path or method with Starlette's
status, and a request that fails validation with 422 and the failing fields
(``{"error": "body.mcc: …", "fields": [{"loc", "msg", "type"}]}``), which the
OpenAPI document declares instead of FastAPI's ``{"detail"}``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from poslab.app_faults import FaultError
from poslab.mocks.kit.admin_token import UNAUTHORISED, authorised
from poslab.mocks.kit.service_error import ServiceError, error_body

__all__ = ["ERROR_RESPONSES", "ErrorBody", "install_error_answers", "require_admin_token"]


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


async def require_admin_token(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> None:
    """Dependency: the app's ``state.admin_token`` (None: no token needed)."""
    if not authorised(request.app.state.admin_token, authorization):
        raise ServiceError(UNAUTHORISED, 401)


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
