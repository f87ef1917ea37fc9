// The drill's operations dashboard: polls /api/metrics once a second and
// redraws the tiles and charts from the last five minutes of samples. Nothing
// is fetched from outside this server (plotly.js is served by the drill too).
"use strict";

const WINDOW = 300; // seconds of history on the charts
const RC_WINDOW = 10; // seconds summed in the response-code mix
const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442"];
const state = { seq: 0, samples: [], events: 0, drill: null, failures: 0 };
const PLOT_CONFIG = { displaylogo: false, responsive: true };

function $(id) { return document.getElementById(id); }

function layout(title, extra) {
  return Object.assign({
    title: { text: title, font: { size: 14 }, x: 0.01 },
    margin: { l: 50, r: 10, t: 34, b: 30 },
    legend: { orientation: "h", y: -0.18 },
    xaxis: { type: "date" },
    uirevision: title, // keep zoom and hidden traces across redraws
  }, extra || {});
}

function regions() {
  const names = new Set();
  for (const s of state.samples) { for (const r of Object.keys(s.regions)) names.add(r); }
  return Array.from(names).sort();
}

function series(pick) {
  return {
    x: state.samples.map((s) => new Date(s.t * 1000)),
    y: state.samples.map(pick),
  };
}

function perRegion(field) {
  const traces = regions().map((r, i) => Object.assign(
    series((s) => (s.regions[r] ? s.regions[r][field] : null)),
    { name: r, mode: "lines", line: { color: PALETTE[i % PALETTE.length], width: 1.5 } },
  ));
  traces.push(Object.assign(series((s) => s.all[field]),
    { name: "all", mode: "lines", line: { color: "#222", width: 2.5 } }));
  return traces;
}

function rcMix() {
  const recent = state.samples.slice(-RC_WINDOW);
  const names = regions();
  const codes = new Map();
  for (const s of recent) {
    for (const r of names) {
      const mix = (s.regions[r] || {}).rc || {};
      for (const [code, n] of Object.entries(mix)) {
        if (!codes.has(code)) codes.set(code, new Map());
        const byRegion = codes.get(code);
        byRegion.set(r, (byRegion.get(r) || 0) + n);
      }
    }
  }
  const sorted = Array.from(codes.keys()).sort((a, b) => (a === "00" ? -1 : b === "00" ? 1 : a.localeCompare(b)));
  return sorted.map((code, i) => ({
    type: "bar", name: code, x: names, y: names.map((r) => codes.get(code).get(r) || 0),
    marker: { color: code === "00" ? "#1a7f37" : PALETTE[(i + 1) % PALETTE.length] },
  }));
}

function mean(values) {
  const v = values.filter((x) => x !== null && x !== undefined);
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
}

function tile(id, value, level) {
  const el = $(id);
  el.querySelector(".value").textContent = value;
  el.classList.remove("good", "warn", "bad");
  if (level) el.classList.add(level);
}

function drawTiles() {
  const last = state.samples[state.samples.length - 1];
  if (!last) return;
  const recent = state.samples.slice(-10);
  const ratio = last.all.success_ratio;
  tile("kpi-tps", String(last.all.tps), last.all.tps > 0 ? "good" : "bad");
  tile("kpi-success", ratio === null ? "–" : (100 * ratio).toFixed(1) + "%",
    ratio === null ? null : ratio >= 0.95 ? "good" : ratio >= 0.8 ? "warn" : "bad");
  const p99 = last.all.p99_ms;
  tile("kpi-p99", p99 === null ? "–" : Math.round(p99).toString(),
    p99 === null ? null : p99 <= 2000 ? "good" : "bad");
  const signOns = mean(recent.map((s) => s.sign_ons));
  tile("kpi-signon", signOns === null ? "–" : signOns.toFixed(1), null);
  tile("kpi-reversals", String(last.reversal_backlog), last.reversal_backlog < 5 ? "good" : "warn");
  const host = last.host || {};
  const backlog = host.settlement_backlog;
  tile("kpi-settlement", backlog === undefined || backlog === null ? "?" : String(backlog),
    host.settlement_stalled ? "bad" : backlog > 5 ? "warn" : "good");
  const links = host.issuer_links === undefined ? "?" : host.issuer_links;
  tile("kpi-host", (host.up ? "up" : "DOWN") + " / " + links,
    !host.up ? "bad" : links ? "good" : "bad");
  const agents = last.agents || {};
  const word = (a) => (!a ? "?" : a.ok ? "ok" : "DOWN");
  tile("kpi-agents", word(agents.primary) + " / " + word(agents.backup),
    agents.primary && agents.primary.ok ? "good" : agents.backup && agents.backup.ok ? "warn" : "bad");
}

function drawCharts() {
  Plotly.react("chart-tps", perRegion("tps"), layout("throughput, transactions/s per region"), PLOT_CONFIG);
  Plotly.react("chart-success", perRegion("success_ratio"),
    layout("success ratio per region", { yaxis: { range: [0, 1.05], tickformat: ".0%" } }), PLOT_CONFIG);
  Plotly.react("chart-p99", perRegion("p99_ms"), layout("p99 latency per region, ms"), PLOT_CONFIG);
  Plotly.react("chart-rc", rcMix(), layout("response codes per region, last 10 s",
    { barmode: "stack", xaxis: { type: "category" } }), PLOT_CONFIG);
  Plotly.react("chart-signon", [
    Object.assign(series((s) => s.sign_ons), { name: "sign-ons/s", mode: "lines", line: { color: "#CC79A7" } }),
    Object.assign(series((s) => s.all.backup_share), { name: "backup host path share", mode: "lines",
      yaxis: "y2", line: { color: "#56B4E9", dash: "dot" } }),
  ], layout("sign-on rate and backup path share", {
    yaxis2: { overlaying: "y", side: "right", range: [0, 1.05], tickformat: ".0%" },
    margin: { l: 50, r: 50, t: 34, b: 30 },
  }), PLOT_CONFIG);
  Plotly.react("chart-backlog", [
    Object.assign(series((s) => s.reversal_backlog), { name: "reversals pending", mode: "lines",
      line: { color: "#D55E00" } }),
    Object.assign(series((s) => (s.host || {}).settlement_backlog), { name: "settlement backlog",
      mode: "lines", line: { color: "#0072B2" } }),
    Object.assign(series((s) => (s.agent_calls || {}).failed), { name: "agent calls failed/s",
      mode: "lines", line: { color: "#E69F00" } }),
  ], layout("backlogs and agent failures"), PLOT_CONFIG);
}

function setStatus(text, cls) {
  const el = $("status");
  el.textContent = text;
  el.className = "pill " + (cls || "");
}

function drawClock() {
  const d = state.drill;
  if (!d || d.t0 === null) return;
  const s = Math.max(0, Math.floor((d.now || Date.now() / 1000) - d.t0));
  const mm = String(Math.floor(s / 60)).padStart(2, "0");
  $("clock").textContent = `T+${mm}:${String(s % 60).padStart(2, "0")}`;
}

function drawEvents() {
  const events = (state.drill && state.drill.events) || [];
  if (events.length === state.events) return;
  state.events = events.length;
  const list = $("events");
  list.replaceChildren();
  for (const e of events) {
    const li = document.createElement("li");
    const when = new Date(e.t * 1000).toLocaleTimeString();
    const what = e.event === "drill_started" ? "the load is running; watch the figures"
      : e.event === "check" ? `${e.area}: ${e.verdict}`
      : e.text || e.action || e.reason || "";
    li.textContent = `${when} ${e.event.replace("_", " ")}: ${what}` +
      (e.result ? ` → ${e.result}` : "");
    list.appendChild(li);
  }
}

async function pollMetrics() {
  try {
    const response = await fetch(`/api/metrics?after=${state.seq}`, { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const body = await response.json();
    for (const s of body.samples) {
      state.samples.push(s);
      state.seq = s.seq;
    }
    if (state.samples.length > WINDOW) state.samples.splice(0, state.samples.length - WINDOW);
    state.failures = 0;
    if (body.samples.length) {
      drawTiles();
      drawCharts();
    }
    const updated = $("updated");
    updated.dataset.seq = String(state.seq);
    updated.textContent = `sample ${state.seq}`;
  } catch (err) {
    state.failures += 1;
    if (state.failures > 2) setStatus("controller not answering", "lost");
  }
  window.setTimeout(pollMetrics, 1000);
}

async function pollDrill() {
  try {
    const response = await fetch("/api/drill", { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    state.drill = await response.json();
    setStatus(state.drill.status, state.drill.status);
    drawClock();
    drawEvents();
  } catch (err) {
    setStatus("controller not answering", "lost");
  }
  window.setTimeout(pollDrill, 1000);
}

pollMetrics();
pollDrill();
