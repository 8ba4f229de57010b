// AI → Knowledge base: the team's ready answers (title + text) the AI grounds its
// suggested replies on; add, read in full, delete.
import { ago, api, fmtFull, h, toast } from "./api.js";
import { busy, clearError, localError, showError } from "./settings_ui.js";

const $ = (id) => document.getElementById(id);
const PREVIEW = 140;

let changed = () => {};

function drawSnippet(s) {
  const preview = s.body.length > PREVIEW ? `${s.body.slice(0, PREVIEW)}…` : s.body;
  return h("details.kb-item", { dataset: { snippet: s.title, id: s.id } },
    h("summary",
      h("span.kb-title", s.title),
      h("span.kb-preview.faint", preview),
      h("span.hint", { title: fmtFull(s.created_at) }, ago(s.created_at))),
    h("div.kb-body", s.body),
    h("div.row", h("span.grow"),
      h("button.small.danger", { type: "button", onclick: (e) => remove(s, e.currentTarget) }, "Delete")));
}

export async function loadKnowledge() {
  const snippets = await api("/api/knowledge?limit=100");
  $("kb-count").textContent = snippets.length ? `${snippets.length} snippet${snippets.length > 1 ? "s" : ""}` : "";
  $("kb-list").replaceChildren(...(snippets.length
    ? snippets.map(drawSnippet)
    : [h("div.empty.kb-empty", h("strong", "No snippets yet"),
      "Add the answers your team gives again and again: delivery times, returns, opening hours, prices.")]));
}

async function remove(s, button) {
  if (!confirm(`Delete the snippet “${s.title}”? The AI stops using it at once.`)) return;
  try {
    await busy(button, "Deleting…", () => api(`/api/knowledge/${s.id}`, { method: "DELETE" }));
    toast(`“${s.title}” deleted`);
  } catch (err) {
    toast(err.message, "error");
  }
  await loadKnowledge();
  changed();
}

export function initKnowledge({ onChange = changed } = {}) {
  changed = onChange;
  const form = $("kb-form");
  const error = $("kb-error");
  const inputs = { title: $("kb-title"), body: $("kb-body") };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearError(error, inputs);
    const body = { title: inputs.title.value.trim(), body: inputs.body.value.trim() };
    if (!body.title || !body.body) {
      const field = body.title ? "body" : "title";
      showError(error, localError("A snippet needs a title and the answer itself.", field), inputs);
      return;
    }
    let made;
    try {
      made = await busy($("kb-submit"), "Adding…", () => api("/api/knowledge", { method: "POST", body }));
    } catch (err) {
      showError(error, err, inputs);
      return;
    }
    form.reset();
    toast(`“${made.title}” added to the knowledge base`);
    await loadKnowledge();
    changed();
  });
  return loadKnowledge();
}
