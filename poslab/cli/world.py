"""``lab world``: generate the deterministic payment world, and look inside one."""

from __future__ import annotations

import hashlib
from dataclasses import fields
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from poslab.world import MAX_TERMINALS, FeeSchedule, Params, generate, load, save
from poslab.world.amounts import MCC_PROFILES
from poslab.world.summary import WorldSummary, summarize

__all__ = ["world"]

# Settings `--set` may change, with the type each value is parsed as.
_SETTINGS: dict[str, type] = {
    f.name: type(f.default)
    for cls in (Params, FeeSchedule)
    for f in fields(cls)
    if f.name != "cards_per_terminal"
}


def _regions(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in value.split(","))
    if not all(names):
        raise click.BadParameter(f"empty region name in {value!r}")
    return names


def _settings(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for item in values:
        name, sep, raw = item.partition("=")
        kind = _SETTINGS.get(name.strip())
        if not sep or kind is None:
            known = ", ".join(sorted(_SETTINGS))
            raise click.BadParameter(f"{item!r}: expected NAME=VALUE with NAME one of {known}")
        try:
            parsed[name.strip()] = kind(raw.strip())
        except ValueError:
            raise click.BadParameter(f"{item!r}: {name} takes a {kind.__name__}") from None
    return parsed


@click.group()
def world() -> None:
    """The deterministic payment world: agents, merchants, terminals, cards."""


@world.command("generate")
@click.option("--seed", type=click.IntRange(min=0), default=42, show_default=True)
@click.option("--terminals", type=click.IntRange(1, MAX_TERMINALS), default=200, show_default=True)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="world file to write (JSON)",
)
@click.option(
    "--regions",
    default="north,south,east",
    show_default=True,
    callback=_regions,
    help="comma-separated region names (each gets proxy region-<name>)",
)
@click.option("--cards-per-terminal", type=click.IntRange(1, 100), default=4, show_default=True)
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="NAME=VALUE",
    callback=_settings,
    help="override a world parameter or fee, e.g. min_software=020003, debit_cap_fen=2000",
)
def generate_command(
    seed: int,
    terminals: int,
    out: Path,
    regions: tuple[str, ...],
    cards_per_terminal: int,
    settings: dict[str, Any],
) -> None:
    """Generate a world from a seed: the same seed and size give the same bytes."""
    made = generate(
        seed, terminals, regions=regions, cards_per_terminal=cards_per_terminal, **settings
    )
    save(made, out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()[:16]
    click.echo(
        f"world seed {seed}: {len(made.terminals)} terminals, {len(made.merchants)} merchants, "
        f"{len(made.cards)} cards in {len(made.regions)} regions → {out} "
        f"({out.stat().st_size:,} bytes, sha256 {digest}…)"
    )


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "–"


def _render(summary: WorldSummary, path: Path, console: Console) -> None:
    console.print(
        f"[bold]{path}[/bold]  seed {summary.seed}, format {summary.format}: "
        f"{summary.agents} agents, {summary.merchants} merchants, "
        f"{summary.terminals} terminals, {summary.cards} cards"
    )
    regions = Table(title="Terminals by region")
    for column in ("region", "merchants", "terminals", "outdated", "no refund", "magstripe"):
        regions.add_column(column, justify="left" if column == "region" else "right")
    for r in summary.regions:
        regions.add_row(
            r.region,
            str(r.merchants),
            str(r.terminals),
            _pct(r.outdated, r.terminals),
            _pct(r.no_refund, r.terminals),
            _pct(r.magstripe, r.terminals),
        )
    console.print(regions)
    cards = Table(title="Cards")
    cards.add_column("")
    cards.add_column("count", justify="right")
    cards.add_column("share", justify="right")
    for kind, count in summary.cards_by_kind.items():
        cards.add_row(kind, str(count), _pct(count, summary.cards))
    for label, count in (
        ("expired", summary.expired_cards),
        ("lost", summary.lost_cards),
        ("under 20 yuan", summary.low_funds_cards),
    ):
        cards.add_row(label, str(count), _pct(count, summary.cards))
    console.print(cards)
    mccs = Table(title="Merchants by category")
    for column in ("MCC", "", "merchants", "share"):
        mccs.add_column(column, justify="right" if column in ("merchants", "share") else "left")
    for mcc, count in summary.merchants_by_mcc.items():
        label = MCC_PROFILES[mcc].label if mcc in MCC_PROFILES else ""
        mccs.add_row(mcc, label, str(count), _pct(count, summary.merchants))
    mccs.add_row(
        "",
        "D0 (same-day payout)",
        str(summary.d0_merchants),
        _pct(summary.d0_merchants, summary.merchants),
    )
    console.print(mccs)


@world.command("show")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def show_command(path: Path) -> None:
    """Summarise a world file: counts by region and card kind, and the shares of
    outdated terminals and expired cards."""
    _render(summarize(load(path)), path, Console())
