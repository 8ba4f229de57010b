// Settings: your password, users and roles, API keys (token shown once), the audit log.
import { ago, api, can, fmtFull, h, initShell, toast } from "./api.js";

initShell();

const $ = (id) => document.getElementById(id);
const ROLE_PILL = { admin: "red", manager: "amber", agent: "blue", viewer: "gray" };

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

// ------------------------------------------------------------------ users

const names = new Map(); // "user:<id>" -> name, for the audit log

async function loadUsers() {
  const users = await api("/api/users");
  for (const u of users) names.set(`user:${u.id}`, u.name);
  $("users-body").replaceChildren(...users.map((u) => h("tr", { dataset: { email: u.email } },
    h("td", h("strong", u.name)), h("td", u.email),
    h("td", h(`span.pill.${ROLE_PILL[u.role] || "gray"}`, u.role)),
    h("td", u.active ? "Active" : h("span.faint", "Deactivated")))));
}

$("user-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const error = $("user-error");
  error.hidden = true;
  const body = {
    name: $("u-name").value.trim(), email: $("u-email").value.trim(),
    role: $("u-role").value, password: $("u-password").value,
  };
  if (!body.name || !body.email || !body.password) {
    error.textContent = "Name, email and a temporary password are needed.";
    error.hidden = false;
    return;
  }
  try {
    await api("/api/users", { method: "POST", body });
  } catch (err) {
    error.textContent = err.message;
    error.hidden = false;
    return;
  }
  e.target.reset();
  toast(`${body.name} can now sign in as ${body.role}`);
  loadUsers();
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

const loads = [];
const users = can("user.manage") ? loadUsers() : Promise.resolve();
loads.push(users);
if (can("apikey.manage")) loads.push(loadKeys());
if (can("audit.read")) loads.push(users.catch(() => null).then(loadAudit));
for (const result of await Promise.allSettled(loads)) {
  if (result.status === "rejected") toast(result.reason.message, "error");
}
