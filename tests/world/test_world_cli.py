from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from poslab.cli import main
from poslab.world import generate, load
from tests.support.processes import lab


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    out, err = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 0), out, err


def test_generate_writes_the_same_world_as_the_api(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "world.json"
    argv = ["world", "generate", "--seed", "11", "--terminals", "120", "--out", str(out)]
    argv += ["--regions", "north,west", "--cards-per-terminal", "3", "--set", "min_software=020003"]
    rv = main(argv)
    assert rv is None  # success returns normally (exit 0)
    stdout = capsys.readouterr().out
    assert "120 terminals" in stdout and str(out) in stdout
    expected = generate(
        11, 120, regions=("north", "west"), cards_per_terminal=3, min_software="020003"
    )
    assert out.read_bytes() == expected.to_json()
    assert hashlib.sha256(out.read_bytes()).hexdigest()[:16] in stdout


def test_the_lab_command_in_a_subprocess(tmp_path: Path) -> None:
    """The real entry point, twice: byte-identical files from two processes."""
    files = [tmp_path / "a.json", tmp_path / "b.json"]
    for f in files:
        made = lab("world", "generate", "--seed", "3", "--terminals", "50", "--out", f, timeout=60)
        assert made.returncode == 0, made.stderr
    assert files[0].read_bytes() == files[1].read_bytes()
    shown = lab("world", "show", files[0], timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "north" in shown.stdout and "50 terminals" in shown.stdout and "expired" in shown.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--terminals", "0"], "--terminals"),
        (["--terminals", "-4"], "--terminals"),
        (["--terminals", "many"], "--terminals"),
        (["--seed", "-1"], "--seed"),
        (["--cards-per-terminal", "0"], "--cards-per-terminal"),
        (["--bogus", "1"], "No such option"),
        (["--regions", "north,,east"], "empty region name"),
        (["--regions", "North"], "region name"),
        (["--set", "nonsense"], "NAME=VALUE"),
        (["--set", "expired_share=lots"], "takes a float"),
        (["--set", "expired_share=3"], "expired_share"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "w.json"
    code, _, stderr = _run(["world", "generate", "--out", str(out), *args], capsys)
    assert code == 2
    assert stderr.count("\n") == 1 and message in stderr and stderr.startswith("lab: error:")
    assert not out.exists()


@pytest.mark.parametrize("where", ["missing-dir/w.json", "."])
def test_unwritable_out_is_one_line_and_exit_2(
    where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, stderr = _run(["world", "generate", "--out", str(tmp_path / where)], capsys)
    assert code == 2 and stderr.count("\n") == 1


def test_missing_out_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, stderr = _run(["world", "generate"], capsys)
    assert code == 2 and "--out" in stderr and stderr.count("\n") == 1


def test_show_summarises(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "w.json"
    main(["world", "generate", "--seed", "5", "--terminals", "80", "--out", str(out)])
    capsys.readouterr()
    main(["world", "show", str(out)])
    shown = capsys.readouterr().out
    world = load(out)
    for region in world.regions:
        assert region in shown
    assert f"{len(world.cards)} cards" in shown
    assert "credit" in shown and "debit" in shown and "outdated" in shown


@pytest.mark.parametrize("content", [None, b"{}", b"not json"])
def test_show_bad_file_is_exit_2(
    content: bytes | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "w.json"
    if content is not None:
        path.write_bytes(content)
    code, _, stderr = _run(["world", "show", str(path)], capsys)
    assert code == 2 and stderr.count("\n") == 1 and "world file" in stderr
