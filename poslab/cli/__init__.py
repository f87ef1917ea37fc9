"""The `lab` command. The only place in the lab that reads argv and the environment.

Subcommands live in their own modules (``poslab/cli/<name>.py``) and are loaded
lazily, so ``lab --help`` stays fast and a subcommand's heavy imports (the
stack, plotly, ...) are paid only when it runs.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from poslab.errors import LabError

# command name -> "module:attribute"
_COMMANDS: dict[str, str] = {
    "world": "poslab.cli.world:world",
    "proxy": "poslab.cli.proxy:proxy",
    "up": "poslab.cli.stack:up",
    "down": "poslab.cli.stack:down",
    "status": "poslab.cli.stack:status",
    "scenario": "poslab.cli.scenario:scenario",
    "run": "poslab.cli.run:run",
    "verify-gate": "poslab.cli.run:verify_gate",
    "report": "poslab.cli.report:report",
    "compare": "poslab.cli.report:compare",
    "load": "poslab.cli.load:load",
    "drill": "poslab.cli.drill:drill",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        command: click.Command = getattr(importlib.import_module(module_name), attr)
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pos-resilience-lab", prog_name="lab")
def cli() -> None:
    """POS resilience lab: chaos testing for card-present payment systems."""


def main(argv: list[str] | None = None) -> Any:
    """Entry point: errors the user can fix become one line and exit code 2."""
    try:
        rv = cli.main(args=argv, prog_name="lab", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("lab: interrupted", err=True)
        sys.exit(130)
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else "lab"
        click.echo(f"lab: error: {exc.format_message()} (see '{where} --help')", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        click.echo(f"lab: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except LabError as exc:
        click.echo(f"lab: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("lab: interrupted", err=True)
        sys.exit(130)
    if isinstance(rv, int):
        sys.exit(rv)
    return rv
