// Contacts: search with paging, create and edit, CSV import with its per-row report.
import { api, avatar, can, debounce, fill, fmtPhone, h, initShell, toast } from "./api.js";

initShell();

const PAGE = 25;
const $ = (id) => document.getElementById(id);
const tbody = $("contacts-body");
const search = $("contact-search");
const dialog = $("contact-dialog");
const form = $("contact-form");
const state = { q: new URLSearchParams(location.search).get("q") || "", offset: 0, rows: [], editing: null };

search.value = state.q;

function row(c) {
  const edit = can("contact.write")
    ? h("button.small.ghost", { type: "button", onclick: () => openDialog(c) }, "Edit") : null;
  return h("tr", { dataset: { id: c.id } },
    h("td", h("div.row", avatar(c.display_name, "sm"), h("div", h("strong", c.display_name),
      c.name && c.name !== c.display_name ? h("div.small.muted", c.name) : null))),
    h("td.mono", c.wa_id ? fmtPhone(c.wa_id) : c.bsuid ? h("span.faint", c.bsuid) : ""),
    h("td", c.username ? `@${c.username}` : h("span.faint", "—")),
    h("td", c.tags.length ? c.tags.map((t) => h("span.tag", t)) : h("span.faint", "—")),
    h("td", c.opted_in ? h("span.pill.green", "Yes") : h("span.pill.gray", "No")),
    h("td.num", edit));
}

async function load() {
  const params = new URLSearchParams({ q: state.q, limit: String(PAGE + 1), offset: String(state.offset) });
  let found;
  try {
    found = await api(`/api/contacts?${params}`);
  } catch (err) {
    toast(err.message, "error");
    return;
  }
  const more = found.length > PAGE;
  state.rows = found.slice(0, PAGE);
  tbody.replaceChildren(...state.rows.map(row));
  const empty = $("contacts-empty");
  empty.hidden = state.rows.length > 0;
  empty.replaceChildren(h("div.empty",
    h("strong", state.q ? `No contacts match “${state.q}”` : "No contacts yet"),
    h("span.small", state.q ? "Try part of a name or number."
      : "Contacts are created when customers write to you, or add them here or by CSV import.")));
  $("contact-range").textContent = state.rows.length
    ? `${state.offset + 1}–${state.offset + state.rows.length}${more ? "" : ` of ${state.offset + state.rows.length}`}` : "";
  $("prev-page").disabled = state.offset === 0;
  $("next-page").disabled = !more;
}

search.addEventListener("input", debounce(() => {
  state.q = search.value.trim();
  state.offset = 0;
  history.replaceState(null, "", state.q ? `/contacts?q=${encodeURIComponent(state.q)}` : "/contacts");
  load();
}, 250));
$("prev-page").addEventListener("click", () => {
  state.offset = Math.max(0, state.offset - PAGE);
  load();
});
$("next-page").addEventListener("click", () => {
  state.offset += PAGE;
  load();
});

// ------------------------------------------------------------------ create / edit

function openDialog(contact) {
  state.editing = contact || null;
  $("contact-dialog-title").textContent = contact ? `Edit ${contact.display_name}` : "New contact";
  $("c-name").value = contact?.name || "";
  $("c-phone").value = contact?.wa_id ? `+${contact.wa_id}` : "";
  $("c-tags").value = contact ? contact.tags.join(", ") : "";
  $("c-opted").checked = contact ? contact.opted_in : true;
  $("contact-error").hidden = true;
  dialog.showModal();
  $("c-name").focus();
}

$("new-contact").addEventListener("click", () => openDialog(null));
$("contact-cancel").addEventListener("click", () => dialog.close());
form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const c = state.editing;
  const body = {
    name: $("c-name").value.trim() || null,
    phone: $("c-phone").value.trim() || null,
    bsuid: c?.bsuid || null,
    tags: $("c-tags").value.split(",").map((t) => t.trim()).filter(Boolean),
    attributes: c?.attributes || {},
    opted_in: $("c-opted").checked,
  };
  const error = $("contact-error");
  if (!body.phone && !body.bsuid) {
    error.textContent = "A phone number is needed.";
    error.hidden = false;
    return;
  }
  try {
    if (c) await api(`/api/contacts/${c.id}`, { method: "PATCH", body });
    else await api("/api/contacts", { method: "POST", body });
  } catch (err) {
    error.textContent = err.message;
    error.hidden = false;
    return;
  }
  dialog.close();
  toast(c ? "Contact saved" : "Contact created");
  load();
});

// ------------------------------------------------------------------ import

$("import-file").addEventListener("change", async (e) => {
  const file = e.target.files[0];
  e.target.value = "";
  if (!file) return;
  const box = $("import-report");
  box.hidden = false;
  box.replaceChildren(h("div.muted", `Importing ${file.name}…`));
  let report;
  try {
    report = await api("/api/contacts/import", { method: "POST", raw: await file.arrayBuffer(), contentType: "text/csv" });
  } catch (err) {
    box.replaceChildren(h("div.notice.error", `${file.name} was not imported: ${err.message}`));
    return;
  }
  const rejected = report.rejected || [];
  fill(box,
    h("div.row", h("h2.grow", `Imported ${file.name}`),
      h("button.small.ghost", { type: "button", onclick: () => { box.hidden = true; } }, "Dismiss")),
    h("div.counts#import-counts",
      h("span", h("b", report.created), " created"),
      h("span", h("b", report.updated), " updated"),
      h(`span${rejected.length ? ".error-text" : ""}`, h("b", rejected.length), " rejected")),
    rejected.length
      ? h("table.grid#import-rejected",
        h("thead", h("tr", h("th.num.narrow", "Row"), h("th", "Why it was skipped"))),
        h("tbody", rejected.map((r) => h("tr", h("td.num", r.row), h("td", r.reason)))))
      : h("div.notice.ok", "Every row was imported."),
    rejected.length ? h("p.hint", "Row numbers count data rows; the header is row 0. Fix these rows and import the file again: imported rows update, never duplicate.") : null,
  );
  load();
});

load();
