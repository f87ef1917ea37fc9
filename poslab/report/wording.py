"""How every report words the same facts: money, times, statuses, one-line verdicts.

One place, so the console, Markdown, JUnit and HTML never disagree about what
a scenario's result was or how a sum of money is written.
"""

from __future__ import annotations

import time

from poslab.scoring.result import (
    COULD_NOT_RUN,
    FAILED,
    NOT_AVAILABLE,
    Example,
    ExpectationResult,
    RunResult,
    ScenarioResult,
)

GATE_WORDS = {
    "passed": "PASSED",
    "failed": "FAILED",
    "could_not_run": "COULD NOT RUN",
    "interrupted": "INTERRUPTED",
}


def yuan(fen: int | None) -> str:
    """Integer fen as yuan, exactly (no float ever touches money): 12345 → ¥123.45."""
    if fen is None:
        return ""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}¥{whole:,}.{cents:02d}"


def utc(t: float | None) -> str:
    """Epoch seconds as ``HH:MM:SS.mmm`` UTC (reports cover one day at most)."""
    if t is None:
        return ""
    ms = round((t % 1) * 1000) % 1000
    return time.strftime("%H:%M:%S", time.gmtime(t)) + f".{ms:03d}"


def utc_date(t: float | None) -> str:
    if t is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


def offset(t: float | None, t0: float | None) -> str:
    """Seconds since the scenario's start: ``+12.3 s``."""
    if t is None or t0 is None:
        return ""
    return f"{t - t0:+.1f} s"


def share(value: float) -> str:
    return f"{value:.2f}"


def verdict(s: ScenarioResult) -> str:
    """One word for a scenario's outcome."""
    if s.status == COULD_NOT_RUN:
        return "could not run"
    if not s.integrity_ok:
        return "integrity failed"
    return "pass" if s.passed else "below minimum"


def integrity_word(s: ScenarioResult) -> str:
    if s.status == COULD_NOT_RUN:
        return "—"
    failed = [c for c in s.checks if c.status == FAILED]
    if failed:
        return f"FAILED ({sum(c.count for c in failed)})"
    if any(c.status == NOT_AVAILABLE for c in s.checks):
        return "ok (ledger n/a)"
    return "ok"


def recovery_words(s: ScenarioResult) -> str:
    r = s.recovery
    if s.status == COULD_NOT_RUN:
        return "—"
    if r.fault_end is None:
        return "no fault"
    if r.recovery_s is None:
        return f"never (target {r.target_s:g} s)"
    return f"{r.recovery_s:.1f} s (target {r.target_s:g} s)"


def expectations_words(s: ScenarioResult) -> str:
    if not s.expectations:
        return "none"
    held = sum(1 for e in s.expectations if e.held)
    return f"{held}/{len(s.expectations)}"


def example_words(e: Example) -> str:
    """An example on one line: who, when, what."""
    parts = [
        f"TID {e.tid}" if e.tid else "",
        f"MID {e.mid}" if e.mid else "",
        f"STAN {e.stan}" if e.stan else "",
        f"batch {e.batch}" if e.batch else "",
        e.pan or "",
        yuan(e.amount),
        utc(e.t),
    ]
    head = " ".join(p for p in parts if p)
    return f"{head}: {e.detail}" if head else e.detail


def expectation_words(e: ExpectationResult) -> str:
    mark = "held" if e.held else "NOT held"
    return f"{e.name} ({e.kind}) {mark}: {e.detail}"


def failure_reasons(s: ScenarioResult) -> list[str]:
    """Why a scenario did not pass, most serious first (empty when it passed)."""
    if s.status == COULD_NOT_RUN:
        return [f"could not run: {s.reason}"]
    reasons = [f"integrity: {c.kind} {c.count} ({c.title})" for c in s.checks if c.status == FAILED]
    if s.score < s.min_score:
        reasons.append(f"score {s.score:.1f} below its minimum {s.min_score:g}")
    return reasons


def scenario_text(s: ScenarioResult) -> str:
    """A plain-text scorecard of one scenario (JUnit system-out, logs)."""
    lines = [f"{s.name}: {s.score:.1f} ({verdict(s)})"]
    if s.status == COULD_NOT_RUN:
        lines.append(f"  {s.reason}")
        return "\n".join(lines)
    c = s.components
    lines.append(
        f"  A {c.get('A', 0):.3f}  R {c.get('R', 0):.3f}  E {c.get('E', 0):.3f}  "
        f"(weight {s.weight:g}, minimum {s.min_score:g})"
    )
    a = s.availability
    lines.append(
        f"  availability: {a.good_seconds}/{a.judged_seconds} judged seconds good "
        f"({a.excluded_seconds} excluded, {a.idle_seconds} idle, {a.aborted_seconds} after abort)"
    )
    lines.append(
        f"  recovery: {recovery_words(s)}" + (f" — {s.recovery.note}" if s.recovery.note else "")
    )
    for check in s.checks:
        lines.append(f"  integrity {check.kind}: {check.status} {check.count}" + (
            f" ({check.note})" if check.note else ""))  # fmt: skip
        lines.extend(f"    - {example_words(e)}" for e in check.examples)
    lines.extend(f"  expectation {expectation_words(e)}" for e in s.expectations)
    lines.extend(f"  note: {n}" for n in s.data_notes)
    return "\n".join(lines)


def gate_line(result: RunResult) -> str:
    g = result.gate
    return (
        f"gate {GATE_WORDS.get(g.status, g.status)}: suite {result.run.get('suite')} "
        f"score {g.suite_score:.1f} (minimum {g.min_score:g}), exit code {g.exit_code}"
    )
