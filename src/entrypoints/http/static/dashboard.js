// The team lead's dashboard: conversations waiting now, and the period's messages,
// response times, agents, intents, failures and templates. One call to /api/dashboard
// per refresh; the per-day chart is plain SVG (built with createElementNS: nothing the CSP refuses).
import { api, h, initShell } from "./api.js";

initShell();

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 60_000;
const PERIODS = { 1: "today", 7: "in the last 7 days", 30: "in the last 30 days" };
const STATUSES = [
  ["read", "Read"], ["delivered", "Delivered"], ["sent", "Sent"],
  ["accepted", "Waiting for WhatsApp"], ["failed", "Failed"],
];
const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
const count = new Intl.NumberFormat();
const percent = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 1 });
const dayLabel = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", timeZone: "UTC" });
const weekday = new Intl.DateTimeFormat(undefined, { weekday: "short", timeZone: "UTC" });
let days = Number(new URLSearchParams(location.search).get("days")) || 7;
let timer = null;

const n = (value) => count.format(value);
const asDate = (iso) => new Date(`${iso}T00:00:00Z`);
const emptyRow = (cols, text) => h("tr.dash-empty-row", h("td.faint", { colspan: cols }, text));

function setKpi(name, text, value) {
  const tile = document.querySelector(`.dash-tile[data-kpi="${name}"]`);
  tile.querySelector(".dash-n").textContent = text;
  tile.dataset.value = String(value ?? "");
  tile.classList.toggle("hot", Boolean(tile.dataset.alert) && value > 0);
}

function renderNow(c) {
  for (const key of ["open", "pending", "resolved", "unassigned_open", "unread_open", "closing_open"]) {
    setKpi(key, n(c[key]), c[key]);
  }
}

function renderMessages(m) {
  setKpi("inbound", n(m.inbound), m.inbound);
  setKpi("outbound", n(m.outbound), m.outbound);
  setKpi("delivery_rate", m.delivery_rate == null ? "—" : percent.format(m.delivery_rate), m.delivery_rate);
  setKpi("read_rate", m.read_rate == null ? "—" : percent.format(m.read_rate), m.read_rate);
  const total = STATUSES.reduce((sum, [key]) => sum + m.by_status[key], 0);
  const bar = $("dash-status-bar");
  bar.replaceChildren(...STATUSES.filter(([key]) => m.by_status[key] > 0).map(([key, label]) => {
    const part = h(`span.dash-seg.${key}`, { title: `${label}: ${n(m.by_status[key])}` });
    part.style.flexGrow = String(m.by_status[key]); // CSSOM, not a style attribute: CSP-safe
    return part;
  }));
  bar.classList.toggle("none", total === 0);
  $("dash-statuses").replaceChildren(...STATUSES.map(([key, label]) =>
    h("li", { dataset: { status: key } }, h(`i.dash-sw.${key}`), `${label} `, h("strong", n(m.by_status[key])))));
  if (total === 0) $("dash-statuses").append(h("li.faint", "Nothing sent in this period yet."));
}

// Seconds as a person says them: "45 s", "4 min", "1 h 20 min", "2 d 3 h"; "—" for none.
function duration(seconds) {
  if (seconds == null) return "—";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  if (m < 24 * 60) return m % 60 ? `${Math.floor(m / 60)} h ${m % 60} min` : `${m / 60} h`;
  const hours = Math.round(m / 60);
  return hours % 24 ? `${Math.floor(hours / 24)} d ${hours % 24} h` : `${hours / 24} d`;
}

function renderResponses(r) {
  setKpi("median_response", duration(r.median_seconds), r.median_seconds);
  setKpi("p90_response", duration(r.p90_seconds), r.p90_seconds);
  setKpi("median_first_response", duration(r.first_median_seconds), r.first_median_seconds);
  setKpi("answered", n(r.answered), r.answered);
  setKpi("unanswered", n(r.unanswered), r.unanswered);
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c);
  return el;
}

function renderDays(list) {
  const box = $("dash-days");
  const peak = Math.max(0, ...list.map((d) => Math.max(d.inbound, d.outbound)));
  if (peak === 0) {
    box.replaceChildren(h("div.empty.dash-none",
      h("strong", "No messages in this period yet"),
      "When customers write and the team answers, each day's traffic shows here."));
    return;
  }
  const W = Math.max(320, Math.round(box.clientWidth) || 900), H = 180, top = 12, bottom = 26, left = 36; // 1:1 px
  const slot = (W - left) / list.length;
  const bar = Math.max(2, Math.min(26, slot / 2 - 3));
  const y = (v) => top + (H - top - bottom) * (1 - v / peak);
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "dash-svg", role: "img",
    "aria-label": `Messages per day, ${PERIODS[days] || `last ${days} days`}` });
  for (const v of [0, peak / 2, peak]) {
    const rounded = Math.round(v);
    chart.append(svg("line", { x1: left, x2: W, y1: y(rounded), y2: y(rounded), class: "dash-axis" }),
      svg("text", { x: left - 6, y: y(rounded) + 4, "text-anchor": "end", class: "dash-tick" }, String(rounded)));
  }
  const every = Math.ceil(list.length / 12); // at most a dozen date labels
  list.forEach((d, i) => {
    const x = left + i * slot + slot / 2;
    const when = asDate(d.date);
    const group = svg("g", { class: "dash-day", "data-day": d.date, "data-inbound": d.inbound, "data-outbound": d.outbound },
      svg("title", {}, `${dayLabel.format(when)}: ${d.inbound} received, ${d.outbound} sent`),
      svg("rect", { x: x - bar - 1, y: y(d.inbound), width: bar, height: H - bottom - y(d.inbound), class: "in" }),
      svg("rect", { x: x + 1, y: y(d.outbound), width: bar, height: H - bottom - y(d.outbound), class: "out" }));
    if (i % every === 0 || i === list.length - 1) {
      const label = list.length <= 7 ? `${weekday.format(when)} ${dayLabel.format(when)}` : dayLabel.format(when);
      group.append(svg("text", { x, y: H - 8, "text-anchor": "middle", class: "dash-tick" }, label));
    }
    chart.append(group);
  });
  box.replaceChildren(chart);
}

function renderAgents(agents) {
  $("dash-agents").tBodies[0].replaceChildren(...(agents.length
    ? agents.map((a) => h("tr", { dataset: { agent: a.user_id } },
      h("td", a.name, a.role ? h("span.pill.gray.dash-role", a.role) : h("span.faint.small", " (left the team)")),
      h("td.num", { dataset: { col: "open" } }, n(a.open_assigned)),
      h("td.num", { dataset: { col: "replies" } }, n(a.replies))))
    : [emptyRow(3, "Nobody on the team answers yet: invite agents in Settings.")]));
}

function renderIntents(intents) {
  const box = $("dash-intents");
  if (!intents.length) {
    box.replaceChildren(h("p.faint.dash-none", "No customer message has an AI intent in this period yet. Intents appear as the AI labels incoming messages."));
    return;
  }
  const top = intents[0].count;
  box.replaceChildren(h("ul.dash-bars", intents.map((i) => {
    const fill = h("span.dash-fill");
    fill.style.width = `${Math.max(2, (100 * i.count) / top)}%`;
    return h("li", { dataset: { intent: i.intent } },
      h("span.dash-bar-label", i.intent.replaceAll("_", " ")), h("span.dash-track", fill), h("strong", n(i.count)));
  })));
}

function renderFailures(failures) {
  $("dash-failures").tBodies[0].replaceChildren(...(failures.length
    ? failures.map((f) => h("tr", { dataset: { code: f.code ?? "none" } },
      h("td", f.code == null ? h("span.faint", "none") : h("code", String(f.code))),
      h("td", f.text || h("span.faint", "No reason given")),
      h("td.num", n(f.count))))
    : [emptyRow(3, "No message failed in this period.")]));
}

function renderTemplates(templates) {
  $("dash-templates").tBodies[0].replaceChildren(...(templates.length
    ? templates.map((t) => h("tr", { dataset: { template: t.name } },
      h("td", h("code", t.name), t.language ? h("span.faint.small", ` ${t.language}`) : null),
      h("td.num", n(t.sent)), h("td.num", n(t.delivered)), h("td.num", n(t.read)),
      h("td.num", t.failed ? h("span.error-text", n(t.failed)) : "0")))
    : [emptyRow(5, "No template was sent in this period.")]));
}

function selectPeriod() {
  for (const b of document.querySelectorAll("#dash-period button")) {
    const on = Number(b.dataset.days) === days;
    b.classList.toggle("on", on);
    b.setAttribute("aria-pressed", String(on));
  }
  for (const el of document.querySelectorAll("[data-period-label]")) {
    el.textContent = PERIODS[days] || `in the last ${days} days`;
  }
}

async function refresh() {
  clearTimeout(timer);
  selectPeriod();
  const error = $("dash-error");
  try {
    const data = await api(`/api/dashboard?days=${days}&tz=${encodeURIComponent(zone)}`);
    error.hidden = true;
    renderNow(data.conversations);
    renderMessages(data.messages);
    renderResponses(data.responses);
    renderDays(data.days);
    renderAgents(data.agents);
    renderIntents(data.intents);
    renderFailures(data.failures);
    renderTemplates(data.templates);
    $("dash-updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    error.textContent = err.message;
    error.hidden = false;
  }
  timer = setTimeout(refresh, REFRESH_MS);
}

if ($("dash-now")) {
  if (!PERIODS[days]) days = Math.min(90, Math.max(1, Math.round(days)));
  for (const b of document.querySelectorAll("#dash-period button")) {
    b.addEventListener("click", () => {
      days = Number(b.dataset.days);
      history.replaceState(null, "", `?days=${days}`);
      refresh();
    });
  }
  $("dash-refresh").addEventListener("click", refresh);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") refresh();
  });
  refresh();
}
