"""Fixtures for the stack tests: specs of throwaway services obeying the contract."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from poslab.stack.service import ServiceSpec

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


FAKE_PROXY = Path(__file__).with_name("fake_toxiproxy.py")


@pytest.fixture
def fake_programs() -> dict[str, list[str]]:
    """Every service of the default topology played by a contract-obeying fake."""
    programs = {
        name: [sys.executable, str(FAKE), "--name", name]
        for name in ("issuer", "acquirer", "agent-primary", "agent-backup")
    }
    programs["agent-primary"].append("--http-main")
    programs["agent-backup"].append("--http-main")
    programs["proxy"] = [sys.executable, str(FAKE_PROXY)]
    return programs


@pytest.fixture
def world_file(tmp_path: Path) -> Path:
    from poslab.world import generate, save

    return save(generate(7, 12), tmp_path / "world.json")
