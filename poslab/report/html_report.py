"""report.html: one self-contained page that opens offline.

Everything is inline — styles, plotly.js (once), the figures' data — and no
element refers to anything outside the file, so the report can be mailed,
attached to a CI run or opened on a laptop with no network.
"""

from __future__ import annotations

import html
from typing import Any

import plotly.io as pio
from plotly.offline import get_plotlyjs

from poslab.report.charts import score_figure, timeseries_figure
from poslab.report.wording import (
    GATE_WORDS,
    expectations_words,
    integrity_word,
    offset,
    recovery_words,
    utc,
    utc_date,
    verdict,
    yuan,
)
from poslab.scoring.result import COULD_NOT_RUN, FAILED, NOT_AVAILABLE, RunResult, ScenarioResult

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans CJK SC",sans-serif;
 margin:0;color:#1d1d1f;background:#fafafa}
main{max-width:1200px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:22px;margin:8px 0}h2{font-size:18px;margin:32px 0 8px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;margin:6px 0 12px;background:#fff;width:100%}
th,td{border:1px solid #e2e2e2;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f2f2f2;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;font-weight:600}
.passed{background:#1a7f37}.failed{background:#b00020}.could_not_run,.interrupted{background:#9a6700}
.bad{color:#b00020;font-weight:600}.ok{color:#1a7f37}.na{color:#9a6700}
.muted{color:#666}code{background:#f0f0f0;padding:0 3px;border-radius:3px}
section.scenario{background:#fff;border:1px solid #e2e2e2;border-radius:6px;padding:4px 16px 12px;
 margin:20px 0}
ul.reasons li{color:#b00020}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _table(head: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(
            f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(r)
        ) + "</tr>"
        for r in rows
    )  # fmt: skip
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _figure(fig: Any, div_id: str) -> str:
    return str(
        pio.to_html(
            fig,
            include_plotlyjs=False,
            full_html=False,
            div_id=div_id,
            config={"displaylogo": False, "responsive": True},
        )
    )


def _header(result: RunResult) -> str:
    g, run = result.gate, result.run
    reasons = "".join(f"<li>{_e(r)}</li>" for r in g.reasons)
    return (
        f"<h1>POS resilience report — suite <code>{_e(run.get('suite'))}</code></h1>"
        f'<p><span class="badge {_e(g.status)}">gate {_e(GATE_WORDS.get(g.status, g.status))}'
        f"</span> suite score <b>{g.suite_score:.1f}</b> (minimum {g.min_score:g}) · exit code "
        f"{g.exit_code}</p>"
        f'<p class="muted">run <code>{_e(run.get("name"))}</code> · policy '
        f"{_e(run.get('policy') or '-')} · seed {_e(run.get('seed'))} · terminals "
        f"{_e(run.get('terminals'))} · started {_e(utc_date(run.get('started_at')))} · lab "
        f"{_e(run.get('lab_version'))}</p>"
        + (f'<ul class="reasons">{reasons}</ul>' if reasons else "")
    )


def _scorecard(result: RunResult) -> str:
    rows = []
    for s in result.scenarios:
        c = s.components
        word = verdict(s)
        css = "ok" if word == "pass" else ("na" if s.status == COULD_NOT_RUN else "bad")
        rows.append([
            f'<a href="#s-{_e(s.name)}">{_e(s.name)}</a>', f"{s.score:.1f}",
            f"{c.get('A', 0.0):.3f}", f"{c.get('R', 0.0):.3f}", f"{c.get('E', 0.0):.3f}",
            _e(recovery_words(s)), _e(integrity_word(s)), f"{s.min_score:g}", f"{s.weight:g}",
            f'<span class="{css}">{_e(word)}</span>',
        ])  # fmt: skip
    head = ["scenario", "score", "A", "R", "E", "recovery", "integrity", "min", "weight", "result"]
    return _table(head, rows, {1, 2, 3, 4, 7, 8})


def _comparison(result: RunResult) -> str:
    cmp = result.gate.comparison
    if cmp is None:
        return ""
    rows = [
        [
            _e(d.name),
            "—" if d.baseline is None else f"{d.baseline:.1f}",
            "—" if d.candidate is None else f"{d.candidate:.1f}",
            ("—" if d.delta is None else f"{d.delta:+.1f}")
            + (' <span class="bad">dropped</span>' if d.dropped else ""),
        ]
        for d in cmp.deltas
    ]
    rows.append(["<b>suite</b>", f"{cmp.suite_baseline:.1f}", f"{cmp.suite_candidate:.1f}",
                 f"{cmp.suite_delta:+.1f}"])  # fmt: skip
    return (
        f"<h2>Against baseline</h2><p class='muted'>{_e(cmp.baseline)} · margin {cmp.margin:g}</p>"
        + _table(["scenario", "baseline", "this run", "delta"], rows, {1, 2, 3})
    )


def _reconciliation(s: ScenarioResult) -> str:
    rows = []
    for c in s.checks:
        css = {FAILED: "bad", NOT_AVAILABLE: "na"}.get(c.status, "ok")
        status = c.status.replace("_", " ")
        examples = ""
        if c.examples:
            examples = _table(
                ["time", "TID/MID", "STAN", "batch", "card", "amount", "what"],
                [[_e(utc(e.t)), _e(e.tid or e.mid), _e(e.stan), _e(e.batch), _e(e.pan),
                  _e(yuan(e.amount)), _e(e.detail)] for e in c.examples],
                {5},
            )  # fmt: skip
        note = f"<div class='muted'>{_e(c.note)}</div>" if c.note else ""
        rows.append([_e(c.title) + note, f'<span class="{css}">{_e(status)}</span>',
                     str(c.count), examples])  # fmt: skip
    return _table(["check", "status", "count", "examples"], rows, {2})


def _expectations(s: ScenarioResult) -> str:
    if not s.expectations:
        return "<p class='muted'>no expectations declared (E = 1)</p>"
    rows = [
        [_e(e.name), f"<code>{_e(e.kind)}</code>", _e(e.measured),
         '<span class="ok">held</span>' if e.held else '<span class="bad">not held</span>',
         _e(e.detail)]
        for e in s.expectations
    ]  # fmt: skip
    return _table(["expectation", "kind", "measured", "result", "detail"], rows)


def _timeline(s: ScenarioResult) -> str:
    rows = []
    for ev in s.events:
        t = ev.get("t")
        t = float(t) if isinstance(t, int | float) else None
        skip = {"t", "event", "scenario"}
        detail = ", ".join(
            f"{k}={v}" for k, v in ev.items() if k not in skip and v not in (None, "")
        )
        rows.append([_e(offset(t, s.t0)), _e(utc(t)), f"<code>{_e(ev.get('event'))}</code>",
                     _e(detail)])  # fmt: skip
    if s.recovery.recovered_at is not None:
        at = s.recovery.recovered_at
        what = f"{s.recovery.recovery_s:.1f} s after the last fault"
        rows.append([_e(offset(at, s.t0)), _e(utc(at)), "<code>recovered</code>", _e(what)])
    if not rows:
        return "<p class='muted'>no journal events</p>"
    return _table(["offset", "time (UTC)", "event", "detail"], rows)


def _scenario(s: ScenarioResult, index: int) -> str:
    parts = [f'<section class="scenario" id="s-{_e(s.name)}"><h2>{_e(s.name)} — {s.score:.1f}'
             f" ({_e(verdict(s))})</h2>"]  # fmt: skip
    if s.status == COULD_NOT_RUN:
        parts.append(f"<p class='bad'>could not run: {_e(s.reason)}</p>")
    else:
        a = s.availability
        parts.append(
            f"<p>A {s.components.get('A', 0):.3f} — {a.good_seconds}/{a.judged_seconds} judged "
            f"seconds met the SLO (success ≥ {s.slo.get('success_ratio', 0):g}, p99 ≤ "
            f"{s.slo.get('p99_ms', 0):g} ms; {a.excluded_seconds} unavoidable, "
            f"{a.idle_seconds} idle, {a.aborted_seconds} after an abort). "
            f"R {s.components.get('R', 0):.3f} — recovery "
            f"{_e(recovery_words(s))}. E {s.components.get('E', 0):.3f} — "
            f"{_e(expectations_words(s))} expectations held.</p>"
        )
        parts.append(_figure(timeseries_figure(s), f"chart-{index}"))
    parts.append("<h3>Reconciliation</h3>" + _reconciliation(s))
    parts.append("<h3>Expectations</h3>" + _expectations(s))
    parts.append("<h3>Event timeline</h3>" + _timeline(s))
    if s.data_notes:
        parts.append("<h3>Data notes</h3><ul>" + "".join(f"<li>{_e(n)}</li>" for n in s.data_notes)
                     + "</ul>")  # fmt: skip
    parts.append("</section>")
    return "".join(parts)


def report_html(result: RunResult) -> str:
    body = [_header(result), "<h2>Scores</h2>", _scorecard(result)]
    if result.scenarios:
        body.append(_figure(score_figure(result.scenarios), "chart-scores"))
    body.append(_comparison(result))
    body.extend(_scenario(s, i) for i, s in enumerate(result.scenarios))
    if result.data_notes:
        notes = "".join(f"<li>{_e(n)}</li>" for n in result.data_notes)
        body.append(f"<h2>Data notes</h2><ul>{notes}</ul>")
    title = f"POS resilience — {result.run.get('suite')} — {GATE_WORDS.get(result.gate.status)}"
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{_e(title)}</title><style>{_CSS}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head>'
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )
