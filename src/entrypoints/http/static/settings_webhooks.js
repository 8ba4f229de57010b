// Webhooks / n8n: subscriptions (the signing secret is shown once, on creation), pause or
// resume, delete, and each one's delivery log with manual redelivery. An open log
// refreshes itself while the tab is visible, so a delivery shows up as it happens.
import { ago, api, fmtFull, h, toast } from "./api.js";
import { busy, clearError, localError, emptyRow, showError, showOnce } from "./settings_ui.js";

const $ = (id) => document.getElementById(id);
const LOG_REFRESH_MS = 4000;
const STATE_PILL = { delivered: "green", retrying: "amber", failed: "red" };

let nameOf = (actor) => actor;
let changed = () => {};
let subscriptions = [];
const logs = new Map(); // subscription id -> { box, deliveries } for the logs shown
let timer = null;

// "disabled by user:<id>" is a person; any other reason is the platform giving up.
const autoDisabled = (s) => !s.active && Boolean(s.disabled_reason) && !s.disabled_reason.startsWith("disabled by ");

function statePill(s) {
  if (s.active && s.consecutive_failures) {
    return h("span.pill.amber", { dataset: { state: "failing" } }, `Active · ${s.consecutive_failures} failed in a row`);
  }
  if (s.active) return h("span.pill.green", { dataset: { state: "active" } }, "Active");
  if (autoDisabled(s)) return h("span.pill.red", { dataset: { state: "auto-disabled" } }, "Disabled automatically");
  return h("span.pill.gray", { dataset: { state: "paused" } }, "Paused");
}

function whyOff(s) {
  if (autoDisabled(s)) {
    return h("div.notice.error.wh-disabled",
      h("strong", "Turned off after repeated failures. "),
      s.disabled_reason.charAt(0).toUpperCase() + s.disabled_reason.slice(1),
      ". Fix the receiver, then Activate: the failure count starts over, and missed events can be sent again from the log.");
  }
  if (!s.active) {
    const who = (s.disabled_reason || "").replace(/^disabled by /, "");
    return h("div.hint", `Paused by ${nameOf(who)} ${ago(s.updated_at)}: no events are sent until it is activated again.`);
  }
  return null;
}

function drawSubscription(s) {
  const log = h("div.wh-log", { hidden: !logs.has(s.id) });
  const logButton = h("button.small", { type: "button", "aria-expanded": String(logs.has(s.id)) }, "Delivery log");
  logButton.addEventListener("click", () => toggleLog(s, log, logButton));
  const item = h("div.wh-item", { dataset: { webhook: s.url, id: s.id } },
    h("div.row",
      h("div.grow",
        h("div.mono.wh-url.ellipsis", { title: s.url }, s.url),
        s.description ? h("div.small.muted", s.description) : null),
      s.allow_private ? h("span.pill.gray", { title: "May reach a private network address (self-hosted n8n)" }, "private network") : null,
      statePill(s)),
    h("div.row.wrap", h("span.hint", "Events:"), ...s.events.map((e) => h("span.tag", e)),
      h("span.hint", { title: fmtFull(s.created_at) }, `· created ${ago(s.created_at)}`)),
    whyOff(s),
    h("div.row",
      h("button.small", { type: "button", dataset: { action: "toggle" }, onclick: (e) => setActive(s, e.currentTarget) },
        s.active ? "Deactivate" : "Activate"),
      logButton,
      h("span.grow"),
      h("button.small.danger", { type: "button", onclick: (e) => remove(s, e.currentTarget) }, "Delete")),
    log);
  if (logs.has(s.id)) {
    logs.get(s.id).box = log;
    drawLog(s);
  }
  return item;
}

function drawList() {
  $("wh-list").replaceChildren(...(subscriptions.length
    ? subscriptions.map(drawSubscription)
    : [h("div.empty.wh-empty", h("strong", "No webhook subscriptions yet"),
      "Add one above: paste the Production URL of an n8n Webhook node and pick the events it should receive.")]));
}

export async function loadWebhooks() {
  subscriptions = await api("/api/webhooks");
  for (const id of [...logs.keys()]) if (!subscriptions.some((s) => s.id === id)) logs.delete(id);
  drawList();
  schedule();
}

// Plain words for the catalogue's events; the catalogue's own summary is the tooltip, and
// an event this page does not know yet still shows, with that summary.
const SAYS = {
  "message.received": "a customer wrote",
  "message.status": "a message you sent was delivered, read or failed",
  "conversation.opened": "a conversation opened",
  "conversation.assigned": "a conversation was assigned",
  "conversation.resolved": "a conversation was resolved",
  "contact.created": "a new contact",
  "template.status": "Meta approved, rejected or paused a template",
  "ai.classified": "the AI tagged a message's intent",
};

async function loadCatalogue() {
  const { events } = await api("/api/webhooks/events");
  const fieldset = $("wh-events");
  fieldset.replaceChildren(h("legend", "Events to send"), ...events.map((e) => {
    const summary = e.summary.replaceAll("``", "");
    return h("label.check.wh-event", { title: `${summary} (payload v${e.version})` },
      h("input", { type: "checkbox", name: "wh-event", value: e.type, defaultChecked: e.type === "message.received" }),
      h("span", h("code", e.type), h("span.hint", ` ${SAYS[e.type] || summary}`)));
  }));
}

// ------------------------------------------------------------------ a subscription

async function setActive(s, button) {
  const active = !s.active;
  if (!active && !confirm(`Pause deliveries to ${s.url}? Events that happen while it is paused are not sent later.`)) return;
  try {
    await busy(button, active ? "Activating…" : "Pausing…",
      () => api(`/api/webhooks/${s.id}`, { method: "PATCH", body: { active } }));
    toast(active ? "Subscription active again" : "Subscription paused");
  } catch (err) {
    toast(err.message, "error");
  }
  await loadWebhooks();
  changed();
}

async function remove(s, button) {
  if (!confirm(`Delete the subscription to ${s.url}? It receives no more events and its delivery log is deleted.`)) return;
  try {
    await busy(button, "Deleting…", () => api(`/api/webhooks/${s.id}`, { method: "DELETE" }));
    toast("Subscription deleted");
  } catch (err) {
    toast(err.message, "error");
  }
  await loadWebhooks();
  changed();
}

// ------------------------------------------------------------------ delivery log

function toggleLog(s, box, button) {
  if (logs.has(s.id)) {
    logs.delete(s.id);
    box.hidden = true;
    button.setAttribute("aria-expanded", "false");
  } else {
    logs.set(s.id, { box, deliveries: null });
    box.hidden = false;
    button.setAttribute("aria-expanded", "true");
    drawLog(s);
    refreshLog(s);
  }
  schedule();
}

function outcome(d) {
  if (d.error) return h("span.error-text", { title: d.error }, d.error);
  if (!d.response_excerpt) return h("span.faint", "—");
  const text = d.response_excerpt.length > 80 ? `${d.response_excerpt.slice(0, 80)}…` : d.response_excerpt;
  return h("code.wh-body", { title: d.response_excerpt }, text);
}

function deliveryRow(s, d) {
  const again = h("button.small", {
    type: "button", disabled: !s.active,
    title: s.active ? "Send this event again (same event id)" : "Activate the subscription to redeliver",
  }, "Redeliver");
  again.addEventListener("click", () => redeliver(s, d, again));
  return h("tr", { dataset: { delivery: d.id, state: d.state } },
    h("td", { title: fmtFull(d.at) }, ago(d.at)),
    h("td", h("code", d.event)),
    h("td.num", `#${d.attempt}`, d.manual ? h("span.tag.wh-manual", "manual") : null),
    h("td", h(`span.pill.${STATE_PILL[d.state] || "gray"}`, d.state)),
    h("td.num", d.status_code ?? h("span.faint", "—")),
    h("td.num", d.latency_ms == null ? h("span.faint", "—") : `${Math.round(d.latency_ms)} ms`),
    h("td.wh-response", outcome(d)),
    h("td.num", again));
}

function drawLog(s) {
  const shown = logs.get(s.id);
  if (!shown) return;
  const refresh = h("button.small.ghost", { type: "button", onclick: () => refreshLog(s) }, "Refresh");
  const rows = shown.deliveries === null ? [emptyRow(8, "Loading…")]
    : shown.deliveries.length ? shown.deliveries.map((d) => deliveryRow(s, d))
      : [emptyRow(8, `No deliveries yet. They appear here as events happen (${s.events.join(", ")}).`)];
  shown.box.replaceChildren(
    h("div.row", h("h3.grow", "Deliveries, newest first"),
      h("span.hint", shown.updated ? `updated ${shown.updated.toLocaleTimeString()} · refreshes by itself` : ""), refresh),
    h("div.error-text.wh-log-error", { hidden: !shown.error }, shown.error || ""),
    h("table.grid.wh-deliveries",
      h("thead", h("tr", h("th", "When"), h("th", "Event"), h("th.num", "Attempt"), h("th", "Status"),
        h("th.num", "Code"), h("th.num", "Latency"), h("th", "Response"), h("th"))),
      h("tbody", rows)));
}

async function refreshLog(s) {
  const shown = logs.get(s.id);
  if (!shown) return;
  try {
    shown.deliveries = await api(`/api/webhooks/${s.id}/deliveries?limit=50`);
    shown.updated = new Date();
    shown.error = null;
  } catch (err) {
    shown.error = err.message;
  }
  if (logs.get(s.id) === shown) drawLog(s);
}

async function redeliver(s, d, button) {
  const shown = logs.get(s.id);
  shown.error = null;
  try {
    await busy(button, "Queued…", () => api(`/api/webhook-deliveries/${d.id}/redeliver`, { method: "POST" }));
    toast(`${d.event} queued again; the new attempt shows here in a moment`);
  } catch (err) {
    shown.error = err.message;
  }
  drawLog(s);
  changed();
  setTimeout(() => refreshLog(s), 1000);
}

// Refresh the open logs (and the subscriptions' state) while any log is open.
function schedule() {
  clearTimeout(timer);
  if (!logs.size) return;
  timer = setTimeout(async () => {
    if (document.visibilityState === "visible") {
      const before = JSON.stringify(subscriptions);
      try {
        subscriptions = await api("/api/webhooks");
      } catch {
        // the logs below say what went wrong
      }
      if (JSON.stringify(subscriptions) !== before) {
        drawList(); // e.g. turned off after repeated failures, which the audit log records
        changed();
      }
      await Promise.all(subscriptions.filter((s) => logs.has(s.id)).map(refreshLog));
    }
    schedule();
  }, LOG_REFRESH_MS);
}

// ------------------------------------------------------------------ the form

export function initWebhooks({ names = nameOf, onChange = changed } = {}) {
  nameOf = names;
  changed = onChange;
  const form = $("wh-form");
  const error = $("wh-error");
  const inputs = { url: $("wh-url"), events: $("wh-events"), description: $("wh-desc") };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearError(error, inputs);
    const body = {
      url: inputs.url.value.trim(),
      events: [...form.querySelectorAll('input[name="wh-event"]:checked')].map((c) => c.value),
      allow_private: $("wh-private").checked,
      description: inputs.description.value.trim(),
    };
    const active = $("wh-active").checked;
    const submit = $("wh-submit");
    let made;
    try {
      made = await busy(submit, "Saving…", () => api("/api/webhooks", { method: "POST", body }));
    } catch (err) {
      showError(error, err, inputs);
      return;
    }
    form.reset(); // back to the default choice of events
    showOnce($("wh-secret-once"), {
      id: "wh-secret",
      title: `Subscribed ${made.url}. Copy the signing secret now: it is shown only this once.`,
      note: "Your receiver checks the X-Signature-256 header with it (see above). Lost it? Delete the subscription and add it again.",
      value: made.secret,
    });
    if (!active) {
      try {
        await busy(submit, "Pausing…", () => api(`/api/webhooks/${made.id}`, { method: "PATCH", body: { active: false } }));
      } catch (err) {
        showError(error, localError(`Created, but not paused: ${err.message}`));
      }
    }
    await loadWebhooks();
    changed();
  });
}

/** The event checkboxes and the subscriptions (after `initWebhooks`). */
export function loadWebhookSection() {
  return Promise.all([loadCatalogue(), loadWebhooks()]);
}
