"""Options that mean the same in every command that has them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

__all__ = ["catalogue_option", "plugin_option"]

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


def _load_plugins(_ctx: click.Context, _param: click.Parameter, modules: tuple[str, ...]) -> None:
    from poslab.plugins import load_plugins  # only when a command runs: --help stays fast

    load_plugins(modules)  # a module that is not there: PluginError, exit 2 naming it


def plugin_option() -> Callable[[F], F]:
    """``--plugin MODULE`` (repeatable) / ``LAB_PLUGINS`` (space-separated): modules
    whose probe types, fault actions and expectation kinds scenarios may use
    (docs/plugins.md); installed plugins' entry points are found without it."""
    return click.option(
        "--plugin",
        "plugins",
        multiple=True,
        metavar="MODULE",
        envvar="LAB_PLUGINS",
        expose_value=False,
        callback=_load_plugins,
        help="Import MODULE's probes, fault actions and expectation kinds (repeatable); "
        "env LAB_PLUGINS.",
    )
