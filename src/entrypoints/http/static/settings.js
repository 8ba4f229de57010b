// Settings: your password, the WhatsApp number, users and roles with invitations, API
// keys (token shown once), webhooks for n8n, AI and its knowledge base, the audit log.
import { ago, api, can, fmtFull, h, initShell, toast } from "./api.js";
import { initInvitations, loadInvitations } from "./settings_invitations.js";
import { initTeam, loadUsers, names } from "./settings_team.js";
import { initKnowledge } from "./settings_knowledge.js";
import { initWebhooks, loadWebhookSection } from "./settings_webhooks.js";

initShell();

const $ = (id) => document.getElementById(id);

$("team-hint").hidden = can("user.manage") || can("apikey.manage") || can("audit.read");

// highlight the section in view in the sub navigation
const links = [...document.querySelectorAll(".subnav a")].filter((a) => !a.hidden);
function markSection() {
  const id = location.hash.slice(1) || "profile";
  for (const a of links) a.classList.toggle("on", a.dataset.section === id);
}
window.addEventListener("hashchange", markSection);
markSection();

// ------------------------------------------------------------------ password

$("password-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const current = $("pw-current").value;
  const next = $("pw-new").value;
  if (!current || !next) {
    toast("Enter your current and your new password.", "error");
    return;
  }
  try {
    await api("/api/auth/password", { method: "POST", body: { current_password: current, new_password: next } });
  } catch (err) {
    toast(err.message, "error");
    return;
  }
  e.target.reset();
  toast("Password changed");
});

// ------------------------------------------------------------------ WhatsApp number

const CREDENTIALS = [["access_token", "wa-token", "access token"], ["app_secret", "wa-secret", "app secret"],
  ["verify_token", "wa-verify", "verify token"]];

function drawTenant(t) {
  $("wa-name").value = t.name;
  $("wa-waba").value = t.waba_id || "";
  $("wa-pnid").value = t.phone_number_id || "";
  $("wa-display").value = t.display_phone_number || "";
  $("wa-rate").value = t.throughput_per_second;
  $("wa-callback").textContent = `${location.origin}/api/webhooks/whatsapp`;
  const removable = [];
  for (const [field, input, label] of CREDENTIALS) {
    const state = t[field];
    $(`${input}-state`).textContent = state.configured
      ? (state.needs_rotation ? "set (sealed with an old key)" : "set") : "not set";
    $(input).value = "";
    $(input).placeholder = state.configured ? "•••••••• (unchanged)" : "";
    if (state.configured) {
      removable.push(h("label.check", h("input", { type: "checkbox", name: "wa-remove", value: field }), `Remove the ${label}`));
    }
  }
  $("wa-remove").replaceChildren(...removable);
}

async function loadTenant() {
  drawTenant(await api("/api/tenant"));
}

$("wa-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const error = $("wa-error");
  error.hidden = true;
  const body = {
    name: $("wa-name").value.trim(),
    display_phone_number: $("wa-display").value.trim(),
    throughput_per_second: Number($("wa-rate").value),
  };
  for (const [field, input] of [["waba_id", "wa-waba"], ["phone_number_id", "wa-pnid"]]) {
    const value = $(input).value.trim();
    if (value) body[field] = value;
  }
  for (const [field, input] of CREDENTIALS) {
    const value = $(input).value.trim();
    if (value) body[field] = value;
  }
  for (const box of document.querySelectorAll('input[name="wa-remove"]:checked')) body[box.value] = "";
  try {
    drawTenant(await api("/api/tenant", { method: "PATCH", body }));
  } catch (err) {
    const field = err.problem?.field;
    error.textContent = field ? `${field}: ${err.message}` : err.message;
    error.hidden = false;
    return;
  }
  toast("WhatsApp settings saved");
  if (can("audit.read")) loadAudit();
});

// Test connection: Meta's answer about the number with the saved credentials.
const QUALITY_PILL = { GREEN: "green", YELLOW: "amber", RED: "red" };
const TIER = { TIER_UNLIMITED: "unlimited" };

function fact(label, value) {
  return value ? h("span", `${label}: `, h("strong", value)) : null;
}

function drawConnection(check) {
  const box = $("wa-test-result");
  box.className = `notice ${check.ok ? "ok" : "error"}`;
  box.dataset.ok = String(check.ok);
  if (!check.ok) {
    const code = check.error_code ? ` (Meta error ${check.error_code})` : "";
    box.replaceChildren(h("strong", `Meta did not accept the connection${code}.`), " ", check.reason || "");
  } else {
    const i = check.info;
    const quality = i.quality_rating || "UNKNOWN";
    const tier = i.messaging_limit_tier && (TIER[i.messaging_limit_tier] || i.messaging_limit_tier.replace("TIER_", ""));
    const facts = [
      fact("Verified name", i.verified_name), fact("Number", i.display_phone_number),
      fact("Name status", i.name_status), fact("Messaging limit", tier && `${tier} customers / 24 h`),
      fact("Throughput", i.throughput_level),
    ].filter(Boolean);
    box.replaceChildren(
      h("div.row", h("strong", `Connected: ${i.verified_name || i.display_phone_number || i.phone_number_id}`),
        h(`span.pill.${QUALITY_PILL[quality] || "gray"}#wa-quality`, `Quality ${quality.toLowerCase()}`)),
      h("div.row.wrap", ...facts),
    );
  }
  box.append(h("div.hint", `Checked ${fmtFull(check.checked_at)}`));
  box.hidden = false;
}

$("wa-test").addEventListener("click", async (e) => {
  const button = e.currentTarget;
  button.disabled = true;
  button.textContent = "Testing…";
  try {
    drawConnection(await api("/api/tenant/test-connection", { method: "POST" }));
  } catch (err) {
    const box = $("wa-test-result");
    box.className = "notice error";
    box.dataset.ok = "false";
    box.replaceChildren(h("strong", "Could not test the connection."), " ", err.message);
    box.hidden = false;
  } finally {
    button.disabled = false;
    button.textContent = "Test connection";
  }
  if (can("audit.read")) loadAudit();
});

// ------------------------------------------------------------------ API keys

async function loadKeys() {
  const keys = await api("/api/api-keys");
  $("keys-body").replaceChildren(...(keys.length ? keys.map((k) => h("tr", { dataset: { key: k.name } },
    h("td", h("strong", k.name)), h("td.mono", `${k.prefix}…`),
    h("td", { title: fmtFull(k.created_at) }, ago(k.created_at)),
    h("td", k.revoked_at ? h("span.pill.gray", "revoked") : h("span.pill.green", "active")),
    h("td.num", k.revoked_at ? null : h("button.small.danger", { type: "button", onclick: () => revoke(k) }, "Revoke"))))
    : [h("tr", h("td.faint", { colspan: 5 }, "No API keys yet."))]));
}

async function revoke(k) {
  if (!confirm(`Revoke “${k.name}”? Automations using it stop working at once.`)) return;
  try {
    await api(`/api/api-keys/${k.id}`, { method: "DELETE" });
    toast(`“${k.name}” revoked`);
  } catch (err) {
    toast(err.message, "error");
  }
  loadKeys();
}

$("key-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const name = $("k-name").value.trim();
  if (!name) {
    toast("Give the key a name, e.g. where it is used.", "error");
    return;
  }
  let key;
  try {
    key = await api("/api/api-keys", { method: "POST", body: { name } });
  } catch (err) {
    toast(err.message, "error");
    return;
  }
  e.target.reset();
  const box = $("token-once");
  const code = h("code#new-token", key.token);
  const copy = h("button.small", { type: "button" }, "Copy");
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(key.token);
      copy.textContent = "Copied";
    } catch {
      getSelection().selectAllChildren(code);
    }
  });
  box.replaceChildren(
    h("strong", `Key “${key.name}” created. Copy it now: it is shown only this once.`),
    code,
    h("div.row", copy, h("button.small.ghost", { type: "button", onclick: () => { box.hidden = true; } }, "I have stored it")),
  );
  box.hidden = false;
  loadKeys();
  if (can("audit.read")) loadAudit();
});

// ------------------------------------------------------------------ AI

const PROVIDER_NAME = { anthropic: "Claude (Anthropic)", openai: "OpenAI", offline: "Offline (built-in rules, free)" };
const list = (text) => text.split(",").map((s) => s.trim()).filter(Boolean);
let ai = null; // the settings as loaded
let order = []; // [{ name, on }] in the order shown

function drawProviders() {
  $("ai-providers").replaceChildren(...order.map((p, i) => h("div.row", { dataset: { provider: p.name } },
    h("label.check.grow", h("input", { type: "checkbox", checked: p.on, onchange: (e) => { p.on = e.target.checked; } }),
      PROVIDER_NAME[p.name] || p.name,
      ai.configured_providers.includes(p.name) ? null : h("span.faint", " · no key on this server")),
    h("button.small.ghost", { type: "button", disabled: i === 0, title: "Try earlier",
      onclick: () => { order.splice(i - 1, 0, order.splice(i, 1)[0]); drawProviders(); } }, "↑"))));
}

function drawAi(s) {
  ai = s;
  $("ai-enabled").checked = s.enabled;
  $("ai-suggest").checked = s.auto_suggest;
  order = [...s.provider_order.map((name) => ({ name, on: true })),
    ...s.providers.filter((n) => !s.provider_order.includes(n)).map((name) => ({ name, on: false }))];
  drawProviders();
  $("ai-model-anthropic").value = s.models.anthropic || "";
  $("ai-model-openai").value = s.models.openai || "";
  $("ai-budget").value = s.monthly_token_budget ?? "";
  $("ai-intents").value = s.intents.join(", ");
  const r = s.auto_reply;
  const span = r.business_hours[0] || { days: [], opens: "09:00", closes: "18:00" };
  $("ar-enabled").checked = r.enabled;
  $("ar-outside").checked = r.outside_business_hours_only;
  $("ar-deny").value = r.deny_intents.join(", ");
  $("ar-cooldown").value = r.cooldown_hours;
  $("ar-timezone").value = r.timezone;
  $("ar-opens").value = span.opens;
  $("ar-closes").value = span.closes;
  const more = r.business_hours.length - 1;
  $("ar-days").replaceChildren(h("span.hint", "Business days:"), ...s.weekdays.map((d) => h("label.check",
    h("input", { type: "checkbox", name: "ar-day", value: d, checked: span.days.includes(d) }), d)),
  ...(more > 0 ? [h("span.hint", `+ ${more} more span(s) set through the API, kept`)] : []));
  const budget = s.monthly_token_budget === null ? "no monthly budget"
    : `budget ${s.monthly_token_budget.toLocaleString()}`;
  $("ai-usage").textContent = `${s.tokens_used_this_month.toLocaleString()} tokens used this month (${budget}); `
    + `the count resets on ${s.budget_resets_at.slice(0, 10)} (00:00 UTC).`;
}

async function loadAi() {
  drawAi(await api("/api/ai/settings"));
}

$("ai-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const error = $("ai-error");
  error.hidden = true;
  const models = {};
  for (const name of ["anthropic", "openai"]) {
    const value = $(`ai-model-${name}`).value.trim();
    if (value) models[name] = value;
  }
  const days = [...document.querySelectorAll('input[name="ar-day"]:checked')].map((c) => c.value);
  const first = { days, opens: $("ar-opens").value.trim(), closes: $("ar-closes").value.trim() };
  const budget = $("ai-budget").value.trim();
  const body = {
    enabled: $("ai-enabled").checked,
    auto_suggest: $("ai-suggest").checked,
    provider_order: order.filter((p) => p.on).map((p) => p.name),
    models,
    intents: list($("ai-intents").value),
    monthly_token_budget: budget === "" ? null : Number(budget),
    auto_reply: {
      enabled: $("ar-enabled").checked,
      outside_business_hours_only: $("ar-outside").checked,
      deny_intents: list($("ar-deny").value),
      cooldown_hours: Number($("ar-cooldown").value),
      timezone: $("ar-timezone").value.trim(),
      business_hours: days.length ? [first, ...ai.auto_reply.business_hours.slice(1)] : ai.auto_reply.business_hours.slice(1),
    },
  };
  try {
    drawAi(await api("/api/ai/settings", { method: "PUT", body }));
  } catch (err) {
    const field = err.problem?.field;
    error.textContent = field ? `${field}: ${err.message}` : err.message;
    error.hidden = false;
    return;
  }
  toast("AI settings saved");
  if (can("audit.read")) loadAudit();
});

// ------------------------------------------------------------------ audit

function change(entry) {
  if (!entry.before && !entry.after) return h("span.faint", "—");
  const text = JSON.stringify({ before: entry.before ?? undefined, after: entry.after ?? undefined }, null, 2);
  return h("details.diff", h("summary", "Details"), h("pre", text));
}

async function loadAudit() {
  const entries = await api("/api/audit?limit=200");
  $("audit-body").replaceChildren(...(entries.length ? entries.map((e) => h("tr",
    h("td", { title: fmtFull(e.at) }, ago(e.at)),
    h("td", names.has(e.actor) ? h("span", { title: e.actor }, names.get(e.actor)) : h("span.mono.small", e.actor)),
    h("td", h("code", e.action)),
    h("td", h("span", e.entity_type), h("div.small.faint.mono", e.entity_id)),
    h("td", change(e))))
    : [h("tr", h("td.faint", { colspan: 5 }, "Nothing recorded yet."))]));
}

$("audit-refresh").addEventListener("click", () => loadAudit().catch((err) => toast(err.message, "error")));

/** After a change elsewhere on the page: the audit log shows it (when this role reads it). */
function audited() {
  if (can("audit.read")) loadAudit().catch(() => null);
}

const loads = [];
if (can("tenant.manage")) loads.push(loadTenant());
const users = can("user.manage") ? loadUsers() : Promise.resolve();
loads.push(users);
if (can("user.manage")) {
  initTeam(audited);
  initInvitations(audited);
  loads.push(loadInvitations());
}
if (can("apikey.manage")) loads.push(loadKeys());
if (can("webhook.manage")) {
  initWebhooks({ names: (actor) => names.get(actor) || actor, onChange: audited });
  loads.push(users.catch(() => null).then(loadWebhookSection)); // "paused by" names a user
}
if (can("ai.manage")) loads.push(loadAi(), initKnowledge({ onChange: audited }));
if (can("audit.read")) loads.push(users.catch(() => null).then(loadAudit));
for (const result of await Promise.allSettled(loads)) {
  if (result.status === "rejected") toast(result.reason.message, "error");
}
