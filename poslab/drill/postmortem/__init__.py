"""The post-incident report of a drill: ``postmortem.md``, ``postmortem.html``, ``postmortem.json``.

Blameless and factual, in the order a review reads it: what was hidden and
when it went in; the timeline (fault, first measurable symptom, detection,
each mitigation, recovery); time to detect, mitigate and recover; whether
each mitigation was the right one for the injected failure and what followed
it; what it cost (failed sales, customers left debited — from the
reconciliation); which runbook steps were taken or skipped; action items.

Everything is read from the drill's run directory (:mod:`poslab.drill.session`),
so a report can be written again later: ``lab drill report RUN_DIR``.
"""

from __future__ import annotations

import json
from pathlib import Path

from poslab.drill.postmortem.model import Postmortem, build_postmortem
from poslab.drill.session import DrillFiles, write_atomic

__all__ = ["Postmortem", "build_postmortem", "write_postmortem"]


def write_postmortem(files: DrillFiles) -> dict[str, Path]:
    """Write the three files; returns their paths by kind (``md``, ``html``, ``json``)."""
    # The renderers are imported here, not above: the page's plotly costs about
    # a second, paid only when a report is written.
    from poslab.drill.postmortem.html import render_html
    from poslab.drill.postmortem.markdown import render_markdown

    report = build_postmortem(files)
    write_atomic(
        files.postmortem_json,
        json.dumps(report.to_dict(), indent=2, ensure_ascii=False, default=str) + "\n",
    )
    write_atomic(files.postmortem_md, render_markdown(report))
    write_atomic(files.postmortem_html, render_html(report))
    return {"md": files.postmortem_md, "html": files.postmortem_html, "json": files.postmortem_json}
