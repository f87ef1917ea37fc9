"""The report's charts, as plotly figures.

Plotly because the report must be one file that opens offline and still lets
a person hover, zoom and hide regions at 2 a.m.: plotly.js is inlined once
(about 4.8 MB) and every figure is data plus a call to it. (A static SVG
library would be smaller but gives no hover values, and the per-second figures
are what people dig into after an incident.)
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from poslab.scoring.result import ScenarioResult, Series

# colour-blind-safe (Okabe–Ito); "all" is drawn in near-black
_PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
_ALL = "#222222"
_FAULT = "rgba(213, 94, 0, 0.14)"
_UNAVOIDABLE = "rgba(120, 120, 120, 0.18)"


def _colour(index: int, series: Series) -> str:
    return _ALL if series.region == "all" else _PALETTE[index % len(_PALETTE)]


def _fault_spans(s: ScenarioResult, t0: float) -> dict[tuple[float, float], list[str]]:
    """Faults that share a window (a region's latency, slicer and resets) are shaded
    once and labelled together, so overlapping shading does not turn opaque."""
    spans: dict[tuple[float, float], list[str]] = {}
    for f in s.faults:
        if f.injected_at is None:
            continue
        end = f.cleared_at if f.cleared_at is not None else f.injected_at
        key = (round(f.injected_at - t0, 1), round(end - t0, 1))
        spans.setdefault(key, []).append(f.id)
    return spans


def timeseries_figure(s: ScenarioResult) -> go.Figure:
    """Throughput, success ratio and p99 per second, per region; faults shaded,
    unavoidable windows greyed, recoveries marked."""
    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.07,
        subplot_titles=(
            "approved transactions per second",
            "success ratio (approved / non-declined)",
            "p99 latency, ms",
        ),
    )
    for i, series in enumerate(s.series):
        colour = _colour(i, series)
        x = list(range(len(series.attempts)))
        width = 2.5 if series.region == "all" else 1.5
        common = {"legendgroup": series.region, "line": {"color": colour, "width": width},
                  "mode": "lines", "connectgaps": False}  # fmt: skip
        fig.add_trace(go.Scatter(x=x, y=series.approved, name=series.region, **common), 1, 1)
        fig.add_trace(
            go.Scatter(x=x, y=series.success_ratio, name=series.region, showlegend=False, **common),
            2,
            1,
        )
        fig.add_trace(
            go.Scatter(x=x, y=series.p99_ms, name=series.region, showlegend=False, **common), 3, 1
        )
        if series.recovered_at_s is not None:
            fig.add_trace(
                go.Scatter(
                    x=[series.recovered_at_s],
                    y=[s.slo.get("success_ratio", 1.0)],
                    mode="markers",
                    marker={"symbol": "star", "size": 13, "color": colour,
                            "line": {"color": "white", "width": 1}},
                    name=f"{series.region} recovered",
                    legendgroup=series.region,
                    showlegend=False,
                    hovertemplate=f"{series.region} recovered at +%{{x:.1f}} s<extra></extra>",
                ),
                2,
                1,
            )  # fmt: skip
    for w in s.unavoidable:
        fig.add_vrect(x0=w["start_s"], x1=w["end_s"], fillcolor=_UNAVOIDABLE, line_width=0,
                      layer="below", row="all", col=1)  # fmt: skip
    t0 = s.t0 or 0.0
    for (x0, x1), ids in _fault_spans(s, t0).items():
        fig.add_vrect(x0=x0, x1=max(x1, x0 + 0.2), fillcolor=_FAULT, line_width=0, layer="below",
                      row="all", col=1)  # fmt: skip
        fig.add_annotation(x=x0, y=1.0, yref="y domain", xref="x", text=", ".join(ids),
                           showarrow=False, xanchor="left", yanchor="top",
                           font={"size": 10, "color": "#a03c00"}, row=1, col=1)  # fmt: skip
    recovered = s.recovery.recovered_at
    if recovered is not None:
        fig.add_vline(x=recovered - t0, line_dash="dash", line_color=_ALL, row="all", col=1)
        fig.add_annotation(x=recovered - t0, y=1.0, yref="y domain", xref="x", showarrow=False,
                           text=f"recovered +{s.recovery.recovery_s:.1f} s", xanchor="left",
                           yanchor="top", font={"size": 10}, row=1, col=1)  # fmt: skip
    if "success_ratio" in s.slo:
        fig.add_hline(y=s.slo["success_ratio"], line_dash="dot", line_color="#888", row=2, col=1)
    if "p99_ms" in s.slo:
        fig.add_hline(y=s.slo["p99_ms"], line_dash="dot", line_color="#888", row=3, col=1)
    fig.update_yaxes(range=[0, 1.02], row=2, col=1)
    fig.update_xaxes(title_text="seconds since scenario start", row=3, col=1)
    fig.update_layout(
        height=720,
        template="plotly_white",
        hovermode="x unified",
        margin={"l": 60, "r": 20, "t": 80, "b": 50},
        legend={"orientation": "h", "y": 1.05, "yanchor": "bottom", "x": 0},
    )
    return fig


def score_figure(scenarios: list[ScenarioResult]) -> go.Figure:
    """Each scenario's score as its three contributions (points of 100)."""
    names = [s.name for s in scenarios]
    zeroed = [not s.integrity_ok or s.status == "could_not_run" for s in scenarios]

    def part(key: str, weight: float) -> list[float]:
        return [
            0.0 if z else round(100 * weight * s.components.get(key, 0.0), 2)
            for s, z in zip(scenarios, zeroed, strict=True)
        ]

    fig = go.Figure()
    for key, weight, label, colour in (
        ("A", 0.4, "availability (40)", "#0072B2"),
        ("R", 0.4, "recovery (40)", "#009E73"),
        ("E", 0.2, "expectations (20)", "#E69F00"),
    ):
        fig.add_trace(go.Bar(y=names, x=part(key, weight), name=label, orientation="h",
                             marker_color=colour))  # fmt: skip
    fig.add_trace(
        go.Scatter(
            y=names,
            x=[s.min_score for s in scenarios],
            mode="markers",
            marker={"symbol": "line-ns-open", "size": 18, "color": "#222"},
            name="scenario minimum",
        )
    )
    for name, z, s in zip(names, zeroed, scenarios, strict=True):
        if z:
            why = "could not run" if s.status == "could_not_run" else "integrity failed → 0"
            fig.add_annotation(y=name, x=2, text=why, showarrow=False, xanchor="left",
                               font={"color": "#b00020"})  # fmt: skip
    fig.update_layout(
        barmode="stack",
        height=150 + 40 * len(scenarios),
        template="plotly_white",
        xaxis={"range": [0, 100], "title": "score"},
        yaxis={"autorange": "reversed"},
        margin={"l": 180, "r": 20, "t": 50, "b": 40},
        legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "traceorder": "normal"},
    )
    return fig
