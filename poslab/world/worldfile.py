"""The world file: canonical JSON that every process loads.

Shape (``format`` 1)::

    {"agents":    {"columns": [<Agent field names>],    "rows": [[...], ...]},
     "cards":     {"columns": [<Card field names>],     "rows": [[...], ...]},
     "fees":      {<FeeSchedule field>: int, ...},
     "format":    1,
     "merchants": {"columns": [<Merchant field names>], "rows": [[...], ...]},
     "params":    {<Params field>: value, ...},
     "regions":   ["north", "south", "east"],
     "seed":      42,
     "terminals": {"columns": [<Terminal field names>], "rows": [[...], ...]}}

Each table names its columns once (the dataclass fields, in declaration
order) and holds one row per record (``allowed`` is a list of transaction
types): half the size of one object per record, and rows go straight into the
record constructors. Canonical means keys sorted, no spaces, UTF-8 (names stay
readable Chinese), a final newline: the same world always gives the same
bytes. A 100,000-terminal world (400,000 cards) is about 65 MB and loads in
2–3 s on a shared 2-core machine.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from poslab.common import PRIVATE, atomic_write, paused_gc
from poslab.errors import ConfigError
from poslab.world.fees import FeeSchedule
from poslab.world.model import (
    FORMAT,
    TXN_TYPES,
    Agent,
    Card,
    Merchant,
    Params,
    Terminal,
    World,
)

__all__ = ["dumps", "load", "loads", "save"]

_TABLES: dict[str, type[Any]] = {
    "agents": Agent,
    "merchants": Merchant,
    "terminals": Terminal,
    "cards": Card,
}
# Columns with few distinct values ("debit", bank names, regions...): one
# shared string per value instead of one per record saves about 100 MB in each
# process that loads a 100,000-terminal world.
_REPEATED = frozenset(
    {
        "agent_id",
        "app_type",
        "backup_path",
        "bank",
        "city",
        "expiry",
        "fee_class",
        "kind",
        "mcc",
        "mid",
        "model",
        "primary_path",
        "province",
        "region",
        "software_version",
        "status",
        "vendor",
    }
)


# Field annotations (strings: the model uses postponed annotations) → the
# JSON value type each column must hold.
_VALUE_TYPES: dict[object, type] = {"str": str, "int": int, "tuple[str, ...]": list}


def _columns(record_type: type[Any]) -> list[str]:
    return [f.name for f in fields(record_type)]


def _table(records: tuple[Any, ...], record_type: type[Any]) -> dict[str, Any]:
    names = _columns(record_type)
    return {"columns": names, "rows": [[getattr(r, n) for n in names] for r in records]}


def dumps(world: World) -> bytes:
    """The canonical bytes of ``world``."""
    document: dict[str, Any] = {
        "format": world.format,
        "seed": world.seed,
        "regions": list(world.regions),
        "params": world.params.to_dict(),
        "fees": world.fees.to_dict(),
        **{name: _table(getattr(world, name), rtype) for name, rtype in _TABLES.items()},
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8") + b"\n"


def _shared(values: Sequence[Any]) -> list[Any]:
    try:
        return list(map(sys.intern, values))
    except TypeError:  # not all strings (allowed tuples, or a malformed file)
        canonical = {v: v for v in values}
        return list(map(canonical.__getitem__, values))


def _record_builder(record_type: type[Any]) -> Callable[..., Any]:
    """A positional constructor for a frozen, slotted record type that fills
    the slots directly.

    A frozen dataclass's generated ``__init__`` sets each field through
    ``object.__setattr__`` (to get past its own frozen guard), which makes
    building 400,000 cards on load take over a second. The records here have
    no ``__post_init__`` and no defaults that need computing, so filling the
    slots with their descriptors gives the same objects about three times
    faster. Built with ``exec`` for the same reason dataclasses builds
    ``__init__`` that way: one straight-line function per type.
    """
    names = [f.name for f in fields(record_type)]
    if hasattr(record_type, "__post_init__") or "__slots__" not in vars(record_type):
        raise TypeError(f"{record_type.__name__} needs its own __init__")
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": record_type}
    namespace.update({f"_set_{n}": getattr(record_type, n).__set__ for n in names})
    body = "".join(f"    _set_{n}(obj, {n})\n" for n in names)
    source = f"def build({', '.join(names)}):\n    obj = _new(_cls)\n{body}    return obj\n"
    exec(source, namespace)
    build: Callable[..., Any] = namespace["build"]
    return build


_BUILDERS: dict[type[Any], Callable[..., Any]] = {t: _record_builder(t) for t in _TABLES.values()}


def _check_allowed(name: str, values: Sequence[tuple[Any, ...]]) -> None:
    try:
        distinct = set(values)
    except TypeError:  # a nested list
        distinct = {("?",)}
    for allowed in distinct:
        if not set(allowed) <= set(TXN_TYPES):
            raise ConfigError(
                f"world file: {name}.allowed holds {list(allowed)!r}; "
                f"transaction types are {', '.join(TXN_TYPES)}"
            )


def _records(document: dict[str, Any], name: str, record_type: type[Any]) -> tuple[Any, ...]:
    table = _object(document, name)
    expected = _columns(record_type)
    if table.get("columns") != expected:
        raise ConfigError(
            f"world file: {name} columns {table.get('columns')!r} do not match "
            f"format {FORMAT}: {expected!r}"
        )
    # Popped so the parsed rows are freed once turned into columns: lowers
    # the load's peak memory.
    rows = table.pop("rows", None)
    if not isinstance(rows, list) or not set(map(type, rows)) <= {list}:
        raise ConfigError(f"world file: {name}.rows must be a list of lists")
    width = len(expected)
    if not set(map(len, rows)) <= {width}:
        bad = next(i for i, row in enumerate(rows) if len(row) != width)
        raise ConfigError(f"world file: {name} row {bad} does not have {width} values")
    if not rows:
        return ()
    # By column, so each column is type-checked and its repeated strings
    # shared in one C-speed pass.
    by_column = list(zip(*rows, strict=True))
    del rows
    column_types = {f.name: f.type for f in fields(record_type)}
    columns: list[Any] = []
    for column, parsed in zip(expected, by_column, strict=True):
        values: Sequence[Any] = parsed
        kinds = set(map(type, values))
        if not kinds <= {_VALUE_TYPES[column_types[column]]}:
            found = ", ".join(sorted(k.__name__ for k in kinds))
            raise ConfigError(
                f"world file: {name}.{column} holds {found}, not {column_types[column]}"
            )
        if column == "allowed":
            values = tuple(tuple(v) for v in values)
            _check_allowed(name, values)
        if column in _REPEATED or column == "allowed":
            values = _shared(values)
        columns.append(values)
    del by_column
    return tuple(map(_BUILDERS[record_type], *columns))


def _parse(data: bytes | str) -> dict[str, Any]:
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"world file is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ConfigError("world file: top level must be an object")
    return document


def _build(document: dict[str, Any]) -> World:
    if document.get("format") != FORMAT:
        raise ConfigError(
            f"world file format {document.get('format')!r} is not supported "
            f"(expected {FORMAT}); generate it again with `lab world generate`"
        )
    regions = document.get("regions")
    seed = document.get("seed")
    if not isinstance(regions, list) or not all(isinstance(r, str) for r in regions):
        raise ConfigError("world file: 'regions' must be a list of names")
    if type(seed) is not int:
        raise ConfigError("world file: 'seed' must be an integer")
    try:
        return World(
            seed=seed,
            regions=tuple(regions),
            agents=_records(document, "agents", Agent),
            merchants=_records(document, "merchants", Merchant),
            terminals=_records(document, "terminals", Terminal),
            cards=_records(document, "cards", Card),
            fees=FeeSchedule.from_dict(_object(document, "fees")),
            params=Params.from_dict(_object(document, "params")),
        )
    except TypeError as exc:
        raise ConfigError(f"world file: malformed record: {exc}") from exc


def loads(data: bytes | str) -> World:
    """A world from the bytes :func:`dumps` wrote (ConfigError when malformed)."""
    with paused_gc():
        return _build(_parse(data))


def _object(document: dict[str, Any], name: str) -> dict[str, Any]:
    value = document.get(name)
    if not isinstance(value, dict):
        raise ConfigError(f"world file: {name!r} must be an object")
    return value


def save(world: World, path: str | os.PathLike[str]) -> Path:
    """Write ``world`` to ``path`` atomically (readers never see half a file)."""
    target = Path(path)
    data = dumps(world)
    try:
        # The run's one secret store: every PAN, PIN and TMK in clear. Only the
        # lab's user reads it — the services, containers included, run as that
        # user (docs/run-directory.md, "Secrets").
        atomic_write(target, data, mode=PRIVATE)
    except OSError as exc:
        raise ConfigError(f"cannot write world file {target}: {exc.strerror or exc}") from exc
    return target


def _read_text(path: str | os.PathLike[str]) -> str:
    try:
        # read_bytes + decode: several times faster than a text-mode read.
        return Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"world file {path} is not UTF-8 JSON: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read world file {path}: {exc.strerror or exc}") from exc


def load(path: str | os.PathLike[str]) -> World:
    """Read a world file (ConfigError when missing, unreadable or malformed).

    The file's text is released once parsed, before the records are built,
    so a large world's peak memory holds one copy of it, not three.
    """
    with paused_gc():
        return _build(_parse(_read_text(path)))
