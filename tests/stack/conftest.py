"""Fixtures for the stack tests: specs of throwaway services obeying the contract."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from lab.stack.service import ServiceSpec

FAKE = Path(__file__).with_name("fake_service.py")

MakeSpec = Callable[..., ServiceSpec]


@pytest.fixture
def fake_spec(tmp_path: Path) -> MakeSpec:
    """Build the spec of a fake service named ``name`` with extra flags."""

    def make(name: str = "fake", *flags: str, admin: bool = True) -> ServiceSpec:
        port_flags = {"main": "--port", "admin": "--admin-port"} if admin else {"main": "--port"}
        return ServiceSpec(
            name=name,
            argv=(sys.executable, str(FAKE), "--name", name, *flags),
            port_flags=port_flags,
            log_file=tmp_path / "services" / f"{name}.log",
            ready_file=tmp_path / "services" / f"{name}.ready.json",
            health_port="admin" if admin else "main",
        )

    return make


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
