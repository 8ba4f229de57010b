// The side panel of a conversation: who the contact is, the team's private notes and an AI
// summary on demand.
import { ago, api, avatar, can, fill, fmtFull, fmtPhone, h, me, toast } from "./api.js";

/** Names of teammates by id (only admins may list users; others see "a teammate"). */
export const people = new Map();

export async function loadPeople() {
  if (!can("user.manage")) return;
  try {
    for (const u of await api("/api/users")) people.set(u.id, u.name);
  } catch {
    // names are a nicety; ids still work
  }
}

export function personName(id) {
  if (!id) return "Nobody";
  if (id === me.id) return "You";
  return people.get(id) || "A teammate";
}

function fact(term, value) {
  return value ? [h("dt", term), h("dd", value)] : [];
}

export async function renderContact(body, conv) {
  const c = conv.contact;
  const details = h("dl.facts#contact-facts",
    fact("Phone", c.wa_id ? fmtPhone(c.wa_id) : null),
    fact("Username", c.username ? `@${c.username}` : null),
    fact("BSUID", c.bsuid ? h("span.mono", c.bsuid) : null),
    fact("Status", conv.status),
    fact("Assigned", personName(conv.assignee_id)),
    fact("Latest", fmtFull(conv.last_message_at)),
  );
  const search = c.wa_id || c.bsuid || c.display_name;
  body.replaceChildren(
    h("div.contact-card", avatar(c.display_name, "lg"), h("div.name", c.display_name),
      c.name && c.name !== c.display_name ? h("div.muted", c.name) : null),
    details,
    h("p.small", { }, h("a", { href: `/contacts?q=${encodeURIComponent(search)}` }, "Open in Contacts →")),
  );
  // Tags and consent live on the full contact record.
  try {
    const found = await api(`/api/contacts?q=${encodeURIComponent(search)}&limit=10`);
    const full = found.find((x) => x.id === c.id);
    if (!full || !details.isConnected) return; // another view replaced this one meanwhile
    details.append(...fact("Opted in", full.opted_in ? "Yes" : "No"));
    if (full.tags.length) details.append(...fact("Tags", h("span", full.tags.map((t) => h("span.tag", t)))));
    for (const [k, v] of Object.entries(full.attributes || {})) details.append(...fact(k, v));
  } catch {
    // the panel still shows what the conversation knows
  }
}

/** `body.dataset.view` names what the panel shows now; a late answer for another view is dropped. */
const showing = (body, view, conv) => body.dataset.view === view && body.dataset.conv === conv.id;

export async function renderNotes(body, conv, countEl) {
  let notes = [];
  try {
    notes = await api(`/api/conversations/${conv.id}/notes`);
  } catch (err) {
    if (showing(body, "notes", conv)) body.replaceChildren(h("div.error-text", err.message));
    return;
  }
  if (!showing(body, "notes", conv)) return;
  countEl.textContent = notes.length ? `(${notes.length})` : "";
  const list = notes.length
    ? notes.map((n) => h("div.note", h("div.body", n.body),
      h("div.meta", `${personName(n.author_id)} · `, h("time", { title: fmtFull(n.created_at) }, ago(n.created_at)))))
    : [h("div.empty.small", h("strong", "No notes yet"), "Notes are private to your team; the customer never sees them.")];
  const form = can("note.write") ? noteForm(conv, () => renderNotes(body, conv, countEl)) : null;
  fill(body, h("div#notes-list", ...list), form);
}

function noteForm(conv, after) {
  const input = h("textarea#note-input", { rows: 3, placeholder: "Add a private note for your team", "aria-label": "Note" });
  const add = h("button.primary.small#note-add", { type: "submit" }, "Add note");
  const form = h("form.stack", input, h("div.row", h("span.hint.grow", "Ctrl+Enter to add"), add));
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) form.requestSubmit();
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    add.disabled = true;
    try {
      await api(`/api/conversations/${conv.id}/notes`, { method: "POST", body: { body: text } });
      after();
    } catch (err) {
      toast(err.message, "error");
      add.disabled = false;
    }
  });
  return form;
}

// ------------------------------------------------------------------ summary

// Per conversation: the last summary ({text, provider, model, at}), a request under way
// (a Promise), or why there is none ({refused}); kept while the page lives.
const summaries = new Map();

async function loadSummary(body, conv) {
  const previous = summaries.get(conv.id);
  const asked = api(`/api/conversations/${conv.id}/summary`);
  summaries.set(conv.id, asked);
  renderSummary(body, conv);
  try {
    summaries.set(conv.id, { ...(await asked), at: new Date().toISOString() });
  } catch (err) {
    // AI off, budget spent, no provider (409): the server says which; stays in the panel.
    if (err.status === 409) summaries.set(conv.id, { refused: err.message });
    else {
      summaries.set(conv.id, previous);
      toast(err.message, "error");
    }
  }
  if (!showing(body, "summary", conv)) return;
  renderSummary(body, conv);
  if (document.activeElement === document.body) body.querySelector("#summary-load").focus();
}

export function renderSummary(body, conv) {
  const saved = summaries.get(conv.id);
  const busy = saved instanceof Promise;
  const done = saved && !busy && !saved.refused;
  const button = h(`button.small${done ? "" : ".primary"}#summary-load`, { type: "button", disabled: busy, "aria-busy": busy ? "true" : null },
    busy ? "Summarizing…" : done ? "Summarize again" : "Summarize conversation");
  button.addEventListener("click", () => loadSummary(body, conv));
  let out = h("p.small.muted", "An AI summary of this conversation: what the customer wants and where it stands.");
  if (busy) out = h("div.summary.loading#summary-loading", h("div.skeleton"), h("div.skeleton"), h("div.skeleton.short"));
  else if (saved?.refused) out = h("div.notice.warn#summary-refused", saved.refused);
  else if (done) {
    out = h("div.summary#summary",
      h("div.summary-text#summary-text", saved.text),
      h("div.summary-meta.small.faint#summary-provider", "By ", h("strong", saved.provider),
        saved.model ? ` · ${saved.model}` : "", " · ", h("time", { title: fmtFull(saved.at) }, ago(saved.at))));
  }
  fill(body, h("div.stack#summary-panel", out, h("div.row", button)));
}
