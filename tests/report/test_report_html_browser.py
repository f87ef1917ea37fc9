"""report.html in a real headless Chromium (Debian's, driven by Playwright): it loads
offline with no console errors, asks for nothing outside the file, and its charts
render — the plot DOM is there and a screenshot of each chart is not blank."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from poslab.scoring import RunResult
from tests.support.chromium import ARGS, CHROMIUM

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary on this machine"),
]


# Decodes a screenshot with the browser's own PNG decoder (no imaging library in
# the environment) and measures it: share of non-white pixels, distinct colours.
INK_JS = """async (b64) => {
  const img = new Image();
  img.src = "data:image/png;base64," + b64;
  await img.decode();
  const canvas = document.createElement("canvas");
  canvas.width = img.width; canvas.height = img.height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let inked = 0, total = 0;
  const colours = new Set();
  for (let i = 0; i < d.length; i += 4) {
    total++;
    if (Math.min(d[i], d[i + 1], d[i + 2]) < 235) inked++;
    colours.add(((d[i] >> 3) << 10) | ((d[i + 1] >> 3) << 5) | (d[i + 2] >> 3));
  }
  return [inked / total, colours.size, canvas.width, canvas.height];
}"""


def test_report_renders_offline_without_errors(mixed: tuple[Path, RunResult]) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    run, result = mixed
    html = run / "report.html"
    problems: list[str] = []
    outside: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: problems.append(f"{m.type}: {m.text}")
                    if m.type in ("error", "warning") else None)  # fmt: skip
            page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
            page.on("request", lambda r: outside.append(r.url)
                    if not r.url.startswith(("file:", "data:", "blob:")) else None)  # fmt: skip
            page.route("**/*", lambda route: route.abort()
                       if not route.request.url.startswith(("file:", "data:", "blob:"))
                       else route.continue_())  # fmt: skip
            page.goto(html.as_uri())
            page.wait_for_function(
                "document.querySelectorAll('.js-plotly-plot .main-svg').length >= 4", timeout=30000
            )
            charts = page.locator(".js-plotly-plot")
            # the score chart plus one time series per scenario that ran
            assert charts.count() == 1 + sum(1 for s in result.scenarios if s.series)
            # fault windows are drawn as shapes, and every series as a trace
            shapes = page.locator("#chart-0 .shapelayer path").count()
            assert shapes >= 3, shapes
            traces = page.locator("#chart-0 .scatterlayer .trace").count()
            assert traces >= 12, traces  # 4 series x 3 rows (+ recovery marks)
            assert page.locator("text=integrity failed").count() >= 1
            assert page.locator("text=approved at the terminal").count() >= 1
            for chart in ("#chart-scores", "#chart-0", "#chart-1"):
                box = page.locator(chart)
                box.scroll_into_view_if_needed()
                shot = base64.b64encode(box.screenshot()).decode()
                share, colours, width, height = page.evaluate(INK_JS, shot)
                assert width > 600 and height > 150, (chart, width, height)
                assert share > 0.03, (chart, share)
                assert colours > 8, (chart, colours)
            # the measure itself sees blankness: an empty white box has no ink
            page.evaluate(
                "document.body.insertAdjacentHTML('afterbegin', '<div id=\"blank\" "
                'style="width:700px;height:200px;background:#fff"></div>\')'
            )
            blank = base64.b64encode(page.locator("#blank").screenshot()).decode()
            assert page.evaluate(INK_JS, blank)[:2] == [0, 1]
        finally:
            browser.close()
    assert problems == []
    assert outside == []
