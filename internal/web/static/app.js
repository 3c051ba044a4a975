// lookout's minimal live dashboard: active alerts, source health and the
// latest window of every pipeline and group, updated over /api/v1/stream.
"use strict";
const token = sessionStorage.getItem("lookout-token") || "";
const headers = token ? { Authorization: "Bearer " + token } : {};
const latest = new Map();

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}
function fmt(v) { return v === null || v === undefined ? "–" : (Math.abs(v) >= 1000 || Number.isInteger(v) ? String(v) : v.toPrecision(4)); }
function fill(id, rows) {
  const body = document.querySelector("#" + id + " tbody");
  body.replaceChildren(...rows);
}
async function get(path) {
  const r = await fetch(path, { headers });
  if (!r.ok) throw new Error(path + ": " + r.status);
  return r.json();
}
async function loadAlerts() {
  const { data } = await get("/api/v1/alerts");
  fill("alerts", data.length ? data.map(a => {
    const tr = el("tr");
    tr.append(el("td", a.state, a.state), el("td", a.rule), el("td", a.summary || JSON.stringify(a.labels)), el("td", a.since));
    return tr;
  }) : [el("tr", "nothing is wrong")]);
}
async function loadSources() {
  const { data } = await get("/api/v1/sources");
  fill("sources", data.map(s => {
    const tr = el("tr");
    tr.append(el("td", s.name), el("td", s.type), el("td", s.up ? "up" : "down", s.up ? "up" : "down"),
      el("td", fmt(s.rate) + " ev/s"), el("td", s.last_error || ""));
    return tr;
  }));
}
function renderWindows() {
  const rows = [...latest.values()].sort((a, b) => (a.pipeline + JSON.stringify(a.group)).localeCompare(b.pipeline + JSON.stringify(b.group)));
  fill("windows", rows.map(w => {
    const tr = el("tr");
    tr.append(el("td", w.pipeline), el("td", Object.values(w.group).join(", ")), el("td", w.end),
      el("td", Object.entries(w.values).map(([k, v]) => k + "=" + fmt(v)).join("  ")));
    return tr;
  }));
}
function connect() {
  const es = new EventSource("/api/v1/stream");
  es.addEventListener("hello", () => { document.getElementById("conn").textContent = "live"; });
  es.addEventListener("window", ev => {
    const w = JSON.parse(ev.data);
    latest.set(w.pipeline + JSON.stringify(w.group), w);
    renderWindows();
  });
  es.addEventListener("alert", () => loadAlerts().catch(() => {}));
  es.onerror = () => { document.getElementById("conn").textContent = "disconnected — reconnecting…"; };
}
loadAlerts().catch(() => {});
loadSources().catch(() => {});
setInterval(() => loadSources().catch(() => {}), 5000);
connect();
