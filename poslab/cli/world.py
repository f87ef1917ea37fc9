"""``lab world``: generate the deterministic payment world, import a team's own, look inside one.

    lab world import terminals.csv --cards cards.csv --out team-world.json
    lab world import team.yaml --out team-world.json     # terminals: and cards: lists
    lab run --suite gate --topology ext.yaml --world team-world.json

CSV files have a header row: terminals ``tid,mid,tmk[,region,software_version]``,
cards ``pan,pin,expect[,kind,expiry]`` (``expect``: approve, decline-lost,
decline-funds, decline-expired, or 00/41/51/54). A bad line is refused by its
file and line number (PANs masked, keys never shown).
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import fields
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from poslab.errors import ConfigError
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


def _csv_rows(path: Path) -> list[tuple[str, dict[str, str]]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            rows = []
            for row in reader:
                # the reader's line number is the row's last line: a quoted field may span lines
                clean = {(k or "").strip().lower(): (v or "") for k, v in row.items()}
                rows.append((f"{path.name}:{reader.line_num}", clean))
            return rows
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None


def _yaml_rows(path: Path) -> dict[str, list[tuple[str, dict[str, str]]]]:
    """``terminals:`` and ``cards:`` lists of mappings, each item with its line."""
    import yaml

    try:
        root = yaml.compose(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{path}: expected a mapping with terminals: and cards:")
    out: dict[str, list[tuple[str, dict[str, str]]]] = {"terminals": [], "cards": []}
    for key, value in root.value:
        if key.value not in out:
            raise ConfigError(f"{path}:{key.start_mark.line + 1}: unknown section {key.value!r}")
        if not isinstance(value, yaml.SequenceNode):
            raise ConfigError(f"{path}:{value.start_mark.line + 1}: {key.value} must be a list")
        for item in value.value:
            where = f"{path.name}:{item.start_mark.line + 1}"
            if not isinstance(item, yaml.MappingNode) or not all(
                isinstance(v, yaml.ScalarNode) for _, v in item.value
            ):
                raise ConfigError(f"{where}: expected a mapping of plain values")
            out[key.value].append((where, {k.value.lower(): v.value for k, v in item.value}))
    return out


@world.command("import")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--cards",
    "cards_csv",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="the test cards (CSV), when SOURCE is the terminals' CSV",
)
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="world file"
)
def import_command(source: Path, cards_csv: Path | None, out: Path) -> None:
    """Make a world of your own test terminals (TID, MID, TMK) and cards (PAN, PIN,
    expected outcome), from CSV or YAML: the fleet then uses only those."""
    from poslab.world.team import team_world

    if source.suffix.lower() in (".yaml", ".yml"):
        if cards_csv is not None:
            raise click.UsageError("a YAML file holds its cards: no --cards")
        sections = _yaml_rows(source)
        terminals, cards = sections["terminals"], sections["cards"]
    else:
        if cards_csv is None:
            raise click.UsageError("the cards are needed too: --cards cards.csv")
        terminals, cards = _csv_rows(source), _csv_rows(cards_csv)
    imported = team_world(terminals, cards)
    save(imported.world, out)
    w = imported.world
    for note in imported.notes:
        click.echo(f"note: {note}")
    click.echo(
        f"world of {len(w.terminals)} terminals, {len(w.merchants)} merchants, "
        f"{len(w.cards)} cards in {len(w.regions)} region(s) ({', '.join(w.regions)}) → {out}"
    )
