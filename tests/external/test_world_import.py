"""``lab world import``: a team's own test terminals and cards as the lab's world
(issue 13, item 4), and the refusals that name the line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from poslab.cli import main
from poslab.errors import ConfigError
from poslab.world import load, mask_pan
from poslab.world.team import team_world
from tests.external.support import write_team_files


@pytest.fixture
def invoke(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str]]:
    """``lab world import ARGS`` in process: (exit code, stdout + stderr)."""

    def run(*args: str) -> tuple[int, str]:
        code: object = 0
        try:
            main(["world", "import", *args])
        except SystemExit as exited:
            code = exited.code
        out, err = capsys.readouterr()
        return (code if isinstance(code, int) else 0), out + err

    return run


def test_csv_import_gives_a_world_of_exactly_those_terminals(
    invoke: Callable[..., tuple[int, str]], tmp_path: Path
) -> None:
    terminals, cards = write_team_files(tmp_path, terminals=5)
    out = tmp_path / "team.json"
    code, text = invoke(str(terminals), "--cards", str(cards), "--out", str(out))
    assert code == 0, text
    world = load(out)
    rows = terminals.read_text().splitlines()[1:]
    assert [t.tid for t in world.terminals] == [r.split(",")[0] for r in rows]
    assert [t.tmk for t in world.terminals] == [r.split(",")[2] for r in rows]
    assert len(world.cards) == 5 * world.params.cards_per_terminal
    assert world.params.unknown_card_share == 0 and world.params.wrong_pin_share == 0
    for card in world.cards:
        assert card.pan not in text, "the output shows no full PAN"


def test_yaml_import_and_expected_outcomes(
    invoke: Callable[..., tuple[int, str]], tmp_path: Path
) -> None:
    src = tmp_path / "team.yaml"
    src.write_text(
        "terminals:\n"
        "  - {tid: '10000001', mid: '898310054110001', tmk: 0123456789ABCDEFFEDCBA9876543210,"
        " region: east}\n"
        "cards:\n"
        "  - {pan: '6222021234567890128', pin: '123456', expect: approve}\n"
        "  - {pan: '6222021234567890136', pin: '654321', expect: '41', kind: credit}\n"
        "  - {pan: '6222021234567890144', expect: decline-funds}\n",
        encoding="utf-8",
    )
    out = tmp_path / "w.json"
    code, text = invoke(str(src), "--out", str(out))
    assert code == 0, text
    world = load(out)
    assert world.regions == ("east",) and world.terminals[0].primary_path == "region-east"
    status = {c.pan[-4:]: (c.status, c.balance_fen > 0, c.kind) for c in world.cards}
    assert status == {
        "0128": ("active", True, "debit"),
        "0136": ("lost", True, "credit"),
        "0144": ("active", False, "debit"),
    }


@pytest.mark.parametrize(
    ("terminal_line", "card_line", "message"),
    [
        ("10000001,898310054110001,0123456789ABCDEF", None,
         "terminals.csv:2: terminal 10000001: TMK must be 32 hex digits"),
        ("10000001,898310054110001,0023456789ABCDEFFEDCBA9876543210", None,
         "terminals.csv:2: terminal 10000001: TMK has a byte without odd parity"),
        ("10000001,898310054110001,0123456789ABCDEF0123456789ABCDEF", None,
         "terminals.csv:2: terminal 10000001: TMK halves are equal"),
        ("10000001,898310054110001,", None, "terminals.csv:2: tmk is missing"),
        (None, "6222021234567890127,123456,approve",
         f"cards.csv:2: PAN {mask_pan('6222021234567890127')} fails the Luhn check"),
        (None, "6222021234567890128,123456,maybe",
         f"cards.csv:2: PAN {mask_pan('6222021234567890128')}: expect"),
    ],
    ids=["short-tmk", "parity", "single-des", "no-tmk", "luhn", "unknown-outcome"],
)  # fmt: skip
def test_bad_lines_are_refused_naming_the_line(
    invoke: Callable[..., tuple[int, str]],
    tmp_path: Path,
    terminal_line: str | None,
    card_line: str | None,
    message: str,
) -> None:
    terminals = tmp_path / "terminals.csv"
    cards = tmp_path / "cards.csv"
    good_terminal = "10000001,898310054110001,0123456789ABCDEFFEDCBA9876543210"
    terminals.write_text(f"tid,mid,tmk\n{terminal_line or good_terminal}\n")
    cards.write_text(f"pan,pin,expect\n{card_line or '6222021234567890128,123456,approve'}\n")
    code, text = invoke(str(terminals), "--cards", str(cards), "--out", str(tmp_path / "w.json"))
    assert code == 2, text
    assert message in text
    assert "0123456789ABCDEF" not in text, "a key is never shown"
    assert "6222021234567890127" not in text, "a PAN is shown masked"
    assert not (tmp_path / "w.json").exists()


def test_yaml_lines_are_named_too(invoke: Callable[..., tuple[int, str]], tmp_path: Path) -> None:
    src = tmp_path / "team.yaml"
    src.write_text(
        "terminals:\n"
        "  - {tid: '10000001', mid: '898310054110001', tmk: 0123456789ABCDEFFEDCBA9876543210}\n"
        "cards:\n"
        "  - {pan: '6222021234567890128'}\n"
        "  - {pan: '6222021234567890129'}\n",
        encoding="utf-8",
    )
    code, text = invoke(str(src), "--out", str(tmp_path / "w.json"))
    assert code == 2 and f"team.yaml:5: PAN {mask_pan('6222021234567890129')} fails" in text


def test_a_duplicate_tid_and_too_few_cards() -> None:
    row = {"tid": "10000001", "mid": "898310054110001", "tmk": "0123456789ABCDEFFEDCBA9876543210"}
    card = {"pan": "6222021234567890128"}
    with pytest.raises(ConfigError, match="t:3: tid 10000001 already on t:2"):
        team_world([("t:2", row), ("t:3", row)], [("c:2", card), ("c:3", card)])
    with pytest.raises(ConfigError, match="1 card\\(s\\) for 2 terminals"):
        team_world([("t:2", row), ("t:3", row | {"tid": "10000002"})], [("c:2", card)])
