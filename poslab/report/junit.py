"""junit.xml: one test case per scenario, plus one for the gate itself.

Written to the shape the common CI viewers read (GitHub test reporters,
GitLab's unit-test report, Jenkins' JUnit plugin): ``testsuites`` →
``testsuite`` (counts, time, timestamp, ``properties``) → ``testcase``
(``classname``, ``name``, ``time``) holding at most one ``failure`` or
``error`` (``message``, ``type``, text) and a ``system-out`` with the
scenario's scorecard. Properties sit on the test suite only: stricter readers
(Jenkins' schema) reject them inside a test case.

A scenario below its minimum or failing integrity is a *failure*; one that
could not run is an *error* (it never produced a result). The extra
``gate`` case fails whenever the gate does, so a pipeline that only reads the
JUnit file still sees suite-level reasons (suite score, baseline drop).
"""

from __future__ import annotations

import re
import socket
import time
import xml.etree.ElementTree as ET

from poslab.report.wording import GATE_WORDS, failure_reasons, gate_line, scenario_text
from poslab.scoring.result import COULD_NOT_RUN, RunResult, ScenarioResult

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    """XML 1.0 cannot carry control characters, whatever a journal held."""
    return _NOT_XML.sub("\ufffd", text)


def _duration(s: ScenarioResult) -> float:
    finished = [e.get("t") for e in s.events if e.get("event") == "scenario_finished"]
    if s.t0 is not None and finished and isinstance(finished[-1], int | float):
        return max(0.0, float(finished[-1]) - s.t0)
    return s.duration_s


def _case(suite: str, s: ScenarioResult) -> ET.Element:
    case = ET.Element(
        "testcase", classname=f"lab.{suite}", name=_clean(s.name), time=f"{_duration(s):.3f}"
    )
    reasons = failure_reasons(s)
    if s.status == COULD_NOT_RUN:
        err = ET.SubElement(case, "error", message=_clean(reasons[0]), type="could_not_run")
        err.text = _clean(scenario_text(s))
    elif reasons:
        kind = "integrity" if not s.integrity_ok else "score"
        fail = ET.SubElement(case, "failure", message=_clean("; ".join(reasons)), type=kind)
        fail.text = _clean(scenario_text(s))
    out = ET.SubElement(case, "system-out")
    out.text = _clean(scenario_text(s))
    return case


def _gate_case(result: RunResult) -> ET.Element:
    g = result.gate
    suite = str(result.run.get("suite"))
    case = ET.Element("testcase", classname=f"lab.{suite}", name="gate", time="0.000")
    text = _clean("\n".join([gate_line(result), *(f"- {r}" for r in g.reasons)]))
    if g.status in ("could_not_run", "interrupted"):
        message = GATE_WORDS[g.status].lower()
        ET.SubElement(case, "error", message=message, type=g.status).text = text
    elif g.status != "passed":
        message = _clean("; ".join(g.reasons) or "gate failed")
        ET.SubElement(case, "failure", message=message, type="gate").text = text
    ET.SubElement(case, "system-out").text = text
    return case


def junit_tree(result: RunResult) -> ET.ElementTree[ET.Element]:
    suite = str(result.run.get("suite"))
    cases = [_case(suite, s) for s in result.scenarios] + [_gate_case(result)]
    failures = sum(1 for c in cases if c.find("failure") is not None)
    errors = sum(1 for c in cases if c.find("error") is not None)
    total_time = sum(float(c.get("time", "0")) for c in cases)
    counts = {
        "tests": str(len(cases)),
        "failures": str(failures),
        "errors": str(errors),
        "skipped": "0",
        "time": f"{total_time:.3f}",
    }
    root = ET.Element("testsuites", {"name": f"pos-lab {suite}", **counts})
    started = result.run.get("started_at")
    stamp = started if isinstance(started, int | float) else result.generated_at
    testsuite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": suite,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(stamp)),
            "hostname": socket.gethostname(),
            **counts,
        },
    )
    props = ET.SubElement(testsuite, "properties")
    values = {
        "gate": result.gate.status,
        "exit_code": result.gate.exit_code,
        "suite_score": f"{result.gate.suite_score:.1f}",
        "min_score": f"{result.gate.min_score:g}",
        "policy": result.run.get("policy"),
        "seed": result.run.get("seed"),
        "lab_version": result.run.get("lab_version"),
        "run_dir": result.run.get("dir"),
    }
    for s in result.scenarios:
        values[f"score.{s.name}"] = f"{s.score:.1f}"
    for name, value in values.items():
        text = "" if value is None else _clean(str(value))
        ET.SubElement(props, "property", name=name, value=text)
    testsuite.extend(cases)
    ET.indent(root)
    return ET.ElementTree(root)
