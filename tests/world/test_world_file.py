from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from poslab.errors import ConfigError
from poslab.world import World, dumps, generate, load, loads, save
from poslab.world.model import Card, Terminal


def test_round_trip(small_world: World, tmp_path: Path) -> None:
    path = save(small_world, tmp_path / "world.json")
    again = load(path)
    assert again == small_world
    assert again.to_json() == small_world.to_json() == path.read_bytes()
    t = small_world.terminals[3]
    assert again.terminal(t.tid) == t and isinstance(again.terminal(t.tid).allowed, tuple)  # type: ignore[union-attr]
    assert again.cards_for_terminal(t.tid) == small_world.cards_for_terminal(t.tid)


def test_canonical_shape(small_world: World) -> None:
    data = dumps(small_world)
    assert data.endswith(b"\n") and b"\n" not in data[:-1]
    doc = json.loads(data)
    assert list(doc) == sorted(doc)
    assert doc["format"] == 1 and doc["seed"] == small_world.seed
    assert doc["regions"] == list(small_world.regions)
    assert doc["cards"]["columns"] == [
        "pan",
        "pin",
        "kind",
        "balance_fen",
        "credit_limit_fen",
        "expiry",
        "status",
        "bank",
    ]
    assert len(doc["terminals"]["rows"]) == len(small_world.terminals)
    t = small_world.terminals[0]
    assert doc["terminals"]["rows"][0] == [
        t.tid,
        t.mid,
        t.region,
        t.tmk,
        t.software_version,
        t.vendor,
        t.model,
        t.app_type,
        list(t.allowed),
        t.primary_path,
        t.backup_path,
    ]
    assert small_world.merchants[0].name.encode() in data  # readable UTF-8, not \\u escapes
    assert (
        json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        == data
    )


def test_save_is_atomic_and_secret(small_world: World, tmp_path: Path) -> None:
    path = tmp_path / "world.json"
    path.write_text("old")
    save(small_world, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["world.json"]  # no temp file left
    # The world file is the one clear store of PANs, PINs and TMKs: owner only.
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_save_errors(small_world: World, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot write world file"):
        save(small_world, tmp_path / "missing" / "world.json")
    with pytest.raises(ConfigError, match="cannot write world file"):
        save(small_world, tmp_path)  # a directory
    assert list(tmp_path.iterdir()) == []


def _doc(world: World) -> dict:  # type: ignore[type-arg]
    return json.loads(dumps(world))  # type: ignore[no-any-return]


def test_load_errors(small_world: World, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\xff{not json")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load(bad)
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load(bad)
    with pytest.raises(ConfigError, match="not valid JSON"):
        loads(b"\xff{")


def _set(table: str, column: str, row: int, value: object) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        doc[table]["rows"][row][doc[table]["columns"].index(column)] = value

    return mutate


def _pan_of_card_0(doc: dict[str, Any]) -> str:
    return str(doc["cards"]["rows"][0][0])


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(format=2), "format 2 is not supported"),
        (lambda d: d.pop("format"), "format None"),
        (lambda d: d["cards"]["columns"].remove("pin"), "columns .* do not match"),
        (lambda d: d["cards"]["columns"].append("cvv"), "columns .* do not match"),
        (lambda d: d["cards"].pop("columns"), "columns None"),
        (lambda d: d["terminals"]["rows"][3].pop(), "terminals row 3 does not have 11 values"),
        (lambda d: d["terminals"].update(rows="x"), "must be a list of lists"),
        (lambda d: d["terminals"]["rows"].append({"tid": "1"}), "must be a list of lists"),
        (lambda d: d.update(cards=[]), "'cards' must be an object"),
        (lambda d: d.update(regions="north"), "regions"),
        (lambda d: d.update(seed="7"), "seed"),
        (lambda d: d["params"].update(bogus=1), "unknown world parameter"),
        (lambda d: d["fees"].update(debit_cap_fen=-1), "debit_cap_fen"),
        (_set("terminals", "region", 0, "atlantis"), "unknown region"),
        (lambda d: _set("cards", "pan", 1, _pan_of_card_0(d))(d), "duplicate PAN"),
        (_set("cards", "balance_fen", 0, 12.5), "balance_fen holds float, int"),
        (_set("cards", "balance_fen", 0, "100"), "balance_fen holds"),
        (_set("terminals", "tid", 0, 10000001), "tid holds int, str"),
        (_set("terminals", "allowed", 0, "sale"), "allowed holds"),
        (_set("terminals", "allowed", 0, ["sale", "cashback"]), "cashback"),
        (_set("terminals", "allowed", 0, [["sale"]]), "allowed holds"),
    ],
)
def test_malformed_worlds_are_config_errors(small_world: World, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    doc = _doc(small_world)
    mutate(doc)
    with pytest.raises(ConfigError, match=message):
        loads(json.dumps(doc))


def test_an_empty_table_loads(small_world: World) -> None:
    doc = _doc(small_world)
    doc["agents"]["rows"] = []
    assert loads(json.dumps(doc)).agents == ()


def test_top_level_must_be_object() -> None:
    with pytest.raises(ConfigError, match="top level"):
        loads(b"[]")


def test_loaded_records_share_repeated_strings(tmp_path: Path) -> None:
    world = load(save(generate(4, 200), tmp_path / "w.json"))
    kinds = [c.kind for c in world.cards if c.kind == "debit"]
    assert all(k is kinds[0] for k in kinds)  # one string object, not one per card
    assert all(isinstance(c, Card) for c in world.cards)
    assert all(isinstance(t, Terminal) for t in world.terminals)


def test_loading_processes_do_not_pay_for_faker(small_world: World, tmp_path: Path) -> None:
    path = save(small_world, tmp_path / "w.json")
    code = (
        "import sys; from poslab.world import load; "
        f"load({str(path)!r}); print('faker' in sys.modules)"
    )
    child = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert child.stdout.strip() == "False"
