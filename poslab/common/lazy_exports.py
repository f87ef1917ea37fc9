"""A package's public names, imported on first use (PEP 562).

``poslab.scenario`` and ``poslab.stack`` export what callers need from their
``__init__`` without importing every submodule up front: the container
healthcheck and scenario validation must stay light, and ``lab --help`` fast.

    __getattr__, __dir__ = lazy_exports(__name__, {"poslab.stack.stack": ("Stack",)}, __all__)
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, Iterable[str]], public: Iterable[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``: each name in ``exports``
    (module → names) is imported from its module when first asked for, then kept in
    the package's namespace so later lookups never come back here."""
    module_of = {name: module for module, names in exports.items() for name in names}
    listed = tuple(public)

    def __getattr__(name: str) -> Any:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        vars(sys.modules[package])[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *listed})

    return __getattr__, __dir__
