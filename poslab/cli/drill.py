"""``lab drill``: rehearse an incident (应急演练) on a running payment world.

    lab drill start --random                   # stack + steady load + a hidden fault
    lab drill start --host 0.0.0.0 --cert c.pem --key k.pem   # a team on their own machines
    lab drill dashboard                        # the participants' link (token included)
    lab drill dashboard --facilitator          # the facilitator's link
    lab drill watch                            # the same figures in the terminal
    lab drill check host                       # a diagnosis step (network, device, …)
    lab drill note "north slow since 10:02"
    lab drill detect "primary host path down"
    lab drill mitigate use_backup_path --param regions=north
    lab drill end                              # rollback; postmortem.md / .html
    lab drill reveal [--everyone]              # facilitators: what was hidden, and when
    lab drill inject issuer-slow               # facilitators: a further fault from the catalogue
    lab drill pause | resume                   # facilitators: stop / restart the drill clock

Everything the dashboard's pages can do is a command here too. Actions carry
the participant's name (``--as NAME``, ``$LAB_DRILL_NAME``, else the login
name): the timeline and the report say who did what.

The hidden plan lives in a 0600 file of the drill's run directory, and the
participants' commands never show it. That is a rehearsal aid, not a security
boundary for people logged in as the same user; participants on other machines
(``--host``) hold only their own token, and the facilitator's view needs the
facilitator's.

Exit codes: 0 done, 2 the drill could not do it (no drill running, a bad
name, a mitigation that failed on the stack).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from poslab.drill.checks import AREAS
from poslab.drill.mitigations import CATALOGUE, parse_pairs
from poslab.drill.playbook import DRILLABLE
from poslab.drill.session import DrillFiles, current_drill

DEFAULT_RUNS_DIR = Path("runs")
DEFAULT_STATE = DEFAULT_RUNS_DIR / ".stack.json"
F = TypeVar("F", bound=Callable[..., Any])


def _which_drill(func: F) -> F:
    func = click.option(
        "--drill",
        "drill_dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="LAB_DRILL",
        help="The drill's run directory [default: the current drill].",
    )(func)
    return click.option(
        "--runs-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=DEFAULT_RUNS_DIR,
        show_default=True,
        help="Where drills are kept.",
    )(func)


def _files(runs_dir: Path, drill_dir: Path | None) -> DrillFiles:
    return current_drill(runs_dir, drill_dir)


def _client(
    runs_dir: Path, drill_dir: Path | None, name: str | None = None, facilitator: bool = False
) -> Any:
    from poslab.drill.client import DrillClient

    return DrillClient(_files(runs_dir, drill_dir), name=name, facilitator=facilitator)


def _who(func: F) -> F:
    return click.option(
        "--as",
        "name",
        metavar="NAME",
        help="Your name on the timeline [default: $LAB_DRILL_NAME, else your login name].",
    )(func)


@click.group()
def drill() -> None:
    """Incident drills: a hidden fault, a live dashboard, a timeline and a post-incident report."""


@drill.command()
@click.option("--scenario", type=click.Choice(DRILLABLE), help="Hide this catalogue scenario.")
@click.option("--random", "draw", is_flag=True, help="Hide a seeded random draw (the default).")
@click.option("--seed", type=int, help="Seed of the draw and the hidden time [default: random].")
@click.option("--terminals", type=click.IntRange(1, 2000), default=60, show_default=True)
@click.option(
    "--think-time",
    type=click.FloatRange(min=0.05),
    default=2.0,
    show_default=True,
    help="Mean seconds between one terminal's customers.",
)
@click.option(
    "--policy",
    type=click.Choice(["resilient", "naive"]),
    default="resilient",
    show_default=True,
    help="How the terminals behave under failure.",
)
@click.option(
    "--delay-window",
    default="60:300",
    show_default=True,
    metavar="LOW:HIGH",
    help="Seconds after the load starts within which the fault appears.",
)
@click.option(
    "--max-minutes",
    type=click.FloatRange(min=0.5),
    default=30.0,
    show_default=True,
    help="The drill ends (and rolls back) by itself after this.",
)
@click.option(
    "--drain",
    type=click.FloatRange(min=0),
    default=8.0,
    show_default=True,
    help="Seconds the load runs on after the end so reversals land.",
)
@click.option("--world-seed", type=int, default=42, show_default=True)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Dashboard port (0: a free one).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    metavar="ADDR",
    help="Serve the dashboard on this address (0.0.0.0: every interface) so a team joins "
    "from their own machines with the link `lab drill dashboard` prints.",
)
@click.option(
    "--cert",
    "tls_cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Serve over TLS with this PEM certificate (and its key, unless --key).",
)
@click.option(
    "--key",
    "tls_key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The certificate's PEM private key.",
)
@click.option(
    "--runs-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_RUNS_DIR,
    show_default=True,
)
@click.option(
    "--state",
    "stack_state",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_STATE,
    show_default=True,
    envvar="LAB_STACK_STATE",
    help="The stack's state file (lab status / lab down use it).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=5),
    default=120.0,
    show_default=True,
    help="Seconds to wait for the stack and the load.",
)
def start(
    scenario: str | None,
    draw: bool,
    seed: int | None,
    terminals: int,
    think_time: float,
    policy: str,
    delay_window: str,
    max_minutes: float,
    drain: float,
    world_seed: int,
    port: int,
    host: str,
    tls_cert: Path | None,
    tls_key: Path | None,
    runs_dir: Path,
    stack_state: Path,
    timeout: float,
) -> None:
    """Start the stack, a steady load and the drill controller; hide a fault in it."""
    from poslab.drill.launch import DrillRequest, parse_window, prepare, spawn

    if scenario and draw:
        raise click.UsageError("give --scenario NAME or --random, not both")
    request = DrillRequest(
        scenario=scenario,
        seed=secrets.randbelow(2**31) if seed is None else seed,
        terminals=terminals,
        think_time_s=think_time,
        policy=policy,
        delay_window_s=parse_window(delay_window),
        max_s=max_minutes * 60,
        drain_s=drain,
        world_seed=world_seed,
        port=port,
        runs_dir=runs_dir,
        stack_state=stack_state,
        host=host,
        tls_cert=tls_cert,
        tls_key=tls_key,
    )
    files, _ = prepare(request)
    console = Console()
    console.print(f"drill {files.run_dir.name}: starting the payment world and its load…")
    state = spawn(files, runs_dir, timeout)
    console.print(f"run directory  {files.run_dir}")
    console.print(f"dashboard      {state.dashboard_url}", soft_wrap=True)
    facilitator = files.read_facilitator().facilitator_url(state)
    console.print(f"facilitator    {facilitator}  (keep this one to yourself)", soft_wrap=True)
    if state.public_url is None:
        console.print("served on this machine only (loopback); --host ADDR lets a team join")
    console.print(
        f"{terminals} terminals under steady load; the drill ends by itself after "
        f"{max_minutes:g} min."
    )
    console.print("A fault will appear at a time you are not told. Watch, diagnose and act:")
    console.print(
        "  lab drill watch | check AREA | note TEXT | detect TEXT | mitigate ACTION | end"
    )


@drill.command()
@_which_drill
@_who
@click.option("--json", "as_json", is_flag=True)
@click.option("--everyone", is_flag=True, help="Show the plan on every participant's page too.")
def reveal(
    runs_dir: Path, drill_dir: Path | None, name: str | None, as_json: bool, everyone: bool
) -> None:
    """Facilitators only: the hidden plan and when each fault really went in."""
    from poslab.drill.plan import plan_of, reveal_view

    files = _files(runs_dir, drill_dir)
    secret = files.read_facilitator()
    plan = plan_of(secret)
    if everyone:
        _client(runs_dir, drill_dir, name, facilitator=True).post(
            "/api/facilitator/reveal", {"everyone": True}
        )
    summary = reveal_view(files, secret.seed, plan)
    if as_json:
        click.echo(json.dumps(summary, indent=2, ensure_ascii=False))
        return
    console = Console()
    console.print("[bold]facilitator view — do not show the participants[/bold]")
    console.print(
        f"hidden: {', '.join(summary['scenarios'])} (seed {secret.seed}); planned "
        f"at T+{plan.delay_s:g} s of the drill clock"
    )
    table = Table(header_style="bold")
    for column in ("fault", "planned", "went in", "held", "what"):
        table.add_column(column)
    for f in summary["faults"]:
        table.add_row(
            f["id"],
            f"T+{f['at_s']:g} s",
            "not yet" if f["went_in_s"] is None else f"T+{f['went_in_s']:g} s",
            "until mitigated" if f["held"] else f"{f['for_s']:g} s",
            f["what"],
        )
    console.print(table)
    console.print(
        "right mitigations: " + (", ".join(summary["right_mitigations"]) or "none needed")
    )


@drill.command()
@_which_drill
@_who
@click.argument("scenario", type=click.Choice(DRILLABLE))
def inject(runs_dir: Path, drill_dir: Path | None, name: str | None, scenario: str) -> None:
    """Facilitators only: inject a further fault from the catalogue, from now on."""
    answer = _client(runs_dir, drill_dir, name, facilitator=True).post(
        "/api/facilitator/inject", {"scenario": scenario}
    )
    click.echo(f"injected {scenario}: {', '.join(answer['faults'])}")


@drill.command()
@_which_drill
@_who
def pause(runs_dir: Path, drill_dir: Path | None, name: str | None) -> None:
    """Facilitators only: stop the drill clock (hidden faults wait; the world runs on)."""
    _client(runs_dir, drill_dir, name, facilitator=True).post("/api/facilitator/pause", {})
    click.echo(f"drill clock paused at {time.strftime('%H:%M:%S')}")


@drill.command()
@_which_drill
@_who
def resume(runs_dir: Path, drill_dir: Path | None, name: str | None) -> None:
    """Facilitators only: let the drill clock run again."""
    event = _client(runs_dir, drill_dir, name, facilitator=True).post("/api/facilitator/resume", {})
    click.echo(f"drill clock running again after {event.get('paused_s', 0):g} s")


@drill.command()
@_which_drill
@_who
@click.argument("text")
def note(runs_dir: Path, drill_dir: Path | None, name: str | None, text: str) -> None:
    """Put a note on the drill's timeline."""
    _client(runs_dir, drill_dir, name).post("/api/note", {"text": text})
    click.echo(f"noted at {time.strftime('%H:%M:%S')}")


@drill.command()
@_which_drill
@_who
@click.argument("text")
def detect(runs_dir: Path, drill_dir: Path | None, name: str | None, text: str) -> None:
    """Declare what you think is wrong (stops the time-to-detect clock)."""
    _client(runs_dir, drill_dir, name).post("/api/detect", {"text": text})
    click.echo(f"detection recorded at {time.strftime('%H:%M:%S')}")


@drill.command()
@_which_drill
@_who
@click.argument("area", type=click.Choice(AREAS))
def check(runs_dir: Path, drill_dir: Path | None, name: str | None, area: str) -> None:
    """Run a diagnosis check: network, device, software, host, agent or settlement."""
    report = _client(runs_dir, drill_dir, name).post("/api/check", {"area": area})
    table = Table(title=f"check {area}: {report['verdict']}", header_style="bold")
    for column in ("what", "value", ""):
        table.add_column(column)
    colours = {"ok": "green", "warn": "yellow", "bad": "bold red"}
    for what, value, verdict in report["rows"]:
        table.add_row(what, value, f"[{colours.get(verdict, '')}]{verdict}[/]")
    Console().print(table)


@drill.command()
@_which_drill
@_who
@click.argument("action", required=False)
@click.option(
    "--param",
    "pairs",
    multiple=True,
    metavar="KEY=VALUE",
    help="A parameter, e.g. regions=north (repeatable).",
)
@click.option("--list", "listing", is_flag=True, help="List the mitigations and their params.")
def mitigate(
    runs_dir: Path,
    drill_dir: Path | None,
    name: str | None,
    action: str | None,
    pairs: tuple[str, ...],
    listing: bool,
) -> None:
    """Run a mitigation on the stack (see --list)."""
    if listing or action is None:
        table = Table(title="mitigations", header_style="bold")
        for column in ("action", "what it does", "params"):
            table.add_column(column)
        for m in CATALOGUE.values():
            table.add_row(
                m.name, m.summary, "; ".join(f"{k}: {h}" for k, (_, h) in m.params.items())
            )
        Console().print(table)
        if action is None and not listing:
            raise click.UsageError("name an ACTION (the table above lists them)")
        return
    event = _client(runs_dir, drill_dir, name).post(
        "/api/mitigate", {"action": action, "params": parse_pairs(pairs)}
    )
    click.echo(f"{action}: {event['result']} ({event['seconds']:.1f} s)")


@drill.command()
@_which_drill
@click.option(
    "--facilitator", "as_facilitator", is_flag=True, help="The facilitator's view instead."
)
def dashboard(runs_dir: Path, drill_dir: Path | None, as_facilitator: bool) -> None:
    """Print the live dashboard's link (the participants' token in it: share it with
    the team), or the facilitator's."""
    files = _files(runs_dir, drill_dir)
    state = files.read_state()
    if state.dashboard_url is None or state.status != "running":
        raise click.ClickException(f"the drill is {state.status}: no dashboard")
    click.echo(
        files.read_facilitator().facilitator_url(state) if as_facilitator else state.dashboard_url
    )


@drill.command()
@_which_drill
@click.option(
    "--seconds", type=click.FloatRange(min=1), help="Stop after this [default: the drill's end]."
)
def watch(runs_dir: Path, drill_dir: Path | None, seconds: float | None) -> None:
    """The dashboard's figures in the terminal, refreshed every second."""
    from poslab.drill.console import watch as follow

    client = _client(runs_dir, drill_dir)
    left = (client.state.max_end_at or time.time() + 3600) - time.time() + 60
    follow(client, Console(), seconds=min(seconds or left, max(1.0, left)))


@drill.command()
@_which_drill
@click.option("--json", "as_json", is_flag=True)
def status(runs_dir: Path, drill_dir: Path | None, as_json: bool) -> None:
    """The drill's state, clock and latest figures (never the hidden fault)."""
    from poslab.drill.console import plain_line
    from poslab.drill.launch import controller_alive

    files = _files(runs_dir, drill_dir)
    state = files.read_state()
    alive = controller_alive(state)
    latest = None
    if alive and state.status == "running":
        samples = _client(runs_dir, drill_dir).metrics(0)["samples"]
        latest = samples[-1] if samples else None
    info = {
        "run_dir": str(files.run_dir),
        "status": state.status,
        "controller_alive": alive,
        "dashboard": state.dashboard_url,
        "t0": state.t0,
        "max_end_at": state.max_end_at,
        "terminals": state.terminals,
        "policy": state.policy,
        "reports": state.reports,
    }
    if as_json:
        click.echo(json.dumps({**info, "latest": latest}, indent=2))
        return
    for key, value in info.items():
        click.echo(f"{key:17}{value}")
    if state.t0 is not None and state.status == "running":
        click.echo(f"{'drill clock':17}T+{time.time() - state.t0:.0f} s")
    if latest is not None:
        click.echo(plain_line(latest))
    if state.status == "running" and not alive:
        click.echo("the controller is gone: `lab drill end` cleans up and writes the report")


@drill.command()
@_which_drill
@_who
@click.option("--keep", is_flag=True, help="Leave the stack running (stop it with lab down).")
@click.option("--timeout", type=click.FloatRange(min=5), default=180.0, show_default=True)
def end(
    runs_dir: Path, drill_dir: Path | None, name: str | None, keep: bool, timeout: float
) -> None:
    """End the drill: roll every fault back, stop the load (and stack), write the report."""
    from poslab.drill.launch import end as end_drill

    files = _files(runs_dir, drill_dir)
    click.echo("ending: rolling back, draining the load, exporting the ledger…")
    state, steps = end_drill(files, keep=keep, timeout_s=timeout, name=name)
    for step in steps:
        click.echo(f"  {step}")
    _print_summary(files)
    if state.error:
        raise click.ClickException(f"the drill ended with an error: {state.error}")


@drill.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
def report(run_dir: Path) -> None:
    """Write the post-incident report of a finished drill again."""
    from poslab.drill.postmortem import write_postmortem

    files = DrillFiles(run_dir)
    for kind, path in write_postmortem(files).items():
        click.echo(f"{kind:5}{path}")
    _print_summary(files)


def _print_summary(files: DrillFiles) -> None:
    try:
        data = json.loads(files.postmortem_json.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        click.echo(f"no post-incident report in {files.run_dir} (see {files.controller_log})")
        return
    f = data["figures"]

    def s(v: float | None) -> str:
        return "—" if v is None else f"{v:g} s"

    click.echo(f"hidden: {', '.join(data['plan']['scenarios'])}")
    click.echo(
        f"time to detect {s(f['detect_s'])}, to mitigate {s(f['mitigate_s'])}, "
        f"to recover {s(f['recover_s'])}"
    )
    for m in data["mitigations"]:
        click.echo(f"  {m['action']}: {m['verdict']} — {m['effect']}")
    click.echo(f"report: {files.postmortem_html}")
    click.echo(f"        {files.postmortem_md}")
