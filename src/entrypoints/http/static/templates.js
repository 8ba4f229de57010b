// Templates: the list with Meta's decision and delivery figures, and an editor with a live
// preview, placeholder hints and the same checks the server makes.
import { api, can, connectEvents, fill, h, initShell, toast } from "./api.js";
import { checkDefinition, filled, placeholders } from "./tpl.js";

initShell();

const $ = (id) => document.getElementById(id);
const tbody = $("templates-body");
const editor = $("editor-card");
const form = $("template-form");
const STATUS_PILL = { APPROVED: "green", PENDING: "amber", REJECTED: "red", DRAFT: "gray", PAUSED: "amber", DISABLED: "red", DELETED: "gray", PENDING_DELETION: "gray" };
const GONE = new Set(["DELETED", "PENDING_DELETION"]);
const state = { templates: [], editing: null, samples: {}, buttons: [] };

// ------------------------------------------------------------------ list

function row(t) {
  const actions = [];
  if (can("template.manage")) {
    if (t.status === "DRAFT") actions.push(h("button.small.primary", { type: "button", dataset: { submit: t.name }, onclick: () => submit(t) }, "Submit"));
    if (t.status === "DRAFT" || t.status === "REJECTED") actions.push(h("button.small", { type: "button", onclick: () => openEditor(t) }, "Edit"));
    if (!GONE.has(t.status)) actions.push(h("button.small.danger", { type: "button", dataset: { delete: t.name }, onclick: () => remove(t) }, "Delete"));
  }
  const rate = t.read_rate === null ? h("span.faint", "—")
    : h("span.rate", h("span.bar", h("i", { dataset: { w: Math.round(t.read_rate * 100) } })), `${Math.round(t.read_rate * 100)}%`);
  const tr = h("tr", { dataset: { template: t.name, status: t.status } },
    h("td", h("div.tpl-name", t.name), h("div.small.muted", `${t.category.toLowerCase()} · ${t.language}`),
      h("div.small.faint.ellipsis", { title: t.body }, t.body.length > 90 ? `${t.body.slice(0, 90)}…` : t.body)),
    h("td", h("div.tpl-status", h(`span.pill.${STATUS_PILL[t.status] || "gray"}.status`, t.status.toLowerCase()),
      t.status === "PENDING" ? h("span.small.faint", "In review at Meta") : null,
      t.rejection_reason ? h("span.reason", `Rejected: ${t.rejection_reason.replaceAll("_", " ").toLowerCase()}`) : null)),
    h("td.num", t.sent), h("td.num", t.delivered), h("td.num", t.read),
    h("td.num", t.failed ? h("span.error-text", t.failed) : t.failed),
    h("td.num", rate),
    h("td.num", h("div.row", actions)));
  // CSP forbids style attributes; the CSSOM is allowed.
  for (const bar of tr.querySelectorAll("[data-w]")) bar.style.width = `${bar.dataset.w}%`;
  return tr;
}

async function load() {
  try {
    state.templates = await api("/api/templates");
  } catch (err) {
    toast(err.message, "error");
    return;
  }
  tbody.replaceChildren(...state.templates.map(row));
  const empty = $("templates-empty");
  empty.hidden = state.templates.length > 0;
  empty.replaceChildren(h("div.empty", h("strong", "No templates yet"),
    h("span.small", can("template.manage")
      ? "Create one, submit it, and Meta usually decides within minutes."
      : "A manager can create templates for the team.")));
}

async function submit(t) {
  try {
    await api(`/api/templates/${t.id}/submit`, { method: "POST" });
    toast(`“${t.name}” sent to Meta for review`);
  } catch (err) {
    toast(err.message, "error");
  }
  load();
}

async function remove(t) {
  const atMeta = t.meta_id !== null;
  const question = atMeta
    ? `Delete “${t.name}” (${t.language}) at Meta?\n\nIt can no longer be sent, and Meta keeps its name and language from being reused for some weeks.`
    : `Delete the draft “${t.name}” (${t.language})? It was never sent to Meta.`;
  if (!window.confirm(question)) return;
  try {
    await api(`/api/templates/${t.id}`, { method: "DELETE" });
    toast(atMeta ? `“${t.name}” deleted at Meta` : `Draft “${t.name}” deleted`);
  } catch (err) {
    toast(err.message, "error");
  }
  load();
}

// ------------------------------------------------------------------ editor

function values() {
  return {
    name: $("t-name").value.trim(),
    language: $("t-language").value.trim(),
    category: $("t-category").value,
    header_text: $("t-header").value || null,
    body: $("t-body").value,
    footer: $("t-footer").value || null,
    buttons: state.buttons.map((b) => ({
      type: b.type, text: b.text,
      url: b.type === "URL" ? b.value : null,
      phone_number: b.type === "PHONE_NUMBER" ? b.value : null,
    })),
  };
}

function drawButtons() {
  const box = $("buttons");
  box.replaceChildren(...state.buttons.map((b, i) => {
    const type = h("select", { "aria-label": "Button type" },
      [["QUICK_REPLY", "Quick reply"], ["URL", "Visit website"], ["PHONE_NUMBER", "Call phone"]]
        .map(([v, l]) => h("option", { value: v, selected: v === b.type }, l)));
    const text = h("input", { value: b.text, placeholder: "Button text", maxlength: 25, "aria-label": "Button text" });
    const value = h("input", { value: b.value || "", placeholder: b.type === "URL" ? "https://…" : "+15550001111", "aria-label": "Button value" });
    value.hidden = b.type === "QUICK_REPLY";
    type.addEventListener("change", () => { b.type = type.value; drawButtons(); update(); });
    text.addEventListener("input", () => { b.text = text.value; update(); });
    value.addEventListener("input", () => { b.value = value.value; update(); });
    const remove = h("button.small.ghost", { type: "button", onclick: () => { state.buttons.splice(i, 1); drawButtons(); update(); } }, "Remove");
    return h("div.button-row", type, text, b.type === "QUICK_REPLY" ? h("span") : value, remove);
  }));
  $("add-button").disabled = state.buttons.length >= 10;
}

function update() {
  const v = values();
  const names = [...placeholders(v.header_text || ""), ...placeholders(v.body)];
  const hints = $("ph-hints");
  hints.replaceChildren(...(names.length
    ? [h("span.faint", "Placeholders:"), ...names.map((n) => h("span.ph.mono", `{{${n}}}`)),
      h("span.faint", "Customers never see these: each is filled in when the message is sent.")]
    : [h("span.faint", "Tip: add {{1}}, {{2}}… where the message should be personalised (a name, an order number).")]));
  // sample inputs for the preview
  const samples = $("samples");
  const existing = new Map([...samples.querySelectorAll("input")].map((i) => [i.dataset.key, i]));
  samples.replaceChildren(...names.map((n) => {
    const input = existing.get(n) || h("input", { placeholder: `Sample for {{${n}}}`, dataset: { key: n }, "aria-label": `Sample {{${n}}}` });
    input.value = state.samples[n] || "";
    input.oninput = () => { state.samples[n] = input.value; preview(); };
    return input;
  }));
  $("sample-hint").hidden = !names.length;
  const problems = checkDefinition(state.editing ? { ...v, name: undefined } : v);
  $("t-problems").replaceChildren(...problems.map((p) => h("li", p)));
  const blocked = problems.length > 0 || !v.body.trim() || (!state.editing && (!v.name || !v.language));
  $("t-save").disabled = blocked;
  $("t-save-submit").disabled = blocked;
  preview();
}

function preview() {
  const v = values();
  const b = h("div.bubble",
    v.header_text ? h("div.hdr", filled(v.header_text, state.samples)) : null,
    h("div.text", v.body.trim() ? filled(v.body, state.samples) : h("span.faint", "Your message body appears here.")),
    v.footer ? h("div.ftr", v.footer) : null,
    h("span.foot", "12:00"));
  fill($("preview"), b, v.buttons.length ? h("div.btns", v.buttons.map((x) => h("div", x.text || "Button"))) : null);
}

function openEditor(t) {
  state.editing = t || null;
  state.samples = {};
  state.buttons = [];
  form.reset();
  $("editor-title").textContent = t ? `Edit ${t.name}` : "New template";
  $("t-name").disabled = Boolean(t);
  $("t-language").disabled = Boolean(t);
  if (t) {
    $("t-name").value = t.name;
    $("t-language").value = t.language;
    $("t-category").value = t.category;
    $("t-header").value = t.header_text || "";
    $("t-body").value = t.body;
    $("t-footer").value = t.footer || "";
  }
  $("t-error").hidden = true;
  editor.hidden = false;
  drawButtons();
  update();
  editor.scrollIntoView({ behavior: "smooth", block: "start" });
  (t ? $("t-body") : $("t-name")).focus();
}

async function save(andSubmit) {
  const v = values();
  const error = $("t-error");
  error.hidden = true;
  let saved;
  try {
    if (state.editing) {
      const { body, header_text, footer, buttons, category } = v;
      saved = await api(`/api/templates/${state.editing.id}`, { method: "PATCH", body: { body, header_text, footer, buttons, category } });
    } else {
      saved = await api("/api/templates", { method: "POST", body: v });
    }
    if (andSubmit) await api(`/api/templates/${saved.id}/submit`, { method: "POST" });
  } catch (err) {
    error.textContent = err.message;
    error.hidden = false;
    load();
    return;
  }
  toast(andSubmit ? `“${saved.name}” sent to Meta for review` : `“${saved.name}” saved as a draft`);
  editor.hidden = true;
  load();
}

form.addEventListener("input", update);
form.addEventListener("submit", (e) => {
  e.preventDefault();
  save(true);
});
$("t-save").addEventListener("click", () => save(false));
$("new-template").addEventListener("click", () => openEditor(null));
$("editor-close").addEventListener("click", () => { editor.hidden = true; });
$("add-button").addEventListener("click", () => {
  state.buttons.push({ type: "QUICK_REPLY", text: "", value: "" });
  drawButtons();
  update();
});

connectEvents((event) => {
  if (event.kind !== "template.status") return;
  const p = event.payload || {};
  const t = state.templates.find((x) => x.id === p.template_id);
  if (t) toast(`“${t.name}” is now ${String(p.status).toLowerCase()}`);
  load();
});

load();
