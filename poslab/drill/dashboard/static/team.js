// What the participants' dashboard and the facilitator's view share: the token
// from the link, API calls that carry it, the drill's state kept current with a
// long poll (answered the moment anything changes), and messages on the page.
"use strict";

const Team = (() => {
  // The link carries the token in its fragment (#token=…): never sent to a server,
  // never in a Referer. Kept for this tab only, and taken out of the address bar.
  const KEY = "drill-token:" + location.pathname;
  function token() {
    const hash = new URLSearchParams(location.hash.replace(/^#/, ""));
    const given = hash.get("token");
    if (given) {
      sessionStorage.setItem(KEY, given);
      history.replaceState(null, "", location.pathname + location.search);
      return given;
    }
    return sessionStorage.getItem(KEY) || "";
  }
  const TOKEN = token();

  let ended = false; // the last state seen was ending/ended: a silent server means it closed

  async function call(method, path, body) {
    let response;
    try {
      response = await fetch(path, {
        method,
        cache: "no-store",
        headers: Object.assign({ "X-Drill-Token": TOKEN },
          body === undefined ? {} : { "Content-Type": "application/json" }),
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      return { ok: false, status: 0, body: { error: ended
        ? "the drill has ended: its dashboard is closed"
        : "the drill controller does not answer" } };
    }
    let data;
    try { data = await response.json(); } catch (err) { data = { error: `HTTP ${response.status}` }; }
    return { ok: response.ok, status: response.status, body: data };
  }

  function say(el, text, kind) {
    el.textContent = text;
    el.className = "message " + (kind || "");
    el.dataset.kind = kind || "";
  }

  // The drill's state, kept current: the first call answers at once, every next one
  // when the state's version moves (or after 15 s); ``onState`` sees each.
  async function follow(onState, onLost) {
    let version = null;
    for (;;) {
      const path = version === null ? "/api/drill" : `/api/drill?version=${version}`;
      const r = await call("GET", path);
      if (r.ok) {
        version = r.body.version;
        ended = ["ending", "ended", "failed"].includes(r.body.status);
        onState(r.body);
      } else {
        onLost(r);
        if (r.status === 403) return; // a wrong link stays wrong
        await new Promise((done) => setTimeout(done, 1000));
      }
    }
  }

  function clockText(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    return `T+${String(Math.floor(s / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
  }

  function eventText(e) {
    const who = e.by ? `${e.by}: ` : "";
    const what = e.event === "drill_started" ? "the load is running; watch the figures"
      : e.event === "check" ? `check ${e.area} → ${e.verdict}`
      : e.event === "mitigation" ? `${e.action}${paramsText(e.params)} → ${e.ok ? e.result : "FAILED: " + e.result}`
      : e.event === "pause" ? "paused the drill clock"
      : e.event === "resume" ? `the drill clock runs again (paused ${e.paused_s} s)`
      : e.event === "reveal" ? "revealed the hidden plan to everyone"
      : e.event === "inject" ? `injected ${e.scenario}`
      : e.event === "end" ? `the drill ends: ${e.reason}`
      : `${e.event}: ${e.text || ""}`;
    return `${new Date(e.t * 1000).toLocaleTimeString()} ${who}${what}`;
  }

  function paramsText(params) {
    const entries = Object.entries(params || {});
    if (!entries.length) return "";
    return " (" + entries.map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(",") : v}`).join(", ") + ")";
  }

  function drawEvents(list, events) {
    list.replaceChildren();
    for (const e of events) {
      const li = document.createElement("li");
      li.textContent = eventText(e);
      li.dataset.event = e.event;
      if (e.by) li.dataset.by = e.by;
      list.appendChild(li);
    }
  }

  return { TOKEN, call, say, follow, clockText, drawEvents, paramsText };
})();
