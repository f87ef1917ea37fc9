"""The application faults by service family and name, and how a request's
params become one (or a :class:`FaultError` with the HTTP status to answer)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import ValidationError

from poslab.app_faults.base import AppFault, ServiceFamily

__all__ = ["APP_FAULTS", "FaultError", "fault_type", "parse_fault", "problems", "register"]

APP_FAULTS: dict[ServiceFamily, dict[str, type[AppFault]]] = {f: {} for f in ServiceFamily}

_T = TypeVar("_T", bound=type[AppFault])


class FaultError(ValueError):
    """A fault request the mock refuses, with the HTTP status of the refusal:
    404 no such fault, 400 params that are not a JSON object, 422 bad params
    (or, from the mock itself, params that do not fit its state)."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


def register(cls: _T) -> _T:
    table = APP_FAULTS[cls.family]
    if not cls.name or cls.name in table:
        raise RuntimeError(f"{cls.family} fault {cls.name!r} is unnamed or registered twice")
    table[cls.name] = cls
    return cls


def fault_type(family: ServiceFamily, name: str) -> type[AppFault] | None:
    return APP_FAULTS[family].get(name)


def problems(exc: ValidationError) -> list[tuple[tuple[str | int, ...], str]]:
    """(where, what) for each error, worded for the person who wrote the
    params rather than in pydantic's terms."""
    out: list[tuple[tuple[str | int, ...], str]] = []
    for err in exc.errors(include_url=False):
        msg = err["msg"].removeprefix("Value error, ").replace("Input should be", "must be", 1)
        if err["type"] == "extra_forbidden":
            msg = "unknown param"
        elif err["type"] == "missing":
            msg = "required param missing"
        out.append((tuple(err["loc"]), msg))
    return out


def parse_fault(
    family: ServiceFamily,
    name: str,
    params: object,
    *,
    context: Mapping[str, Any] | None = None,
) -> AppFault:
    """The fault ``name`` of ``family`` with ``params`` (None: no params)."""
    cls = fault_type(family, name)
    if cls is None:
        known = ", ".join(sorted(APP_FAULTS[family]))
        raise FaultError(f"unknown {family} fault {name!r} (known: {known})", 404)
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise FaultError(f"fault {name}: params must be a JSON object", 400)
    try:
        return cls.model_validate(params, context=context)
    except ValidationError as exc:
        found = "; ".join(
            f"{'.'.join(map(str, loc))}: {msg}" if loc else msg for loc, msg in problems(exc)
        )
        raise FaultError(f"fault {name}: {found}") from None
