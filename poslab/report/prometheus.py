"""A run for Prometheus: ``metrics.prom`` in the run directory, and a Pushgateway.

Two moments, one registry per run (docs/monitoring.md):

- **while it runs** (:class:`LiveMetrics`, a listener of the run's events):
  every judged second sets ``poslab_slo_throughput_tps``,
  ``poslab_slo_success_ratio``, ``poslab_slo_p99_seconds`` and
  ``poslab_slo_second_good``; ``poslab_fault_active`` is 1 from a fault's
  injection to its clearing. After each second the registry is written to the
  textfile and pushed, so a Prometheus that scrapes the Pushgateway (or
  node_exporter's textfile collector pointed at the run directory) records
  the per-second series *on their real time* — Grafana draws them over time,
  with the fault windows as annotations (deploy/grafana/pos-lab-dashboard.json);
- **once scored** (:meth:`LiveMetrics.finish`, or :func:`export_result` alone):
  the live gauges go (else they would stand, flat, at the last second's
  values for ever after the run), and the scores, the gate, every fault window
  (epoch start and end) and the scored per-second series under a ``second``
  label (offset from the scenario's start) come: the complete record in the
  file, since neither node_exporter nor the Pushgateway accept samples with
  their own timestamps.

Pushing is a courtesy, like ``$GITHUB_STEP_SUMMARY``: a Pushgateway that does
not answer never changes the verdict; the problem is kept in
:attr:`LiveMetrics.problems` for a warning. Pushes happen on a thread of their
own, coalesced, so a slow gateway never holds up the runner's event loop.
"""

from __future__ import annotations

import contextlib
import math
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway, write_to_textfile
from prometheus_client.metrics_core import Metric

from poslab.errors import ConfigError
from poslab.scoring.result import RunResult, ScenarioResult

__all__ = [
    "FINAL_METRICS",
    "LIVE_METRICS",
    "METRICS_FILE",
    "PUSH_JOB",
    "LiveMetrics",
    "RunMetrics",
    "check_pushgateway",
    "export_result",
]

#: The textfile's name in the run directory.
METRICS_FILE = "metrics.prom"
#: The Pushgateway job every push goes to (grouping key: the run's ``suite``).
PUSH_JOB = "poslab"
_PUSH_TIMEOUT_S = 5.0

_RUN = ("run", "suite")
_SCENARIO = (*_RUN, "scenario")
_FAULT = (*_SCENARIO, "fault", "kind", "target")
_SECOND = (*_SCENARIO, "second")

#: name -> (help, labels) of what is set while the run runs.
LIVE_METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "poslab_slo_throughput_tps": ("financial attempts in the last judged second", _SCENARIO),
    "poslab_slo_success_ratio": (
        "approved / non-declined attempts in the last judged second",
        _SCENARIO,
    ),
    "poslab_slo_p99_seconds": ("p99 latency of the last judged second", _SCENARIO),
    "poslab_slo_second_good": (
        "1 when the last judged second met the SLO, 0 when not, absent when idle",
        _SCENARIO,
    ),
    "poslab_slo_second": ("offset of the last judged second from the scenario start", _SCENARIO),
    "poslab_fault_active": ("1 while the fault is in place", _FAULT),
}

#: name -> (help, labels) of what is set once the run is scored.
FINAL_METRICS: dict[str, tuple[str, tuple[str, ...]]] = {
    "poslab_run_info": ("the run: policy and seed as labels", (*_RUN, "policy", "seed")),
    "poslab_run_finished_timestamp_seconds": ("when the run was scored (epoch)", _RUN),
    "poslab_suite_score": ("the weighted suite score, 0-100", _RUN),
    "poslab_gate_min_score": ("the gate's pass mark", _RUN),
    "poslab_gate_passed": ("1 when the gate passed", _RUN),
    "poslab_gate_exit_code": ("lab run's exit code for this verdict", _RUN),
    "poslab_scenario_score": ("the scenario's resilience score, 0-100", _SCENARIO),
    "poslab_scenario_min_score": ("the scenario's own pass mark", _SCENARIO),
    "poslab_scenario_passed": ("1 when the scenario passed", _SCENARIO),
    "poslab_scenario_integrity_ok": ("1 when every integrity check held", _SCENARIO),
    "poslab_scenario_component_ratio": (
        "A, R and E of the score, 0-1",
        (*_SCENARIO, "component"),
    ),
    "poslab_scenario_checks_failed": ("integrity checks that failed", _SCENARIO),
    "poslab_scenario_expectations_held": ("the scenario's own checks that held", _SCENARIO),
    "poslab_scenario_expectations": ("the scenario's own checks", _SCENARIO),
    "poslab_scenario_start_timestamp_seconds": ("the scenario clock's zero (epoch)", _SCENARIO),
    "poslab_fault_start_timestamp_seconds": ("when the fault was injected (epoch)", _FAULT),
    "poslab_fault_end_timestamp_seconds": ("when the fault was cleared (epoch)", _FAULT),
    "poslab_second_throughput_tps": (
        "financial attempts started in that second (scored)",
        _SECOND,
    ),
    "poslab_second_success_ratio": ("success ratio of that second (scored)", _SECOND),
    "poslab_second_p99_seconds": ("p99 latency of that second (scored)", _SECOND),
}


def check_pushgateway(url: str) -> str:
    """``--pushgateway URL``, checked before the run: exit 2 (ConfigError) when it is no
    http(s) URL. Whether it answers is only known when the first push goes."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"--pushgateway {url!r}: not an http(s) URL (e.g. http://host:9091)")
    return url.rstrip("/")


@dataclass
class _Gauges:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    gauges: dict[str, Gauge] = field(default_factory=dict)

    def __call__(self, name: str) -> Gauge:
        gauge = self.gauges.get(name)
        if gauge is None:
            doc, labels = {**LIVE_METRICS, **FINAL_METRICS}[name]
            gauge = Gauge(name, doc, labels, registry=self.registry)
            self.gauges[name] = gauge
        return gauge


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


class LiveMetrics:
    """The run's Prometheus registry: fed by the run's events, written and pushed each second.

    Subscribe :meth:`listeners` to the run's events (``sample``,
    ``fault_injected``, ``fault_cleared``); call :meth:`finish` with the scored
    result, then :meth:`close`.
    """

    def __init__(
        self,
        run_dir: Path,
        *,
        run: str,
        suite: str,
        pushgateway: str | None = None,
    ) -> None:
        self.path = run_dir / METRICS_FILE
        self.run, self.suite = run, suite
        self.pushgateway = pushgateway
        self.problems: list[str] = []
        self._g = _Gauges()
        self._faults: dict[tuple[str, str], tuple[str, str]] = {}
        self._lock = threading.Lock()  # the registry is read by the pusher thread
        self._due = threading.Event()
        self._closing = False
        self._pusher: threading.Thread | None = None
        if pushgateway is not None:
            self._pusher = threading.Thread(target=self._push_loop, name="pushgateway", daemon=True)
            self._pusher.start()

    @property
    def registry(self) -> CollectorRegistry:
        return self._g.registry

    def listeners(self) -> dict[str, Any]:
        """event name -> listener, for ``RunEvents.<name>.add_listener``."""
        return {
            "sample": self.sample,
            "fault_injected": self.fault_injected,
            "fault_cleared": self.fault_cleared,
        }

    # -- while it runs -------------------------------------------------------

    def sample(self, *, scenario: str, second: int, **fields: Any) -> None:
        """One judged second (the runner's ``sample`` event)."""
        labels = (self.run, self.suite, scenario)
        with self._lock:
            self._g("poslab_slo_second").labels(*labels).set(second)
            self._g("poslab_slo_throughput_tps").labels(*labels).set(fields.get("tps") or 0)
            self._set_or_drop("poslab_slo_success_ratio", labels, _finite(fields.get("ratio")))
            p99 = _finite(fields.get("p99_ms"))
            self._set_or_drop("poslab_slo_p99_seconds", labels, None if p99 is None else p99 / 1000)
            good = fields.get("good")
            self._set_or_drop(
                "poslab_slo_second_good", labels, None if good is None else float(bool(good))
            )
        self.flush()

    def fault_injected(self, *, scenario: str, fault_id: str, **fields: Any) -> None:
        kind, target = str(fields.get("kind", "")), str(fields.get("target", ""))
        self._faults[(scenario, fault_id)] = (kind, target)
        with self._lock:
            labels = (self.run, self.suite, scenario, fault_id, kind, target)
            self._g("poslab_fault_active").labels(*labels).set(1)
        self.flush()

    def fault_cleared(self, *, scenario: str, fault_id: str, **fields: Any) -> None:
        kind, target = self._faults.get(
            (scenario, fault_id), (str(fields.get("kind", "")), str(fields.get("target", "")))
        )
        with self._lock:
            labels = (self.run, self.suite, scenario, fault_id, kind, target)
            self._g("poslab_fault_active").labels(*labels).set(0)
        self.flush()

    def _set_or_drop(self, name: str, labels: tuple[str, ...], value: float | None) -> None:
        gauge = self._g(name)
        if value is None:  # an idle second has no ratio: no sample, not a fake 0
            with contextlib.suppress(KeyError):
                gauge.remove(*labels)
        else:
            gauge.labels(*labels).set(value)

    # -- once scored ---------------------------------------------------------

    def finish(self, result: RunResult) -> None:
        """The scored run into the registry, written and pushed at once (after the
        pusher has stopped: a late live push must not overwrite the final one)."""
        self.close()
        with self._lock:
            # The live gauges go: a Pushgateway (and the textfile collector) would
            # otherwise report the last second's throughput, flat, for ever after
            # the run; the scored series under `second` are the record.
            for name in LIVE_METRICS:
                if name in self._g.gauges:
                    self._g.gauges[name].clear()
            _record_result(self._g, result, self.run, self.suite)
        self._write()
        if self.pushgateway is not None:
            self._push()

    def flush(self) -> None:
        """Write the textfile now; ask the pusher for a push."""
        self._write()
        self._due.set()

    def close(self) -> None:
        """Stop the pusher (a push under way finishes first)."""
        self._closing = True
        self._due.set()
        if self._pusher is not None:
            self._pusher.join(_PUSH_TIMEOUT_S + 1)
            self._pusher = None

    def _write(self) -> None:
        try:
            with self._lock:
                # atomic: write_to_textfile renames a temporary file into place
                write_to_textfile(str(self.path), self.registry)
        except OSError as exc:
            self._problem(f"{self.path}: {exc.strerror or exc}")

    def _push_loop(self) -> None:
        while True:
            self._due.wait()
            self._due.clear()
            if self._closing:
                return
            self._push()

    def _push(self) -> None:
        assert self.pushgateway is not None
        with self._lock:  # a snapshot: the event loop never waits on the network
            snapshot = _Snapshot(list(self.registry.collect()))
        try:
            push_to_gateway(
                self.pushgateway,
                job=PUSH_JOB,
                registry=snapshot,
                grouping_key={"suite": self.suite},
                timeout=_PUSH_TIMEOUT_S,
            )
        except OSError as exc:  # urllib's URLError and HTTPError are OSErrors
            self._problem(f"pushgateway {self.pushgateway}: {exc}")

    def _problem(self, text: str) -> None:
        if text not in self.problems:  # one warning per cause, not one per second
            self.problems.append(text)


class _Snapshot:
    """The registry's metrics as they were, for a push outside the lock."""

    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self.metrics


def _record_result(g: _Gauges, result: RunResult, run: str, suite: str) -> None:
    info = result.run
    g("poslab_run_info").labels(run, suite, str(info.get("policy")), str(info.get("seed"))).set(1)
    g("poslab_run_finished_timestamp_seconds").labels(run, suite).set(result.generated_at)
    gate = result.gate
    g("poslab_suite_score").labels(run, suite).set(gate.suite_score)
    g("poslab_gate_min_score").labels(run, suite).set(gate.min_score)
    g("poslab_gate_passed").labels(run, suite).set(1 if gate.status == "passed" else 0)
    g("poslab_gate_exit_code").labels(run, suite).set(gate.exit_code)
    for scenario in result.scenarios:
        _record_scenario(g, scenario, (run, suite, scenario.name))


def _record_scenario(g: _Gauges, s: ScenarioResult, labels: tuple[str, str, str]) -> None:
    g("poslab_scenario_score").labels(*labels).set(s.score)
    g("poslab_scenario_min_score").labels(*labels).set(s.min_score)
    g("poslab_scenario_passed").labels(*labels).set(1 if s.passed else 0)
    g("poslab_scenario_integrity_ok").labels(*labels).set(1 if s.integrity_ok else 0)
    for component, value in s.components.items():
        g("poslab_scenario_component_ratio").labels(*labels, component).set(value)
    g("poslab_scenario_checks_failed").labels(*labels).set(len(s.failed_checks))
    g("poslab_scenario_expectations").labels(*labels).set(len(s.expectations))
    held = sum(1 for e in s.expectations if e.held)
    g("poslab_scenario_expectations_held").labels(*labels).set(held)
    if s.t0 is not None:
        g("poslab_scenario_start_timestamp_seconds").labels(*labels).set(s.t0)
    for fault in s.faults:
        fl = (*labels, fault.id, fault.kind, fault.target)
        if fault.injected_at is not None:
            g("poslab_fault_start_timestamp_seconds").labels(*fl).set(fault.injected_at)
        if fault.cleared_at is not None:
            g("poslab_fault_end_timestamp_seconds").labels(*fl).set(fault.cleared_at)
    overall = next((series for series in s.series if series.region == "all"), None)
    if overall is None:
        return
    for second, attempts, ratio, p99 in zip(
        range(len(overall.attempts)),
        overall.attempts,
        overall.success_ratio,
        overall.p99_ms,
        strict=True,
    ):
        sl = (*labels, str(second))
        g("poslab_second_throughput_tps").labels(*sl).set(attempts)
        if ratio is not None:
            g("poslab_second_success_ratio").labels(*sl).set(ratio)
        if p99 is not None:
            g("poslab_second_p99_seconds").labels(*sl).set(p99 / 1000)


class _Hook(Protocol):
    def add_listener(self, listener: Callable[..., None]) -> object: ...


class _Events(Protocol):
    def hooks(self) -> Mapping[str, _Hook]: ...


class RunMetrics:
    """``lab run``'s export: :class:`LiveMetrics` on the run's events once its
    directory exists (:meth:`attach`, ``launch_run``'s ``on_events``), the scored
    result at the end (:meth:`finish`)."""

    def __init__(self, *, suite: str, pushgateway: str | None = None) -> None:
        self.suite = suite
        self.pushgateway = pushgateway
        self.live: LiveMetrics | None = None

    def attach(self, events: _Events, run_dir: Path) -> None:
        self.live = LiveMetrics(
            run_dir, run=run_dir.name, suite=self.suite, pushgateway=self.pushgateway
        )
        hooks = events.hooks()
        for name, listener in self.live.listeners().items():
            hooks[name].add_listener(listener)

    def finish(self, result: RunResult) -> list[str]:
        """Write and push the scored run; the problems (for warnings), if any."""
        if self.live is None:
            return []
        try:
            self.live.finish(result)
        finally:
            self.live.close()
        return list(self.live.problems)


def export_result(result: RunResult, run_dir: Path, *, pushgateway: str | None = None) -> list[str]:
    """A scored run alone (``lab report`` of an older run) into ``metrics.prom`` (and the
    Pushgateway when given); the problems, if any, for warnings."""
    run, suite = run_labels(result)
    metrics = LiveMetrics(run_dir, run=run, suite=suite)
    metrics.pushgateway = pushgateway
    metrics.finish(result)
    return metrics.problems


def run_labels(result: RunResult) -> tuple[str, str]:
    """(run, suite) labels of a scored run: the run directory's name and the suite
    (or the run's name when no suite ran)."""
    info = result.run
    run = Path(str(info.get("dir") or info.get("name") or "run")).name
    suite = str(info.get("suite") or info.get("name") or run)
    return run, suite


def metric_names() -> Iterable[str]:
    """Every metric name the exporter may write (the dashboard's test reads it)."""
    return [*LIVE_METRICS, *FINAL_METRICS]
