// The drill's operations dashboard: polls /api/metrics once a second and
// redraws the tiles and charts from the last five minutes of samples; follows the
// drill's state (team.js) and lets a participant act under their own name. Nothing
// is fetched from outside this server (plotly.js is served by the drill too).
"use strict";

const WINDOW = 300; // seconds of history on the charts
const RC_WINDOW = 10; // seconds summed in the response-code mix
const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442"];
const state = { seq: 0, samples: [], events: -1, drill: null, failures: 0, clockAt: null };
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
  if (!d || d.clock_s === null || d.clock_s === undefined) return;
  // The server's drill time when the state came, moved on locally unless paused.
  const running = !d.paused && d.status === "running";
  const s = d.clock_s + (running ? (Date.now() - state.clockAt) / 1000 : 0);
  $("clock").textContent = Team.clockText(s) + (d.paused ? " (paused)" : "");
}

function drawEvents() {
  const events = (state.drill && state.drill.events) || [];
  if (events.length === state.events) return;
  state.events = events.length;
  if (events.length) Team.drawEvents($("events"), events);
}

function drawBanner() {
  const d = state.drill;
  const banner = $("banner");
  if (["ending", "ended", "failed"].includes(d.status)) {
    banner.textContent = "The drill has ended: the report is being written; nothing more can be done in it.";
    banner.className = "banner";
    banner.hidden = false;
  } else if (d.paused) {
    banner.textContent = "The facilitator paused the drill clock: actions wait until it runs again.";
    banner.className = "banner paused";
    banner.hidden = false;
  } else {
    banner.hidden = true;
  }
}

function drawPlan() {
  const plan = state.drill.plan;
  if (!plan) return;
  $("plan").hidden = false;
  const list = $("plan-faults");
  list.replaceChildren();
  for (const f of plan.faults) {
    const li = document.createElement("li");
    li.textContent = `${f.id} (${f.scenario}): ${f.what}` +
      (f.went_in_s === null ? " — not yet in" : ` — in at T+${f.went_in_s} s`);
    list.appendChild(li);
  }
}

function fillCatalogue() {
  // The same catalogue as the CLI (lab drill mitigate --list), from the drill itself.
  const d = state.drill;
  const area = $("check-area");
  if (!area.options.length) {
    for (const a of d.checks) area.add(new Option(a, a));
  }
  const list = $("mitigation-list");
  if (!list.options.length) {
    for (const m of d.mitigations) list.appendChild(new Option(m.summary, m.name));
    $("mitigation").addEventListener("input", helpMitigation);
  }
}

function helpMitigation() {
  const m = (state.drill.mitigations || []).find((x) => x.name === $("mitigation").value.trim());
  const params = m ? Object.entries(m.params) : [];
  $("mitigation-help").textContent = !m ? "" : params.length
    ? "params: " + params.map(([k, h]) => `${k} — ${h}`).join("; ") : "no params";
}

function onState(d) {
  state.drill = d;
  state.clockAt = Date.now();
  setStatus(d.paused && d.status === "running" ? "paused" : d.status,
    d.paused && d.status === "running" ? "paused" : d.status);
  drawClock();
  drawEvents();
  drawBanner();
  fillCatalogue();
  drawPlan();
}

function onLost(r) {
  if (r.status === 403) {
    setStatus("no access", "lost");
    Team.say($("message"), "This link has no valid drill token: ask the facilitator for the participants' link.", "error");
  } else {
    setStatus(r.body.error.startsWith("the drill has ended") ? "ended" : "controller not answering", "lost");
  }
}

async function pollMetrics() {
  const r = await Team.call("GET", `/api/metrics?after=${state.seq}`);
  if (r.ok) {
    for (const s of r.body.samples) {
      state.samples.push(s);
      state.seq = s.seq;
    }
    if (state.samples.length > WINDOW) state.samples.splice(0, state.samples.length - WINDOW);
    state.failures = 0;
    if (r.body.samples.length) {
      drawTiles();
      drawCharts();
    }
    const updated = $("updated");
    updated.dataset.seq = String(state.seq);
    updated.textContent = `sample ${state.seq}`;
  } else {
    state.failures += 1;
    if (r.status === 403) return; // onLost says why
  }
  window.setTimeout(pollMetrics, 1000);
}

// -- acting ------------------------------------------------------------------------

function myName() {
  const name = $("name").value.trim();
  localStorage.setItem("drill-name", name);
  return name;
}

function parseParams(text) {
  // "regions=east,north version=020100" (or comma-free pairs separated by ';'),
  // as the CLI's --param takes them; the drill itself says what is wrong with them.
  const params = {};
  for (const pair of text.split(/[\s;]+/).filter(Boolean)) {
    const at = pair.indexOf("=");
    if (at <= 0) throw new Error(`params: "${pair}" is not key=value`);
    params[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return params;
}

async function act(path, body, done) {
  const message = $("message");
  const by = myName();
  if (!by) {
    Team.say(message, "Give your name first: the timeline says who did what.", "error");
    $("name").focus();
    return;
  }
  Team.say(message, "…", "");
  const r = await Team.call("POST", path, Object.assign({ by }, body));
  if (!r.ok) {
    Team.say(message, r.body.error || `HTTP ${r.status}`, "error");
    return;
  }
  Team.say(message, done(r.body), "ok");
}

function drawCheck(report) {
  const table = $("check-result");
  const body = table.querySelector("tbody");
  body.replaceChildren();
  for (const [what, value, verdict] of report.rows) {
    const tr = document.createElement("tr");
    for (const cell of [what, value, verdict]) {
      const td = document.createElement("td");
      td.textContent = cell;
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  table.hidden = false;
}

function wire() {
  $("name").value = localStorage.getItem("drill-name") || "";
  $("note").addEventListener("click", () => act("/api/note", { text: $("note-text").value },
    () => { $("note-text").value = ""; return "noted"; }));
  $("detect").addEventListener("click", () => act("/api/detect", { text: $("note-text").value },
    () => { $("note-text").value = ""; return "detection declared"; }));
  $("check").addEventListener("click", () => act("/api/check", { area: $("check-area").value },
    (report) => { drawCheck(report); return `check ${$("check-area").value}: ${report.verdict}`; }));
  $("mitigate").addEventListener("click", () => {
    let params;
    try {
      params = parseParams($("mitigation-params").value);
    } catch (err) {
      Team.say($("message"), err.message, "error");
      return;
    }
    act("/api/mitigate", { action: $("mitigation").value.trim(), params },
      (event) => `${event.action}: ${event.result} (${event.seconds.toFixed(1)} s)`);
  });
}

wire();
window.setInterval(drawClock, 500);
pollMetrics();
Team.follow(onState, onLost);
