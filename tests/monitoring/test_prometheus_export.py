"""The run for Prometheus: metrics.prom (live each second, then the scores), the
Pushgateway push against a recording HTTP server on 127.0.0.1, and the Grafana
dashboard's queries against what the exporter writes."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from prometheus_client.parser import text_string_to_metric_families

from poslab.errors import ConfigError
from poslab.report.prometheus import (
    METRICS_FILE,
    LiveMetrics,
    RunMetrics,
    check_pushgateway,
    export_result,
    metric_names,
)
from poslab.scenario.journal import RunEvents
from poslab.scoring import RunResult, score_run
from poslab.testing import SyntheticScenario, write_run

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "deploy" / "grafana" / "pos-lab-dashboard.json"


def _samples(path: Path) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(path.read_text(encoding="utf-8")):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunResult]:
    root = tmp_path_factory.mktemp("runs")
    run_dir = write_run(
        root,
        [SyntheticScenario(name="outage", transactions=600, duration_s=30, fault=(10.0, 5.0))],
        name="gate",
    )
    return run_dir, score_run(run_dir)


def test_live_seconds_and_fault_windows_reach_the_textfile(tmp_path: Path) -> None:
    events = RunEvents()
    metrics = RunMetrics(suite="gate")
    metrics.attach(events, tmp_path)
    events.sample.fire(scenario="s", second=3, tps=12, ratio=0.75, p99_ms=250.0, good=False)
    events.fault_injected.fire(scenario="s", fault_id="down", kind="network", target="acquirer")
    got = _samples(tmp_path / METRICS_FILE)
    labels = {"run": tmp_path.name, "suite": "gate", "scenario": "s"}
    assert got["poslab_slo_throughput_tps"] == [(labels, 12.0)]
    assert got["poslab_slo_success_ratio"] == [(labels, 0.75)]
    assert got["poslab_slo_p99_seconds"] == [(labels, 0.25)]
    assert got["poslab_slo_second_good"] == [(labels, 0.0)]
    fault = {**labels, "fault": "down", "kind": "network", "target": "acquirer"}
    assert got["poslab_fault_active"] == [(fault, 1.0)]

    # an idle second has no ratio: the sample goes rather than turning into a fake 0
    events.sample.fire(scenario="s", second=4, tps=0, ratio=None, p99_ms=None, good=None)
    events.fault_cleared.fire(scenario="s", fault_id="down")
    got = _samples(tmp_path / METRICS_FILE)
    assert "poslab_slo_success_ratio" not in got and "poslab_slo_p99_seconds" not in got
    assert got["poslab_fault_active"] == [(fault, 0.0)]
    assert got["poslab_slo_second"] == [(labels, 4.0)]


def test_the_scored_run_holds_scores_series_and_fault_windows(
    scored: tuple[Path, RunResult], tmp_path: Path
) -> None:
    run_dir, result = scored
    assert export_result(result, tmp_path) == []
    got = _samples(tmp_path / METRICS_FILE)
    scenario = result.scenarios[0]
    ((labels, score),) = got["poslab_scenario_score"]
    assert labels["scenario"] == "outage" and labels["run"] == run_dir.name
    assert score == pytest.approx(scenario.score)
    assert got["poslab_suite_score"][0][1] == pytest.approx(result.gate.suite_score)
    assert got["poslab_gate_exit_code"][0][1] == result.gate.exit_code
    components = {lab["component"]: v for lab, v in got["poslab_scenario_component_ratio"]}
    assert set(components) == set(scenario.components)
    # the per-second series under a `second` label: one sample per second of the series
    overall = next(s for s in scenario.series if s.region == "all")
    seconds = {int(lab["second"]): v for lab, v in got["poslab_second_throughput_tps"]}
    assert seconds == {i: float(a) for i, a in enumerate(overall.attempts)}
    starts = got["poslab_fault_start_timestamp_seconds"]
    ends = got["poslab_fault_end_timestamp_seconds"]
    assert len(starts) == len(scenario.faults) == len(ends) >= 1
    assert starts[0][1] < ends[0][1]


class _Recorder(BaseHTTPRequestHandler):
    requests: ClassVar[list[tuple[str, str, bytes]]] = []

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.requests.append((self.command, self.path, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def pushgateway() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    """A stand-in Pushgateway on 127.0.0.1 that records every request."""
    requests: list[tuple[str, str, bytes]] = []
    handler = type("Recorder", (_Recorder,), {"requests": requests})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()


def test_the_run_is_pushed_to_the_gateway(
    scored: tuple[Path, RunResult],
    tmp_path: Path,
    pushgateway: tuple[str, list[tuple[str, str, bytes]]],
) -> None:
    url, requests = pushgateway
    _, result = scored
    metrics = LiveMetrics(tmp_path, run="r1", suite="gate", pushgateway=check_pushgateway(url))
    metrics.sample(scenario="outage", second=0, tps=5, ratio=1.0, p99_ms=80.0, good=True)
    deadline = time.monotonic() + 5
    while not requests and time.monotonic() < deadline:  # the pusher thread's live push
        time.sleep(0.01)
    metrics.finish(result)
    assert metrics.problems == []
    assert requests, "nothing was pushed"
    method, path, body = requests[-1]  # the final push comes last, after the live ones
    assert (method, path) == ("PUT", "/metrics/job/poslab/suite/gate")
    text = body.decode()
    assert re.search(r'^poslab_scenario_score\{.*scenario="outage".*\} ', text, re.M)
    # the live gauges were pushed while it ran, and are gone from the final push
    # (else the gateway would show the last second's throughput for ever)
    live = [b.decode() for _, _, b in requests[:-1]]
    assert any(re.search(r"^poslab_slo_throughput_tps\{", t, re.M) for t in live)
    assert not re.search(r"^poslab_slo_throughput_tps\{", text, re.M)
    assert re.search(r'^poslab_second_throughput_tps\{.*second="0"', text, re.M)


def test_a_gateway_that_does_not_answer_is_a_warning(
    scored: tuple[Path, RunResult], tmp_path: Path
) -> None:
    _, result = scored
    problems = export_result(result, tmp_path, pushgateway="http://127.0.0.1:9")
    assert len(problems) == 1 and "pushgateway http://127.0.0.1:9" in problems[0]
    assert (tmp_path / METRICS_FILE).is_file()  # the textfile is written all the same


@pytest.mark.parametrize("url", ["localhost:9091", "ftp://host/", "http://"])
def test_a_pushgateway_url_is_checked(url: str) -> None:
    with pytest.raises(ConfigError, match="not an http"):
        check_pushgateway(url)


def _queries(dashboard: dict[str, object]) -> list[str]:
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("expr", "definition", "query") and isinstance(value, str):
                    found.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(dashboard)
    return found


def test_the_dashboard_queries_what_the_exporter_writes() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    written = set(metric_names())
    queries = _queries(dashboard)
    named = {m for q in queries for m in re.findall(r"\bposlab_[a-z0-9_]+", q)}
    assert named and named <= written, named - written
    panels = {p["title"].split(" (")[0].lower(): p for p in dashboard["panels"]}
    for title, metric in (
        ("throughput", "poslab_slo_throughput_tps"),
        ("success ratio", "poslab_slo_success_ratio"),
        ("p99 latency", "poslab_slo_p99_seconds"),
    ):
        panel = panels[title]
        assert panel["type"] == "timeseries"
        assert any(metric in t["expr"] for t in panel["targets"])
    faults = [a for a in dashboard["annotations"]["list"] if "expr" in a]
    assert len(faults) == 1 and "poslab_fault_active" in faults[0]["expr"]


def test_lab_run_refuses_a_bad_pushgateway_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import poslab.scenario
    from poslab.cli import main

    def launch_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("the run must not start")

    monkeypatch.setattr(poslab.scenario, "launch_run", launch_run)
    argv = ["run", "acquirer-outage", "--runs-dir", str(tmp_path), "--pushgateway", "nope:9091"]
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "--pushgateway 'nope:9091': not an http(s) URL" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_lab_report_rewrites_the_textfile_from_the_new_score(
    scored: tuple[Path, RunResult], capsys: pytest.CaptureFixture[str]
) -> None:
    from poslab.cli import main

    run_dir, result = scored
    (run_dir / METRICS_FILE).unlink(missing_ok=True)
    with pytest.raises(SystemExit) as info:
        main(["report", str(run_dir), "--quiet", "--no-html"])
    assert info.value.code == result.gate.exit_code, capsys.readouterr().err
    got = _samples(run_dir / METRICS_FILE)
    assert got["poslab_scenario_score"][0][1] == pytest.approx(result.scenarios[0].score)
