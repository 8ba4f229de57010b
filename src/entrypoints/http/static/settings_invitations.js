// Users & roles → Invitations: invite by e-mail with a role (the one-time link is shown
// once, to copy and send), the pending invitations with their expiry, revoke one.
import { api, h, toast } from "./api.js";
import { busy, clearError, localError, emptyRow, showError, showOnce, until } from "./settings_ui.js";

const $ = (id) => document.getElementById(id);
const ROLE_PILL = { admin: "red", manager: "amber", agent: "blue", viewer: "gray" };

export async function loadInvitations() {
  const pending = await api("/api/invitations");
  $("invites-body").replaceChildren(...(pending.length
    ? pending.map((i) => h("tr", { dataset: { invite: i.email } },
      h("td", h("strong", i.email)),
      h("td", h(`span.pill.${ROLE_PILL[i.role] || "gray"}`, i.role)),
      h("td", until(i.expires_at)),
      h("td.num", h("button.small.danger", { type: "button", onclick: (e) => revoke(i, e.currentTarget) }, "Revoke"))))
    : [emptyRow(4, "No pending invitations. Invite a colleague above; the link works once, for 7 days.")]));
}

async function revoke(invitation, button) {
  if (!confirm(`Revoke the invitation for ${invitation.email}? Its link stops working at once.`)) return;
  try {
    await busy(button, "Revoking…", () => api(`/api/invitations/${invitation.id}`, { method: "DELETE" }));
    toast(`Invitation for ${invitation.email} revoked`);
  } catch (err) {
    toast(err.message, "error");
  }
  await loadInvitations();
}

/** Wire the invite form; `changed` runs after an invitation is made (e.g. the audit log). */
export function initInvitations(changed = () => {}) {
  const form = $("invite-form");
  const error = $("invite-error");
  const inputs = { email: $("inv-email"), role: $("inv-role") };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearError(error, inputs);
    const body = { email: inputs.email.value.trim(), role: inputs.role.value };
    if (!body.email.includes("@")) {
      showError(error, localError("Enter the e-mail address of the person to invite.", "email"), inputs);
      return;
    }
    let made;
    try {
      made = await busy($("inv-submit"), "Creating link…", () => api("/api/invitations", { method: "POST", body }));
    } catch (err) {
      showError(error, err, inputs);
      return;
    }
    form.reset();
    showOnce($("invite-once"), {
      id: "invite-link",
      title: `Invitation for ${made.email} as ${made.role}. Send them this link now: it is shown only this once.`,
      note: "We keep only a fingerprint of it, so nobody can show it again. It works once and expires on "
        + `${new Date(made.expires_at).toLocaleDateString(undefined, { dateStyle: "medium" })}; revoke it below if it went to the wrong person.`,
      value: location.origin + made.accept_url,
    });
    await loadInvitations();
    changed();
  });
}
