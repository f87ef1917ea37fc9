"""``lab drill watch``: the dashboard's figures in a terminal, for those without a browser.

:func:`render` turns the last samples (as ``/api/metrics`` serves them) into
a rich renderable — per region throughput, success ratio, p99, backup path
share and the response-code mix of the last ten seconds; sign-ons, backlogs,
the host and the agents; the team's last actions. :func:`watch` polls the
controller once a second and redraws it in a ``rich.live.Live``; when the
output is not a terminal it prints one plain line every few seconds instead.
Both stop when the drill ends or after ``seconds``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from poslab.drill.client import DrillClient
from poslab.drill.errors import ControllerUnreachable

RC_WINDOW = 10
_PLAIN_EVERY_S = 5.0


def _ratio(value: float | None) -> Text:
    if value is None:
        return Text("–")
    style = "green" if value >= 0.95 else "yellow" if value >= 0.8 else "bold red"
    return Text(f"{value:.1%}", style=style)


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def _codes(samples: Sequence[dict[str, Any]], region: str) -> str:
    mix: Counter[str] = Counter()
    for s in samples[-RC_WINDOW:]:
        fig = s["all"] if region == "all" else s["regions"].get(region, {})
        mix.update(fig.get("rc", {}))
    return " ".join(f"{code}×{n}" for code, n in mix.most_common(5)) or "–"


def _up(flag: object) -> Text:
    if flag is None:
        return Text("?")
    return Text("up", style="green") if flag else Text("DOWN", style="bold red")


def render(samples: Sequence[dict[str, Any]], status: dict[str, Any] | None) -> Group:
    if not samples:
        return Group(Text("waiting for the first complete second of the drill…"))
    last = samples[-1]
    t0 = (status or {}).get("t0")
    clock = "" if t0 is None else f"T+{int(last['t'] - t0)} s"
    paused = bool((status or {}).get("paused"))
    head = Text.assemble(
        ("payment operations ", "bold"),
        (f"{(status or {}).get('status', '?')} ", "cyan"),
        ("PAUSED by the facilitator " if paused else "", "bold yellow"),
        clock,
        f"  (sample {last['seq']})",
    )
    regions = Table(header_style="bold", expand=True)
    for column in (
        "region",
        "txn/s",
        "success",
        "p99 ms",
        "backup path",
        f"codes, last {RC_WINDOW} s",
    ):
        regions.add_column(column, justify="left" if column in ("region", "codes") else "right")
    for region in [*sorted(last["regions"]), "all"]:
        fig = last["all"] if region == "all" else last["regions"][region]
        share = fig.get("backup_share")
        regions.add_row(
            Text(region, style="bold" if region == "all" else ""),
            str(fig.get("tps", 0)),
            _ratio(fig.get("success_ratio")),
            _ms(fig.get("p99_ms")),
            "–" if share is None else f"{share:.0%}",
            _codes(samples, region),
        )
    host = last.get("host", {})
    agents = last.get("agents", {})
    recent = samples[-RC_WINDOW:]
    ops = Table(show_header=True, header_style="bold", expand=True)
    for column in (
        "sign-ons/s",
        "reversals pending",
        "settlement backlog",
        "host",
        "issuer links",
        "agent primary",
        "agent backup",
    ):
        ops.add_column(column)
    backlog = host.get("settlement_backlog")
    ops.add_row(
        f"{sum(s.get('sign_ons', 0) for s in recent) / max(1, len(recent)):.1f}",
        str(last.get("reversal_backlog", 0)),
        Text(
            f"{'?' if backlog is None else backlog}"
            + (" STALLED" if host.get("settlement_stalled") else ""),
            style="bold red" if host.get("settlement_stalled") else "",
        ),
        _up(host.get("up")),
        str(host.get("issuer_links", "?")),
        _up((agents.get("primary") or {}).get("ok")),
        _up((agents.get("backup") or {}).get("ok")),
    )
    events = [e for e in (status or {}).get("events", []) if e.get("event") != "drill_started"]
    lines = [
        Text(
            f"  {time.strftime('%H:%M:%S', time.localtime(e['t']))} "
            f"{e['by'] + ' ' if e.get('by') else ''}{e['event']}: "
            f"{e.get('text') or e.get('action') or e.get('area') or e.get('reason', '')}"
        )
        for e in events[-5:]
    ]
    return Group(head, regions, ops, Text("what the team did:", style="bold"), *lines)


def plain_line(sample: dict[str, Any]) -> str:
    total = sample["all"]
    host = sample.get("host", {})
    ratio = total.get("success_ratio")
    return (
        f"second {sample['second']}: {total.get('tps', 0)} txn/s, success "
        f"{'–' if ratio is None else f'{ratio:.1%}'}, p99 {_ms(total.get('p99_ms'))} ms, "
        f"sign-ons {sample.get('sign_ons', 0)}, reversals pending "
        f"{sample.get('reversal_backlog', 0)}, settlement backlog "
        f"{host.get('settlement_backlog', '?')}, host {'up' if host.get('up') else 'DOWN'}"
    )


def watch(
    client: DrillClient,
    console: Console,
    *,
    seconds: float,
    refresh_s: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Follow the drill for at most ``seconds``; returns how many samples were shown."""
    samples: list[dict[str, Any]] = []
    seq = 0
    deadline = time.monotonic() + seconds
    plain = not console.is_terminal
    last_plain = 0.0

    def poll() -> dict[str, Any] | None:
        nonlocal seq
        data = client.metrics(seq)
        samples.extend(data["samples"])
        del samples[:-300]
        if samples:
            seq = samples[-1]["seq"]
        status = client.status()
        return None if status.get("status") not in ("running", "starting") else status

    try:
        if plain:
            while time.monotonic() < deadline:
                status = poll()
                if samples and time.monotonic() - last_plain >= _PLAIN_EVERY_S:
                    console.print(plain_line(samples[-1]))
                    last_plain = time.monotonic()
                if status is None:
                    break
                sleep(refresh_s)
            return len(samples)
        with Live(render(samples, None), console=console, refresh_per_second=2) as live:
            while time.monotonic() < deadline:
                status = poll()
                live.update(render(samples, status))
                if status is None:
                    break
                sleep(refresh_s)
    except ControllerUnreachable:
        console.print("the drill controller stopped answering: the drill has ended")
    return len(samples)
