"""``postmortem.html``: the post-incident report as one self-contained page.

The same sections as the Markdown, plus the incident on a chart: the
fleet's success ratio and throughput, the backlogs, and a vertical line for
the fault, the first symptom, the detection, each mitigation (coloured by
its verdict) and the recovery. plotly.js is inlined once, so the page opens
offline and can be attached to the review.
"""

from __future__ import annotations

import html
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

from poslab.drill.postmortem.model import Postmortem
from poslab.drill.postmortem.wording import (
    clock,
    headline,
    money_rows,
    params_text,
    pauses_text,
    right_for_failure,
    seconds,
    who,
)
from poslab.report.wording import utc, utc_date

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans CJK SC",sans-serif;
 margin:0;color:#1d1d1f;background:#fafafa}
main{max-width:1150px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:22px;margin:8px 0}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:6px 0 12px;background:#fff;width:100%}
th,td{border:1px solid #e2e2e2;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f2f2f2;font-weight:600}
.right{color:#1a7f37;font-weight:600}.acceptable{color:#9a6700;font-weight:600}
.wrong,.skipped{color:#b00020;font-weight:600}.taken{color:#1a7f37}
.lead{font-size:15px;background:#fff;border-left:5px solid #0072B2;padding:8px 12px}
code{background:#f0f0f0;padding:0 3px;border-radius:3px}
"""
_VERDICT_COLOURS = {"right": "#1a7f37", "acceptable": "#E69F00", "wrong": "#b00020"}


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _table(head: list[str], rows: list[list[str]]) -> str:
    """Cells are HTML already (escape with :func:`_e` before)."""
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def incident_figure(report: Postmortem) -> go.Figure:
    inc, t0 = report.incident, report.incident.t0
    samples = [s for s in report.samples if float(s["t"]) <= inc.end_at]
    x = [float(s["t"]) - t0 for s in samples]
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08,
        subplot_titles=(
            "success ratio and throughput (all regions)",
            "reversal and settlement backlogs",
        ),
        specs=[[{"secondary_y": True}], [{}]],
    )
    ratio = [s["all"].get("success_ratio") for s in samples]
    tps = [s["all"].get("tps") for s in samples]
    fig.add_trace(
        go.Scatter(x=x, y=ratio, name="success ratio", line={"color": "#0072B2"}),
        1,
        1,
        secondary_y=False,
    )
    fig.add_trace(
        go.Scatter(x=x, y=tps, name="transactions/s", line={"color": "#999", "dash": "dot"}),
        1,
        1,
        secondary_y=True,
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=[s.get("reversal_backlog") for s in samples],
            name="reversals pending",
            line={"color": "#D55E00"},
        ),
        2,
        1,
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=[s.get("host", {}).get("settlement_backlog") for s in samples],
            name="settlement backlog",
            line={"color": "#009E73"},
        ),
        2,
        1,
    )
    marks: list[tuple[float, str, str]] = []
    if inc.fault_start is not None:
        marks.append((inc.fault_start, "fault", "#b00020"))
    if inc.symptom_at is not None:
        marks.append((inc.symptom_at, "symptom", "#E69F00"))
    if inc.detect_at is not None:
        marks.append((inc.detect_at, "detected", "#0072B2"))
    for m in inc.mitigations:
        marks.append((m.t, m.action, _VERDICT_COLOURS.get(m.verdict, "#666")))
    if inc.recovered_at is not None:
        marks.append((inc.recovered_at, "recovered", "#1a7f37"))
    for t, label, colour in marks:
        fig.add_vline(x=t - t0, line={"color": colour, "width": 1.5, "dash": "dash"})
        fig.add_annotation(
            x=t - t0,
            y=1.02,
            yref="paper",
            text=label,
            showarrow=False,
            textangle=-30,
            font={"color": colour, "size": 11},
        )
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%", row=1, col=1, secondary_y=False)
    fig.update_xaxes(title_text="seconds on the drill clock", row=2, col=1)
    fig.update_layout(
        height=560,
        margin={"l": 60, "r": 60, "t": 90, "b": 40},
        legend={"orientation": "h", "y": -0.12},
    )
    return fig


def render_html(report: Postmortem) -> str:
    inc, plan, t0 = report.incident, report.plan, report.incident.t0
    parts = [f"<h1>Post-incident report — drill {_e(report.name)}</h1>"]
    parts.append(f'<p class="lead">{_e(utc_date(t0))} · {_e(headline(report))}</p>')
    parts.append("<h2>What was hidden</h2>")
    went_in = {str(f["id"]): clock(float(f["t"]), t0) for f in inc.faults}
    parts.append(
        _table(
            ["fault", "from scenario", "went in", "held", "what"],
            [
                [
                    _e(p.fault.id),
                    _e(p.scenario),
                    _e(went_in.get(p.fault.id, "never")),
                    "until mitigated or the end" if p.held else _e(f"{p.fault.for_s:g} s window"),
                    _e(p.description),
                ]
                for p in plan.faults
            ],
        )
    )
    parts.append("<h2>The incident</h2>")
    parts.append(
        str(
            pio.to_html(
                incident_figure(report),
                include_plotlyjs=False,
                full_html=False,
                div_id="incident-chart",
                config={"displaylogo": False, "responsive": True},
            )
        )
    )
    parts.append("<h2>Timeline</h2>")
    parts.append(
        _table(
            ["UTC", "drill clock", "since fault", "what", "detail"],
            [
                [
                    _e(utc(t)),
                    _e(clock(t, t0)),
                    "" if inc.fault_start is None else _e(f"{t - inc.fault_start:+.1f} s"),
                    _e(what),
                    _e(detail),
                ]
                for t, what, detail in report.moments()
            ],
        )
    )
    f = inc.figures()
    parts.append("<h2>Times (from the fault going in)</h2>")
    parts.append(
        _table(
            [
                "first symptom",
                "time to detect",
                "first mitigation",
                "time to mitigate",
                "time to recover",
            ],
            [
                [
                    _e(seconds(f[k]))
                    for k in (
                        "symptom_s",
                        "detect_s",
                        "first_mitigation_s",
                        "mitigate_s",
                        "recover_s",
                    )
                ]
            ],
        )
    )
    if pauses_text(report):
        parts.append(f"<p>{_e(pauses_text(report))}</p>")
    parts.append("<h2>Mitigations</h2>")
    if inc.mitigations:
        parts.append(
            _table(
                [
                    "drill clock",
                    "by",
                    "action",
                    "verdict",
                    "result",
                    "what followed",
                    "signals before → after",
                ],
                [
                    [
                        _e(clock(m.t, t0)),
                        _e(who(m.by)),
                        f"<code>{_e(m.action)}</code>{_e(params_text(m.params))}",
                        f'<span class="{m.verdict}">{_e(m.verdict)}</span>',
                        _e(m.result if m.ok else "FAILED: " + m.result),
                        _e(m.effect),
                        _e(f"{m.signals_before} → {m.signals_after}"),
                    ]
                    for m in inc.mitigations
                ],
            )
        )
    else:
        parts.append("<p>None was run.</p>")
    parts.append(f"<p>Right for this failure: {_e(right_for_failure(report))}.</p>")
    parts.append("<h2>Money impact</h2>")
    parts.append(
        _table(
            ["what", "count", "value", "source"],
            [[_e(c) for c in row] for row in money_rows(report.money)],
        )
    )
    parts += [f"<p>note: {_e(n)}</p>" for n in report.money.notes]
    parts.append("<h2>Runbook steps</h2>")
    parts.append(
        _table(
            ["runbook", "step", "title", "taken", "how"],
            [
                [
                    _e(s.runbook),
                    _e(s.step.id),
                    _e(s.step.title),
                    f'<span class="taken">taken {_e(clock(s.t, t0))}</span>'
                    if s.taken and s.t is not None
                    else '<span class="skipped">skipped</span>',
                    _e("; ".join(s.how[:3])),
                ]
                for s in report.steps
            ],
        )
    )
    parts.append("<h2>Action items</h2><ol>")
    parts += [f"<li>{_e(item)}</li>" for item in report.actions]
    parts.append("</ol>")
    notes = [e for e in report.timeline if e.get("event") == "note"]
    if notes:
        parts.append("<h2>Notes from the team</h2><ul>")
        parts += [
            f"<li>{_e(clock(float(n['t']), t0))} {_e(who(n.get('by')))}: "
            f"{_e(n.get('text', ''))}</li>"
            for n in notes
        ]
        parts.append("</ul>")
    return _page(report.name, "\n".join(parts))


def _page(name: str, body: str) -> str:
    script: Any = get_plotlyjs()
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Post-incident report — {_e(name)}</title><style>{_CSS}</style>"
        f'<script type="text/javascript">{script}</script></head>'
        f"<body><main>{body}</main></body></html>\n"
    )
