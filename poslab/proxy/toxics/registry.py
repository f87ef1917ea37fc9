"""The toxic types by name: Toxiproxy's eight plus the lab's ISO 8583 ones."""

from __future__ import annotations

from typing import TypeVar

from poslab.proxy.toxics.base import Toxic

__all__ = ["TOXIC_TYPES", "register", "toxic_type"]

TOXIC_TYPES: dict[str, type[Toxic]] = {}

_T = TypeVar("_T", bound=type[Toxic])


def register(cls: _T) -> _T:
    if not cls.type_name or cls.type_name in TOXIC_TYPES:
        raise RuntimeError(f"toxic type {cls.type_name!r} is unnamed or registered twice")
    TOXIC_TYPES[cls.type_name] = cls
    return cls


def toxic_type(name: str) -> type[Toxic] | None:
    return TOXIC_TYPES.get(name)
