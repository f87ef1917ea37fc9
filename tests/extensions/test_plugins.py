"""The extension points without a stack: --plugin, entry points, what validation
says (file, line, field) about unknown names and ill-typed params, and a
plugin's expectation kind scored like a built-in one."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

import poslab.plugins.registry as registry
from poslab.cli import main
from poslab.plugins import (
    PluginError,
    ensure_expectation_kind,
    fault_action_class,
    load_plugins,
    probe_class,
)
from poslab.scoring import score_run
from poslab.testing import SyntheticScenario, write_run

PLUGIN = "tests.extensions.sample_plugin"

VALID = """\
name: probed
load: {terminals: 6, duration: 8s}
slo: {success_ratio: 0.5, p99_ms: 1000}
recovery: {target: 1s, good_seconds: 1}
steady_state: null
faults:
  - {kind: plugin, action: mark, at: 3s, for: 2s, params: {label: hello}}
probes:
  - {name: admin, type: http, params: {url: "{admin.acquirer}/health"}}
  - {name: books, type: command, mode: end, params: {argv: [./check.sh]}}
  - name: errors
    type: prometheus
    mode: during_fault
    params: {url: "http://prometheus:9090", query: "sum(up)", criteria: ">=", value: 1}
  - {name: own, type: flaky}
expectations:
  - kind: attempts_at_least
    params: {min: 1}
"""

INVALID = """\
name: bad
load: {terminals: 6, duration: 8s}
slo: {success_ratio: 0.5, p99_ms: 1000}
recovery: {target: 1s, good_seconds: 1}
steady_state: null
faults:
  - {kind: plugin, action: nope, at: 3s, for: 2s}
  - {kind: plugin, action: mark, at: 3s, for: 2s, params: {times: x}}
probes:
  - {name: a, type: nope}
  - {name: b, type: http, params: {url: "{admin.nothing}/x", status: [42], extra: 1}}
  - {name: slo, type: prometheus, params: {url: "http://p", query: up, criteria: "=~", value: 1}}
expectations:
  - kind: not_a_kind
  - kind: attempts_at_least
"""


def _lab(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_plugin_module_makes_its_names_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, "probed", VALID)
    code, out, err = _lab(["scenario", "validate", "--plugin", PLUGIN, path], capsys)
    assert code == 0, err
    assert f"ok  {path}: scenario probed: 1 fault" in out


def test_every_unknown_name_and_bad_param_is_named_at_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, "bad", INVALID)
    code, _, err = _lab(["scenario", "validate", "--plugin", PLUGIN, path], capsys)
    assert code == 2
    expected = [
        f"{path}:7: faults[0].action: unknown fault action 'nope' (known: mark)",
        f"{path}:8: faults[1].params.label: required param missing",
        f"{path}:8: faults[1].params.times: must be a valid integer",
        f"{path}:10: probes[0].type: unknown probe type 'nope' (known: command, flaky, http, "
        "prometheus)",
        f"{path}:11: probes[1].params.url: {{admin.nothing}}: no service 'nothing' in the topology",
        f"{path}:11: probes[1].params.status[0]: must be greater than or equal to 100",
        f"{path}:11: probes[1].params.extra: unknown param",
        f"{path}:12: probes[2].name: 'slo' is the runner's own probe",
        f"{path}:12: probes[2].params.criteria: must be '==', '!=', '<', '<=', '>' or '>='",
        f"{path}:14: expectations[0].kind: unknown expectation kind 'not_a_kind' (known: ",
        # the file has no `params` to point into: the check itself is named
        f"{path}:15: expectations[1].min: param 'min' is required",
    ]
    lines = err.splitlines()
    for want in expected:
        assert any(line.startswith(want) for line in lines), (want, err)


def test_an_unknown_plugin_module_is_exit_2_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, "probed", VALID)
    for argv in (
        ["scenario", "validate", "--plugin", "no_such.plugin", path],
        ["run", path, "--plugin", "no_such.plugin", "--runs-dir", str(tmp_path / "runs")],
    ):
        code, _, err = _lab(argv, capsys)
        assert code == 2
        assert "lab: error: plugin module 'no_such.plugin' not found" in err
    assert not (tmp_path / "runs").exists()  # refused before anything was made


def test_a_plugin_that_fails_to_import_is_named_with_its_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_plugin.py").write_text("import no_such_dependency\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError, match=r"'broken_plugin' could not be imported: .*no_such_dep"):
        load_plugins(["broken_plugin"])


def _entry_points(monkeypatch: pytest.MonkeyPatch, *eps: EntryPoint) -> None:
    def found(group: str) -> list[EntryPoint]:
        return [e for e in eps if e.group == group]

    monkeypatch.setattr(registry, "_entry_points", found)


def test_entry_points_are_found_by_name_and_loaded_on_first_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    load_plugins([PLUGIN])  # the classes the entry points name
    _entry_points(
        monkeypatch,
        EntryPoint("team-flaky", f"{PLUGIN}:Flaky", "poslab.probes"),
        EntryPoint("broken", "no_such_dist.probes:Probe", "poslab.probes"),
        EntryPoint("not-a-probe", f"{PLUGIN}:MarkParams", "poslab.probes"),
        EntryPoint("mark", f"{PLUGIN}:Mark", "poslab.fault_actions"),
    )
    assert "broken" in registry.PROBES.names() and "http" in registry.PROBES.names()
    # a type registered under another name is refused: names are what scenarios use
    with pytest.raises(PluginError, match="registered as 'team-flaky' but its type is 'flaky'"):
        probe_class("team-flaky")
    with pytest.raises(PluginError, match=r"entry point broken = no_such_dist.* be loaded"):
        probe_class("broken")
    with pytest.raises(PluginError, match=r"a probe type is a poslab\.plugins\.Probe subclass"):
        probe_class("not-a-probe")
    assert fault_action_class("mark").name == "mark"
    with pytest.raises(PluginError, match=r"unknown probe type 'nope' \(known: broken, command"):
        probe_class("nope")


def test_an_expectation_kind_from_an_entry_point_reaches_scoring(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    load_plugins([PLUGIN])
    _entry_points(
        monkeypatch, EntryPoint("always_breaks", f"{PLUGIN}:always_breaks", "poslab.expectations")
    )
    ensure_expectation_kind("always_breaks")  # already registered by the module: the same object
    with pytest.raises(PluginError, match="unknown expectation kind 'nope'"):
        ensure_expectation_kind("nope")


def test_a_plugins_expectation_kind_is_scored_and_its_bug_is_a_failed_check(
    tmp_path: Path,
) -> None:
    load_plugins([PLUGIN])
    run = write_run(
        tmp_path,
        [
            SyntheticScenario(
                name="s",
                transactions=300,
                duration_s=20,
                fault=(8.0, 4.0),
                expectations=[
                    {"name": "enough", "kind": "attempts_at_least", "params": {"min": 10}},
                    {"name": "too-many", "kind": "attempts_at_least", "params": {"min": 10**9}},
                    {"name": "buggy", "kind": "always_breaks", "params": {}},
                ],
            )
        ],
    )
    checks = {e.name: e for e in score_run(run).scenarios[0].expectations}
    assert checks["enough"].held and not checks["too-many"].held
    assert not checks["buggy"].held
    assert checks["buggy"].detail == 'the evaluator failed: ZeroDivisionError("the plugin\'s bug")'


def test_the_timeline_shows_the_probes_and_their_checks_after_the_scenarios_own(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, "probed", VALID)
    code, out, err = _lab(["scenario", "show", "--plugin", PLUGIN, path], capsys)
    assert code == 0, err
    checks = out.split("  expectations:\n")[1].split("  probes:\n")[0].splitlines()
    assert [line.split(":")[0].strip() for line in checks] == [
        "attempts-at-least",
        "probe-admin",
        "probe-books",
        "probe-errors",
        "probe-own",
    ]
    assert "    admin: http continuous every 2s (timeout 2 s)" in out
    assert "    books: command end (timeout 2 s)" in out
    assert "    errors: prometheus during_fault every 2s (timeout 2 s)" in out


def test_an_installed_distributions_entry_points_need_no_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # a distribution as pip leaves it: its module and a dist-info with entry_points.txt
    site = tmp_path / "site"
    (site / "team_probes-1.0.dist-info").mkdir(parents=True)
    (site / "team_probes-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: team-probes\nVersion: 1.0\n", encoding="utf-8"
    )
    (site / "team_probes-1.0.dist-info" / "entry_points.txt").write_text(
        "[poslab.probes]\nqueue-depth = team_probes:QueueDepth\n", encoding="utf-8"
    )
    (site / "team_probes.py").write_text(
        "from poslab.plugins import Probe, ProbeParams, ProbeResult\n"
        "class Params(ProbeParams):\n"
        "    max_depth: int\n"
        "class QueueDepth(Probe[Params]):\n"
        "    type = 'queue-depth'\n"
        "    Params = Params\n"
        "    async def check(self, ctx):\n"
        "        return ProbeResult(True, 0, 'empty')\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(site))
    scenario = VALID.replace("{name: own, type: flaky}", "{name: q, type: queue-depth, params: {}}")
    own_check = "expectations:\n  - kind: attempts_at_least\n    params: {min: 1}\n"
    path = _write(tmp_path, "probed", scenario.replace(own_check, ""))
    code, _, err = _lab(["scenario", "validate", path], capsys)
    assert code == 2  # found without --plugin, and its params are checked
    assert "probes[3].params.max_depth: required param missing" in err
    assert "unknown probe type" not in err
