// Settings → Users & roles: the team table (change a role, deactivate or reactivate a
// teammate) and the form that adds a user with a temporary password.
import { api, h, me, toast } from "./api.js";

const $ = (id) => document.getElementById(id);
const ROLES = ["admin", "manager", "agent", "viewer"];

/** "user:<id>" -> name, for the audit log and the webhooks' "paused by". */
export const names = new Map();

let changed = () => {};

export async function loadUsers() {
  const users = await api("/api/users");
  for (const u of users) names.set(`user:${u.id}`, u.name);
  $("users-body").replaceChildren(...users.map(row));
}

function row(u) {
  const self = u.id === me.id;
  const role = h("select", {
    "aria-label": `Role of ${u.name}`,
    disabled: !u.active,
    onchange: () => update(u, { role: role.value }, `${u.name} is now ${role.value}`, role, u.role),
  }, ...ROLES.map((r) => h("option", { value: r, selected: r === u.role }, r)));
  const toggle = h("button.small", {
    type: "button",
    onclick: () => {
      const verb = u.active ? "Deactivate" : "Reactivate";
      if (u.active && !confirm(`${verb} ${u.name}? They are signed out and cannot sign in until reactivated.`)) return;
      update(u, { active: !u.active }, `${u.name} ${u.active ? "deactivated" : "reactivated"}`);
    },
  }, u.active ? "Deactivate" : "Reactivate");
  return h("tr", { dataset: { email: u.email } },
    h("td", h("strong", u.name), self ? h("span.faint", " (you)") : null), h("td", u.email),
    h("td", role),
    h("td", u.active ? "Active" : h("span.faint", "Deactivated")),
    h("td", toggle));
}

async function update(user, body, done, select = null, previous = null) {
  try {
    await api(`/api/users/${user.id}`, { method: "PATCH", body });
  } catch (err) {
    if (select) select.value = previous; // e.g. the last admin cannot step down
    toast(err.message, "error");
    return;
  }
  toast(done);
  changed();
  await loadUsers();
}

export function initTeam(onChange) {
  changed = onChange;
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
    changed();
    loadUsers();
  });
}
