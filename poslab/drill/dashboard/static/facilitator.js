// The facilitator's view: the hidden plan with when each fault went in, and the
// exercise's controls (pause, resume, reveal, inject a further fault, end). Every
// call carries the facilitator's token from this page's link (team.js).
"use strict";

const view = { drill: null, clockAt: null, events: -1 };

function $(id) { return document.getElementById(id); }

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

async function loadPlan() {
  const r = await Team.call("GET", "/api/facilitator/plan");
  if (!r.ok) {
    Team.say($("message"), r.body.error || `HTTP ${r.status}`, "error");
    return;
  }
  const plan = r.body;
  $("plan-summary").textContent = `hidden: ${plan.scenarios.join(", ")} (seed ${plan.seed}), ` +
    `planned at T+${plan.delay_s} s` + (plan.revealed_to_everyone ? " — revealed to everyone" : "");
  const body = $("plan-faults").querySelector("tbody");
  body.replaceChildren();
  for (const f of plan.faults) {
    const tr = document.createElement("tr");
    tr.dataset.fault = f.id;
    for (const text of [f.id, f.scenario, `T+${f.at_s} s`,
      f.went_in_s === null ? "not yet" : `T+${f.went_in_s} s`,
      f.held ? "until mitigated" : `${f.for_s} s`, f.what]) tr.appendChild(cell(text));
    body.appendChild(tr);
  }
  $("plan-right").textContent = "right mitigations: " + (plan.right_mitigations.join(", ") || "none needed");
  const select = $("inject-scenario");
  const chosen = select.value;
  select.replaceChildren();
  for (const name of plan.injectable) select.add(new Option(name, name));
  if (plan.injectable.includes(chosen)) select.value = chosen;
}

function drawClock() {
  const d = view.drill;
  if (!d || d.clock_s === null || d.clock_s === undefined) return;
  const running = !d.paused && d.status === "running";
  const s = d.clock_s + (running ? (Date.now() - view.clockAt) / 1000 : 0);
  $("clock").textContent = Team.clockText(s) + (d.paused ? " (paused)" : "");
}

function onState(d) {
  const fresh = d.events.length !== view.events;
  view.drill = d;
  view.clockAt = Date.now();
  const paused = d.paused && d.status === "running";
  const el = $("status");
  el.textContent = paused ? "paused" : d.status;
  el.className = "pill " + (paused ? "paused" : d.status);
  drawClock();
  if (fresh) {
    view.events = d.events.length;
    if (d.events.length) Team.drawEvents($("events"), d.events);
    loadPlan(); // a fault may have gone in
  }
}

function onLost(r) {
  $("status").textContent = r.status === 403 ? "no access" : "not answering";
  $("status").className = "pill lost";
  if (r.status === 403) Team.say($("message"), r.body.error, "error");
}

async function act(path, body, done) {
  Team.say($("message"), "…", "");
  const r = await Team.call("POST", path, body);
  if (!r.ok) {
    Team.say($("message"), r.body.error || `HTTP ${r.status}`, "error");
    return;
  }
  Team.say($("message"), done(r.body), "ok");
  loadPlan();
}

$("pause").addEventListener("click", () => act("/api/facilitator/pause", {}, () => "the drill clock is paused"));
$("resume").addEventListener("click", () => act("/api/facilitator/resume", {},
  (e) => `the drill clock runs again (paused ${e.paused_s} s)`));
$("reveal").addEventListener("click", () => act("/api/facilitator/reveal", { everyone: true },
  () => "the plan is on every participant's page"));
$("inject").addEventListener("click", () => act("/api/facilitator/inject",
  { scenario: $("inject-scenario").value }, (r) => `injected ${r.scenario}: ${r.faults.join(", ")}`));
$("end").addEventListener("click", () => act("/api/facilitator/end", { keep: $("keep").checked },
  () => "the drill is ending: rollback, then the report"));

window.setInterval(drawClock, 500);
Team.follow(onState, onLost);
