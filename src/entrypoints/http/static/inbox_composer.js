// The composer: free text while the 24 h window is open (with AI reply suggestions), an
// approved-template picker after.
import { api, can, fill, fmtFull, h, icon, timeLeft, toast } from "./api.js";
import { quickReplies } from "./inbox_buttons.js";
import { checkParam, filled, paramsFor, placeholders } from "./tpl.js";

const SEND = ["M4 12 20 4l-4 16-4-7z", "M12 13l8-9"];
const CLIP = "M21 11.5l-8.6 8.6a5 5 0 0 1-7.1-7.1l8.6-8.6a3.5 3.5 0 0 1 5 5l-8.6 8.6a2 2 0 0 1-2.8-2.8l7.9-7.9";
// What WhatsApp lets a business send; the server checks the type and size again.
const ACCEPT = "image/jpeg,image/png,video/mp4,video/3gpp,audio/aac,audio/amr,audio/mpeg,audio/mp4,audio/ogg,"
  + "application/pdf,text/plain,.doc,.docx,.xls,.xlsx,.ppt,.pptx";
const SPARKLE = ["M11 3l1.9 5.1L18 10l-5.1 1.9L11 17l-1.9-5.1L4 10l5.1-1.9z", "M18.5 15l.9 2.1 2.1.9-2.1.9-.9 2.1-.9-2.1-2.1-.9 2.1-.9z"];
const drafts = new Map();
// The suggestion on show per conversation ({text, provider, model?, grounded, auto}), so a
// redrawn composer keeps it; inserting, dismissing or sending drops it.
const suggestions = new Map();
let approved = null; // cached approved templates; dropped on a template.status event

export function forgetTemplates() {
  approved = null;
}

async function approvedTemplates() {
  if (approved === null) {
    const all = await api("/api/templates");
    approved = all.filter((t) => t.status === "APPROVED");
  }
  return approved;
}

/**
 * Draw the composer for `conv` into `box`. `onSent(message)` receives the stored message.
 */
export function renderComposer(box, conv, onSent) {
  box.hidden = false;
  box.conv = conv; // the thread keeps this current, so the countdown follows new messages
  box.refreshCountdown = null;
  box.showSuggestion = null;
  if (!can("conversation.reply")) {
    box.replaceChildren(h("div.readonly", "You have view-only access: you can read this conversation but not reply."));
    return;
  }
  if (conv.window_open) openComposer(box, conv, onSent);
  else closedComposer(box, conv, onSent);
}

function openComposer(box, conv, onSent) {
  const input = h("textarea#composer-input", {
    rows: 1, placeholder: "Type a message", "aria-label": "Message", maxlength: 4096,
  });
  input.value = drafts.get(conv.id) || "";
  const send = h("button.primary.send#send-button", { type: "button", title: "Send (Enter)", "aria-label": "Send" },
    icon(SEND, { size: 18 }));
  const grow = () => {
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight + 2, 160)}px`;
  };
  const quick = quickReplies();
  const slot = h("div.slot-suggest#suggest-slot", { "aria-live": "polite" });
  const suggestBtn = h("button.icon.attach#suggest-button", {
    type: "button", title: "Suggest a reply with AI (Alt+S)", "aria-label": "Suggest reply",
  }, icon(SPARKLE, { size: 20, width: 1.7 }));
  const suggest = suggestionPanel(slot, suggestBtn, conv, (text) => {
    input.focus();
    input.select(); // replaced as one edit, so Ctrl+Z brings the draft back
    if (!document.execCommand("insertText", false, text)) input.value = text;
    drafts.set(conv.id, input.value);
    grow();
  }, () => input.focus());
  suggestBtn.addEventListener("click", suggest.ask);
  box.showSuggestion = suggest.show;
  async function submit() {
    const text = input.value.trim();
    if (!text || send.disabled) return;
    send.disabled = true;
    const buttons = quick.values();
    try {
      const message = buttons
        ? await api(`/api/conversations/${conv.id}/interactive`, { method: "POST", body: { type: "button", body: text, buttons } })
        : await api(`/api/conversations/${conv.id}/messages`, { method: "POST", body: { text } });
      input.value = "";
      drafts.delete(conv.id);
      quick.reset();
      suggest.clear(); // it answered a message the reply has now answered
      grow();
      onSent(message);
    } catch (err) {
      toast(err.message, "error");
      if (err.status === 409) onSent(null); // the window closed meanwhile: re-read the thread
    } finally {
      send.disabled = false;
      input.focus();
    }
  }
  const picker = h("input#attach-input", { type: "file", accept: ACCEPT, hidden: true });
  const attach = h("button.icon.attach#attach-button", {
    type: "button", title: "Send a file (the typed text becomes its caption)", "aria-label": "Send a file",
  },
    icon(CLIP, { size: 20, width: 1.8 }));
  // The file is the request body (streamed by the browser); typed text becomes its caption.
  async function sendFile(file) {
    const caption = file.type.startsWith("audio/") ? "" : input.value.trim();
    const query = new URLSearchParams({ filename: file.name });
    if (caption) query.set("caption", caption);
    attach.disabled = true;
    attach.classList.add("busy");
    try {
      const message = await api(`/api/conversations/${conv.id}/media?${query}`, {
        method: "POST", raw: file, contentType: file.type || "application/octet-stream",
      });
      if (caption) {
        input.value = "";
        drafts.delete(conv.id);
        grow();
      }
      onSent(message);
    } catch (err) {
      toast(err.message, "error");
      if (err.status === 409) onSent(null);
    } finally {
      attach.disabled = false;
      attach.classList.remove("busy");
    }
  }
  attach.addEventListener("click", () => picker.click());
  picker.addEventListener("change", () => {
    const file = picker.files[0];
    picker.value = "";
    if (file && !attach.disabled) sendFile(file);
  });
  input.addEventListener("input", () => {
    drafts.set(conv.id, input.value);
    grow();
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    } else if (e.altKey && e.code === "KeyS") {
      e.preventDefault();
      suggest.ask();
    } else if (e.key === "Escape" && slot.firstChild) {
      e.preventDefault();
      suggest.clear();
    }
  });
  send.addEventListener("click", submit);
  const left = h("span", { dataset: { closes: conv.window_closes_at || "" } });
  const updateLeft = () => {
    const closes = box.conv.window_closes_at;
    const t = closes && timeLeft(closes);
    left.textContent = t ? `Window closes in ${t}` : "";
  };
  updateLeft();
  left.addEventListener("tick", updateLeft);
  box.refreshCountdown = updateLeft;
  box.replaceChildren(
    slot, // AI reply suggestions (POST /api/conversations/{id}/suggest, or pushed as ai.suggested)
    quick.row,
    h("div.input-row", attach, picker, quick.toggle, suggestBtn, input, send),
    h("div.hint-row", h("span", "Enter to send · Shift+Enter for a new line · Alt+S to suggest a reply"), left),
  );
  const saved = suggestions.get(conv.id);
  if (saved) suggest.show(saved);
  requestAnimationFrame(() => {
    grow();
    input.focus();
  });
}

/**
 * A suggestion pushed by the server (auto-suggest) for `conversationId`: shown when that
 * conversation is the open one (kept if its composer is being redrawn); others are ignored,
 * as a teammate may have answered by the time someone opens them.
 */
export function offerSuggestion(box, conversationId, suggestion) {
  if (box.conv?.id !== conversationId) return;
  suggestions.set(conversationId, suggestion);
  box.showSuggestion?.(suggestion);
}

/** The suggestion slot above the input: loading, the suggestion with Insert / Dismiss, or why there is none. */
function suggestionPanel(slot, button, conv, insert, refocus) {
  let asking = false;
  const dismiss = () => h("button.small.ghost#suggest-dismiss", { type: "button", title: "Dismiss (Esc)" }, "Dismiss");
  const head = (title, ...rest) => h("div.suggest-head", icon(SPARKLE, { size: 14, width: 1.8 }), h("strong", title), ...rest);
  function clear() {
    suggestions.delete(conv.id);
    slot.replaceChildren();
  }
  slot.addEventListener("keydown", (e) => {
    if (e.key !== "Escape") return;
    e.preventDefault();
    clear();
    refocus();
  });
  function closable(el) {
    el.querySelector("#suggest-dismiss")?.addEventListener("click", () => {
      clear();
      refocus();
    });
    return el;
  }
  function show(s, { focus = false } = {}) {
    suggestions.set(conv.id, s);
    const use = h("button.small.primary#suggest-insert", { type: "button", title: "Put it in the message box to edit before sending" }, "Insert");
    use.addEventListener("click", () => {
      clear();
      insert(s.text);
    });
    const by = s.provider ? h("span.pill.gray#suggest-provider", { title: s.model ? `Model: ${s.model}` : "The AI provider that answered" }, s.provider) : null;
    fill(slot, closable(h("div.suggestion", { dataset: { provider: s.provider || "", auto: s.auto ? "yes" : "no" } },
      head(s.auto ? "Suggested reply for the new message" : "Suggested reply", by,
        s.grounded ? h("span.small.faint", "from your knowledge base") : null),
      h("div.suggest-text#suggest-text", s.text),
      h("div.suggest-actions", use, dismiss(), h("span.hint", "Nothing is sent until you press Send.")))));
    if (focus) use.focus();
  }
  function notice(text, kind) {
    fill(slot, closable(h(`div.suggestion.notice.${kind}#suggest-notice`, { role: "status" },
      head("No suggestion"), h("div.suggest-text", text), h("div.suggest-actions", dismiss()))));
  }
  async function ask() {
    if (asking) return;
    asking = true;
    const before = suggestions.get(conv.id);
    button.disabled = true;
    button.classList.add("busy");
    fill(slot, h("div.suggestion.loading#suggest-loading", { "aria-busy": "true" },
      head("Suggesting a reply…"), h("div.skeleton"), h("div.skeleton.short")));
    try {
      const s = await api(`/api/conversations/${conv.id}/suggest`, { method: "POST" });
      if (!slot.isConnected) return;
      if (s.text) {
        show({ text: s.text, provider: s.provider, model: s.model, grounded: s.grounded_on.length > 0 }, { focus: true });
      } else {
        suggestions.delete(conv.id);
        notice("The AI has nothing to suggest for the latest message (it may be spam, or need no answer).", "info");
      }
    } catch (err) {
      if (!slot.isConnected) return;
      if (err.status === 409) { // AI off, the month's budget spent, no provider: the server says which
        suggestions.delete(conv.id);
        notice(err.message, "warn");
      } else {
        if (before) show(before);
        else slot.replaceChildren();
        toast(err.message, "error");
      }
    } finally {
      asking = false;
      button.disabled = false;
      button.classList.remove("busy");
    }
  }
  return { ask, show, clear };
}

function closedComposer(box, conv, onSent) {
  const who = conv.contact.display_name || "the customer";
  const since = conv.window_closes_at ? ` on ${fmtFull(conv.window_closes_at)}` : "";
  const why = conv.last_inbound_at
    ? `The 24-hour customer service window closed${since}. `
    : `${who} hasn't written to you yet, so there is no open window. `;
  const notice = h("div.notice.warn#window-closed", h("strong", "Free-form replies are paused. "),
    why, `WhatsApp only allows approved templates until ${who} writes again.`);
  const picker = h("div.picker#template-picker", h("div.faint.small", "Loading templates…"));
  box.replaceChildren(h("div.closed", notice, can("template.send") ? picker : null));
  if (can("template.send")) fillPicker(picker, conv, onSent);
}

async function fillPicker(picker, conv, onSent) {
  let templates;
  try {
    templates = await approvedTemplates();
  } catch (err) {
    picker.replaceChildren(h("div.error-text", err.message));
    return;
  }
  if (!templates.length) {
    picker.replaceChildren(h("div.small.muted", "No approved templates yet. ",
      can("template.manage") ? h("a", { href: "/templates" }, "Create one and submit it for review.")
        : "Ask a manager to create one."));
    return;
  }
  const select = h("select#template-select", { "aria-label": "Template" },
    h("option", { value: "" }, "Choose an approved template…"),
    templates.map((t) => h("option", { value: t.id }, `${t.name} · ${t.language}`)));
  const params = h("div.params");
  const preview = h("div.preview-bubble#template-preview", h("span.faint", "The message preview appears here."));
  const sendBtn = h("button.primary#send-template", { type: "button", disabled: true }, "Send template");
  let values = {};
  let current = null;

  function names() {
    return {
      header: current?.header_text ? placeholders(current.header_text) : [],
      body: current ? placeholders(current.body) : [],
    };
  }
  function refresh() {
    if (!current) {
      preview.replaceChildren(h("span.faint", "The message preview appears here."));
      sendBtn.disabled = true;
      return;
    }
    const parts = [];
    if (current.header_text) parts.push(h("strong", filled(current.header_text, values.header)), "\n");
    parts.push(...filled(current.body, values.body));
    if (current.footer) parts.push("\n", h("span.faint", current.footer));
    preview.replaceChildren(...parts);
    const n = names();
    const bad = [...n.header.map((k) => checkParam(values.header[k] || "", 60)),
      ...n.body.map((k) => checkParam(values.body[k] || ""))].some(Boolean);
    sendBtn.disabled = bad;
  }
  select.addEventListener("change", () => {
    current = templates.find((t) => t.id === select.value) || null;
    values = { header: {}, body: {} };
    const n = names();
    const field = (part, key) => {
      const inp = h("input", { placeholder: `{{${key}}}`, "aria-label": `${part} {{${key}}}`, dataset: { part, key } });
      inp.addEventListener("input", () => {
        values[part][key] = inp.value;
        refresh();
      });
      return h("label.field", `${part === "header" ? "Header" : "Body"} {{${key}}}`, inp);
    };
    params.replaceChildren(...n.header.map((k) => field("header", k)), ...n.body.map((k) => field("body", k)));
    if (current && !n.header.length && !n.body.length) params.append(h("div.hint", "This template has no parameters."));
    refresh();
  });
  sendBtn.addEventListener("click", async () => {
    const n = names();
    sendBtn.disabled = true;
    try {
      const message = await api("/api/messages/send-template", {
        method: "POST",
        body: {
          name: current.name, language: current.language, conversation_id: conv.id,
          body_params: paramsFor(n.body, values.body), header_params: n.header.map((k) => values.header[k] || ""),
        },
      });
      toast(`Template “${current.name}” queued`);
      onSent(message);
    } catch (err) {
      toast(err.message, "error");
      sendBtn.disabled = false;
    }
  });
  picker.replaceChildren(h("div.params", select, params, h("div", sendBtn)), preview);
}
