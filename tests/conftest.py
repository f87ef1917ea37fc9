"""Shared fixtures. Names avoid Locust's pytest plugin (it adds --host and
``session``-scoped fixtures of its own)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def repo_root() -> Path:
    return REPO


def pytest_report_header(config: pytest.Config) -> str:
    return f"lab repo: {REPO}  CI={os.environ.get('CI', '')}"
