// Alerts: active alerts with silence and acknowledge (and what mutes each
// now), the silences, and the history of transitions with the notification
// decision (queued, then sent or retrying; or suppressed and why).
import { t } from "../i18n.js";
import { api, h, on, section, table, fmtNum, fmtTime, fmtAgo, errText, labelChips, debounce } from "../core.js";
import { severityOf, sevRank } from "./overview.js";

const HISTORY_LIMIT = 200;

/** silenceBody is the POST /api/v1/silences request matching exactly this alert. */
export function silenceBody(a, untilMs, comment) {
  const labels = { alertname: a.rule, ...(a.labels || {}) };
  return {
    matchers: Object.keys(labels).sort().map((name) => ({ name, value: String(labels[name]) })),
    until: new Date(untilMs).toISOString(),
    comment,
  };
}

/** decisionClass picks the colour of a decision: sent, suppressed (and why), failed; queued stays plain. */
function decisionClass(d) {
  const s = String(d || "").toLowerCase();
  if (s.startsWith("sent")) return "dec-sent";
  if (s.startsWith("suppress") || s.startsWith("silenced") || s.startsWith("skip") || s.startsWith("retry")) return "dec-suppressed";
  if (s.startsWith("fail") || s.startsWith("error")) return "dec-failed";
  return "";
}

export function mount(root, { params }) {
  const fp = params.get("fingerprint") || "";
  const offs = [];
  const notice = h("div", { id: "alert-notice", role: "status" });
  const activeBox = h("div", { id: "active" }, h("p", { class: "muted" }, t("loading")));
  const histBox = h("div", { id: "history" }, h("p", { class: "muted" }, t("loading")));
  const silBox = h("div", { id: "silences" }, h("p", { class: "muted" }, t("loading")));
  root.append(
    section(t("al.active"), { class: "wide", id: "alerts-active" }, notice, activeBox),
    section(t("al.silences"), { class: "wide", id: "alerts-silences" }, silBox),
    section(t("al.history"), { class: "wide", id: "alerts-history" },
      fp ? h("p", { class: "row" }, t("al.filtered", { fp }), h("a", { href: "#/alerts" }, t("al.showAll"))) : null,
      histBox),
  );

  function showNotice(cls, text) {
    notice.replaceChildren(text ? h("div", { class: "notice " + cls }, text) : "");
  }

  async function ack(a, durMs, comment) {
    try {
      await api("/api/v1/alerts/" + encodeURIComponent(a.fingerprint) + "/ack", { method: "POST", body: { ttl: Math.round(durMs / 1000) + "s", comment } });
      showNotice("", t("al.acked", { rule: a.rule, until: fmtTime(new Date(Date.now() + durMs), true) }));
      load();
    } catch (e) {
      showNotice("error", t("al.ackFailed") + " (" + errText(e) + ")");
    }
  }

  async function unack(a) {
    try {
      await api("/api/v1/alerts/" + encodeURIComponent(a.fingerprint) + "/ack", { method: "DELETE" });
      showNotice("", t("al.unacked", { rule: a.rule }));
      load();
    } catch (e) {
      showNotice("error", errText(e));
    }
  }

  async function expire(id) {
    try {
      await api("/api/v1/silences/" + encodeURIComponent(id), { method: "DELETE" });
      showNotice("", t("al.expired", { id }));
      load();
    } catch (e) {
      showNotice("error", errText(e));
    }
  }

  async function silence(a, durMs, comment) {
    try {
      await api("/api/v1/silences", { method: "POST", body: silenceBody(a, Date.now() + durMs, comment) });
      showNotice("", t("al.silenced", { rule: a.rule, until: fmtTime(new Date(Date.now() + durMs), true) }));
      load();
    } catch (e) {
      // Silences may be missing from this server (older build): say so plainly
      // rather than looking as if the click did nothing. Without the route,
      // a POST to it answers 405 (only GET falls through to the dashboard).
      const unavailable = e.status === 404 || e.status === 405 || e.status === 501;
      showNotice("error", (unavailable ? t("al.silenceUnavailable") : t("al.silenceFailed")) + " (" + errText(e) + ")");
    }
  }

  function silenceForm(a, cell) {
    const dur = h("select", { "aria-label": t("al.duration") }, [["1h", 3600e3], ["4h", 4 * 3600e3], ["24h", 86400e3], ["7d", 7 * 86400e3]]
      .map(([k, ms]) => h("option", { value: String(ms) }, t("dur." + k))));
    const comment = h("input", { type: "text", placeholder: t("al.comment"), "aria-label": t("al.comment") });
    const form = h("form", { class: "inline", onsubmit: (ev) => { ev.preventDefault(); silence(a, Number(dur.value), comment.value || t("al.silenceDefault")); form.remove(); } },
      dur, comment, h("button", { type: "submit" }, t("al.silence")), h("button", { type: "button", class: "ghost", onclick: () => form.remove() }, t("cancel")));
    cell.append(form);
    comment.focus();
  }

  async function loadActive() {
    try {
      const { data } = await api("/api/v1/alerts");
      data.sort((x, y) => sevRank(x) - sevRank(y) || x.rule.localeCompare(y.rule));
      if (!data.length) { activeBox.replaceChildren(h("p", { class: "muted" }, t("al.noneActive"))); return; }
      activeBox.replaceChildren(table(
        [t("al.severity"), t("al.state"), t("al.rule"), t("al.labels"), h("th", { class: "num" }, t("al.value")), t("al.since"), t("al.summary"), t("al.actions")],
        data.map((a) => {
          const actions = h("td");
          actions.append(h("div", { class: "row" },
            h("button", { type: "button", class: "ghost silence", onclick: () => { if (!actions.querySelector("form")) silenceForm(a, actions); } }, t("al.silence")),
            a.ack
              ? h("button", { type: "button", class: "ghost unack", onclick: () => unack(a) }, t("al.unack"))
              : a.state === "firing" ? h("button", { type: "button", class: "ghost ack", onclick: () => ack(a, 86400e3, t("al.ackComment")) }, t("al.ack")) : null));
          const sev = severityOf(a);
          // What holds its notifications back now: silences, inhibition, ack.
          const muted = [
            ...(a.silenced_by || []).map((id) => h("span", { class: "badge muted silenced", title: id }, t("al.silencedBy", { id }))),
            a.inhibited_by ? h("span", { class: "badge muted inhibited" }, t("al.inhibitedBy", { by: a.inhibited_by })) : null,
            a.ack ? h("span", { class: "badge muted acked", title: a.ack.comment || "" }, t("al.ackedBy", { by: a.ack.by })) : null,
          ];
          return h("tr", { class: (a.fingerprint === fp ? "hl alert" : "alert") + (muted.some(Boolean) ? " is-muted" : ""), dataset: { fingerprint: a.fingerprint, rule: a.rule } },
            h("td", null, h("span", { class: "badge sev-" + sev }, t("sev." + sev, {}, sev))),
            h("td", null, h("span", { class: "badge " + a.state }, t("state." + a.state, {}, a.state)), ...muted),
            h("td", null, a.rule),
            h("td", null, labelChips(a.labels, ["alertname"])),
            h("td", { class: "num" }, fmtNum(a.value)),
            h("td", { title: a.since }, fmtAgo(a.since)),
            h("td", null, a.summary || ""),
            actions);
        })));
    } catch (e) {
      activeBox.replaceChildren(h("p", { class: "error" }, errText(e)));
    }
  }

  async function loadHistory() {
    try {
      const { data } = await api("/api/v1/alerts/history?limit=" + HISTORY_LIMIT + (fp ? "&fingerprint=" + encodeURIComponent(fp) : ""));
      const rows = data;
      if (!rows.length) { histBox.replaceChildren(h("p", { class: "muted" }, t("al.noHistory"))); return; }
      histBox.replaceChildren(table(
        [t("al.time"), t("al.rule"), t("al.labels"), t("al.state"), h("th", { class: "num" }, t("al.value")), t("al.decision"), t("al.summary")],
        rows.map((x) => h("tr", { class: "transition", dataset: { fingerprint: x.fingerprint, state: x.state } },
          h("td", { title: x.ts }, fmtTime(x.ts, true)),
          h("td", null, h("a", { href: "#/alerts?fingerprint=" + encodeURIComponent(x.fingerprint) }, x.rule)),
          h("td", null, labelChips(x.labels, ["alertname"])),
          h("td", null, h("span", { class: "badge " + x.state }, t("state." + x.state, {}, x.state))),
          h("td", { class: "num" }, fmtNum(x.value)),
          h("td", { class: "decision " + decisionClass(x.decision) }, x.decision || "–"),
          h("td", null, x.summary || "")))));
    } catch (e) {
      histBox.replaceChildren(h("p", { class: "error" }, errText(e)));
    }
  }

  async function loadSilences() {
    try {
      const { data } = await api("/api/v1/silences");
      const rows = data.filter((s) => s.state !== "expired").concat(data.filter((s) => s.state === "expired"));
      if (!rows.length) { silBox.replaceChildren(h("p", { class: "muted" }, t("al.noSilences"))); return; }
      silBox.replaceChildren(table(
        [t("al.state"), t("al.matchers"), t("al.until"), t("al.createdBy"), t("al.comment"), t("al.actions")],
        rows.map((s) => h("tr", { class: "silence-row", dataset: { id: s.id, state: s.state } },
          h("td", null, h("span", { class: "badge " + (s.state === "active" ? "muted" : "") }, s.state)),
          h("td", null, (s.matchers || []).map((m) => h("code", { class: "chip" }, m.name + (m.op || "=") + JSON.stringify(m.value)))),
          h("td", { title: s.ends_at }, fmtTime(s.ends_at, true)),
          h("td", null, s.created_by || ""),
          h("td", null, s.comment || ""),
          h("td", null, s.state === "expired" ? "" : h("button", { type: "button", class: "ghost expire", onclick: () => expire(s.id) }, t("al.expire")))))));
    } catch (e) {
      silBox.replaceChildren(h("p", { class: "error" }, errText(e)));
    }
  }

  function load() { loadActive(); loadSilences(); loadHistory(); }
  offs.push(on("alert", debounce(load, 200)));
  offs.push(on("reconnected", load));
  // Pending → firing can happen without a feed event reaching this tab
  // (e.g. it connected late); a slow refresh keeps "since" and values honest.
  const timer = setInterval(load, 15000);
  load();
  return () => { offs.forEach((f) => f()); clearInterval(timer); };
}
