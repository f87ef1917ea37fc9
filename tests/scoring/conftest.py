"""Fixtures for the scoring tests (the builders live in scoring_runs.py)."""

from tests.scoring.scoring_runs import make_run

__all__ = ["make_run"]
