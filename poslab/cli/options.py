"""Options that mean the same in every command that has them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

__all__ = ["catalogue_option"]

F = TypeVar("F", bound=Callable[..., Any])


def catalogue_option() -> Callable[[F], F]:
    """``--catalogue DIR`` / ``LAB_SCENARIOS``: where scenario and suite names resolve.

    One definition for ``lab run``, ``lab verify-gate`` and ``lab scenario …``,
    so a pipeline that sets ``LAB_SCENARIOS`` once gets its own catalogue from
    every command (a path still works anywhere a name does).
    """
    return click.option(
        "--catalogue",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        envvar="LAB_SCENARIOS",
        help="Scenario directory (suites in its suites/) instead of the lab's own "
        "catalogue; env LAB_SCENARIOS.",
    )
