"""The real scenario catalogue, resolved by poslab.scenario and dumped as ``lab run`` writes
it into run.json, is read and scored: the contract holds from both sides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from poslab.scoring import score_run
from poslab.testing import SyntheticScenario, write_run

loader = pytest.importorskip("poslab.scenario.spec.loader")
CATALOGUE = sorted(p.stem for p in loader.CATALOGUE_DIR.glob("*.yaml"))


@pytest.mark.skipif(not CATALOGUE, reason="no scenario catalogue in this checkout")
def test_every_catalogue_scenario_scores(tmp_path: Path) -> None:
    run = write_run(
        tmp_path,
        [SyntheticScenario(name=n, transactions=300, terminals=12) for n in CATALOGUE],
    )
    doc = json.loads((run / "run.json").read_text())
    dumped = []
    for ours in doc["scenarios"]:
        resolved = loader.load_scenario(ours["name"]).dump_resolved()
        # the synthetic journal times its fault as "f1" 20..30 s into a 60 s load
        resolved["duration_s"] = ours["duration_s"]
        dumped.append(resolved)
    doc["scenarios"] = dumped
    (run / "run.json").write_text(json.dumps(doc))
    result = score_run(run)
    assert [s.name for s in result.scenarios] == CATALOGUE
    for s in result.scenarios:
        assert s.status == "scored", (s.name, s.reason)
        assert len(s.expectations) == len(next(d for d in dumped if d["name"] == s.name)
                                          ["expectations"])  # fmt: skip
        unknown = [e for e in s.expectations if "known kinds" in e.detail]
        assert not unknown, (s.name, unknown)
        assert 0.0 <= s.score <= 100.0
