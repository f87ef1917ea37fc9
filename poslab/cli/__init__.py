"""The `lab` command. The only place in the lab that reads argv and the environment.

Subcommands live in their own modules (``poslab/cli/<name>.py``) and are loaded
lazily, so ``lab --help`` stays fast and a subcommand's heavy imports (the
stack, plotly, ...) are paid only when it runs.
"""

from __future__ import annotations

import errno
import importlib
import sys
import traceback
from typing import Any, NoReturn

import click

from poslab.cli.exit_codes import ExitCode
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
    "verify-catalogue": "poslab.cli.verify_catalogue:verify_catalogue",
    "report": "poslab.cli.report:report",
    "compare": "poslab.cli.report:compare",
    "load": "poslab.cli.load:load",
    "drill": "poslab.cli.drill:drill",
    "fleet": "poslab.cli.fleet:fleet",
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
    """Entry point: errors the user can fix become one line and exit code 2; a
    bug becomes its traceback and exit code 3 (exit codes: :mod:`poslab.cli.exit_codes`)."""
    try:
        rv = cli.main(args=argv, prog_name="lab", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("lab: interrupted", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else "lab"
        click.echo(f"lab: error: {exc.format_message()} (see '{where} --help')", err=True)
        sys.exit(ExitCode.COULD_NOT_RUN)
    except click.ClickException as exc:
        click.echo(f"lab: error: {exc.format_message()}", err=True)
        # click's default 1 would read as "gate failed"; what a command refuses is 2
        code = exc.exit_code
        sys.exit(ExitCode.COULD_NOT_RUN if code == ExitCode.GATE_FAILED else code)
    except LabError as exc:
        click.echo(f"lab: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("lab: interrupted", err=True)
        sys.exit(ExitCode.INTERRUPTED)
    except OSError as exc:
        if exc.errno not in _ENVIRONMENT_ERRNOS:
            _internal_error()
        # the machine's, not the lab's: a full disk, a denied path, a port in use
        where = f"{exc.filename}: " if exc.filename else ""
        click.echo(f"lab: error: {where}{exc.strerror} (could not run)", err=True)
        sys.exit(ExitCode.COULD_NOT_RUN)
    except Exception:  # a bug, never a verdict: 1 would tell the pipeline the gate failed
        _internal_error()
    if isinstance(rv, int):
        sys.exit(rv)
    return rv


#: OS errors the user's machine causes (a full disk, permissions, a port in use,
#: too many open files): exit 2, could not run — never a traceback of the lab's.
_ENVIRONMENT_ERRNOS = frozenset(
    {
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EACCES,
        errno.EPERM,
        errno.EROFS,
        errno.EADDRINUSE,
        errno.EADDRNOTAVAIL,
        errno.EMFILE,
        errno.ENFILE,
        errno.EIO,
    }
)


def _internal_error() -> NoReturn:
    """A bug (called while handling it): its traceback and exit 3."""
    traceback.print_exc()
    click.echo(
        "lab: internal error (a bug in the lab, not a verdict on the system under test; "
        "the traceback is above)",
        err=True,
    )
    sys.exit(ExitCode.INTERNAL_ERROR)
