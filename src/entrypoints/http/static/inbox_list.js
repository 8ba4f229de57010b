// The conversation list: Mine / Unassigned / All tabs, search, unread badges and the
// 24 h window countdown of each conversation; the label filter and the open
// conversation's label bar.
import { api, avatar, fill, fmtPhone, fmtWhen, h, icon, me, timeLeft, toast } from "./api.js";
import { personName } from "./inbox_side.js";

const TAG = ["M3 12V4h8l10 10-8 8z", "M7.5 7.5h.01"];
const PLUS = ["M12 5v14", "M5 12h14"];
const CROSS = ["M6 6l12 12", "M18 6 6 18"];

const FILTERS = {
  mine: (c) => c.assignee_id === me.id,
  unassigned: (c) => !c.assignee_id,
  all: () => true,
};

function matches(state, c) {
  const q = state.search.trim().toLowerCase();
  if (!q) return true;
  const k = c.contact;
  return [k.display_name, k.name, k.username, k.wa_id, k.bsuid].some((v) => v && v.toLowerCase().includes(q.replace(/^\+/, "")));
}

/**
 * The 24 h window: a countdown while open (`short` drops the word "left" for the list).
 * `onExpire` runs when a countdown reaches zero.
 */
export function windowBadge(c, short, onExpire) {
  const left = c.window_open && c.window_closes_at ? timeLeft(c.window_closes_at) : null;
  if (!left) {
    return h("span.pill.gray", { title: "24-hour window closed: approved templates only", dataset: { window: "closed" } },
      short ? "Closed" : "Window closed");
  }
  const text = (t) => (short ? t : `${t} left`);
  const pill = h("span.pill.green", {
    title: "24-hour window open: free-form replies allowed until it closes",
    dataset: { window: "open", closes: c.window_closes_at },
  }, icon(["M12 3a9 9 0 1 0 .01 0", "M12 7.5V12l3 2"], { size: 11, width: 2.4 }), h("span", text(left)));
  pill.addEventListener("tick", () => {
    const t = timeLeft(c.window_closes_at);
    if (t) pill.lastChild.textContent = text(t);
    else onExpire();
  });
  return pill;
}

function convRow(state, c, { onSelect, onExpire }) {
  const k = c.contact;
  const open = () => onSelect(c.id);
  const row = h(`div.conv${c.id === state.currentId ? ".on" : ""}${c.unread_count ? ".unread" : ""}`,
    { role: "button", tabindex: 0, dataset: { id: c.id }, onclick: open,
      onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); open(); } } },
    avatar(k.display_name),
    h("div.body",
      h("div.line1", h("span.name.ellipsis", k.display_name), h("span.when", fmtWhen(c.last_message_at))),
      h("div.line2", h("span.grow.ellipsis", k.wa_id ? fmtPhone(k.wa_id) : k.username ? `@${k.username}` : k.bsuid || ""),
        c.assignee_id ? h(`span.pill.${c.assignee_id === me.id ? "blue" : "gray"}`, personName(c.assignee_id)) : null,
        windowBadge(c, true, onExpire),
        c.unread_count ? h("span.badge", { title: `${c.unread_count} unread`, dataset: { unread: c.unread_count } }, c.unread_count) : null),
      c.status !== "open" || c.labels.length
        ? h("div.line3", c.status !== "open" ? h("span.pill.amber", c.status) : null, ...c.labels.map((l) => h("span.tag", l)))
        : null));
  return row;
}

/** The server-side filters in use (label, unread, window open), for the empty list's words. */
export const filtering = (state) => Boolean(state.label || state.unread || state.windowOpen);

function emptyList(state, { onClearFilters }) {
  const total = state.convs.length;
  if (total === 0 && filtering(state)) {
    const what = [state.label ? `labelled “${state.label}”` : null, state.unread ? "unread" : null,
      state.windowOpen ? "with an open window" : null].filter(Boolean).join(", ");
    return h("div.empty#list-empty", h("strong", "No matches"), h("span.small", `No conversations ${what} here.`),
      h("p", h("button.small#clear-filters", { type: "button", onclick: onClearFilters }, "Clear filters")));
  }
  const text = state.search ? ["No matches", `Nothing matches “${state.search}”.`]
    : total === 0 && state.status === "open" ? ["No open conversations", "When a customer writes to your WhatsApp number, the conversation appears here instantly."]
      : total === 0 ? ["Nothing here", "No conversations with this status."]
        : state.filter === "mine" ? ["Nothing assigned to you", "Pick one from Unassigned and press “Assign to me”."]
          : ["All caught up", "Every conversation here has an owner."];
  return h("div.empty#list-empty", h("strong", text[0]), h("span.small", text[1]));
}

/** Draw the filtered list, the tab counts and the unread total in the tab title. */
export function renderList(listBox, state, handlers) {
  for (const [name, test] of Object.entries(FILTERS)) {
    document.querySelector(`[data-count="${name}"]`).textContent = state.convs.filter(test).length || "";
  }
  for (const b of document.querySelectorAll("[data-filter]")) b.classList.toggle("on", b.dataset.filter === state.filter);
  const shown = state.convs.filter(FILTERS[state.filter]).filter((c) => matches(state, c));
  listBox.replaceChildren(...(shown.length ? shown.map((c) => convRow(state, c, handlers)) : [emptyList(state, handlers)]));
  if (state.convs.length >= 200) listBox.append(h("div.list-note", "Showing the 200 most recent conversations."));
  const unread = state.convs.reduce((n, c) => n + (c.unread_count || 0), 0);
  document.title = `${unread ? `(${unread}) ` : ""}Inbox · WhatsApp Inbox`;
}

// ------------------------------------------------------------------ labels

/** Labels seen in the loaded lists and added here: the filter's options and the suggestions. */
export const knownLabels = new Set();

export function rememberLabels(labels) {
  for (const l of labels) knownLabels.add(l);
}

/**
 * The filters the list API applies (label=, unread=, window_open=), kept in `state`;
 * `reload()` reads the list again. `labelsKnown()` redraws the label options when new
 * labels were seen; `clear()` drops every filter.
 */
export function listFilters(state, reload) {
  const select = document.getElementById("label-filter");
  const toggles = [["filter-unread", "unread"], ["filter-window", "windowOpen"]]
    .map(([id, key]) => [document.getElementById(id), key]);
  let drawn = -1;
  function labelsKnown() {
    // The chosen label stays an option even when no loaded conversation has it any more.
    const labels = [...new Set([...knownLabels, ...(state.label ? [state.label] : [])])].sort();
    if (labels.length === drawn) return;
    drawn = labels.length;
    fill(select, h("option", { value: "" }, "Any label"), labels.map((l) => h("option", { value: l }, l)));
    select.value = state.label;
  }
  select.addEventListener("change", () => {
    state.label = select.value;
    reload();
  });
  for (const [button, key] of toggles) {
    button.addEventListener("click", () => {
      state[key] = !state[key];
      button.setAttribute("aria-pressed", String(state[key]));
      reload();
    });
  }
  return {
    labelsKnown,
    clear() {
      state.label = "";
      select.value = "";
      for (const [button, key] of toggles) {
        state[key] = false;
        button.setAttribute("aria-pressed", "false");
      }
      reload();
    },
  };
}

/**
 * The open conversation's labels as chips, drawn in place (a refresh of the thread never
 * drops a label being typed). With `editable`, each chip can be removed and "Label" opens
 * an input suggesting labels already in use. `onChange(conversationId, labels)` gets what
 * the server answered.
 */
export function labelBar(box, { editable, onChange }) {
  let conv = null;
  let drawn = null;
  const chips = h("div.chips#label-chips");
  const options = h("datalist#label-suggestions");
  const input = h("input#label-input", {
    type: "text", list: "label-suggestions", maxlength: 40, placeholder: "New label, Enter to add",
    "aria-label": "New label", autocomplete: "off", hidden: true,
  });
  const add = h("button.small.ghost.add-label#add-label", { type: "button", title: "Add a label (L)" },
    icon(PLUS, { size: 12, width: 2.4 }), "Label");
  fill(box, h("span.tag-icon", { title: "Labels" }, icon(TAG, { size: 14, width: 1.8 })), chips,
    editable ? [add, input, options] : null);

  function open() {
    if (!editable || !conv) return;
    const have = new Set(conv.labels);
    fill(options, [...knownLabels].filter((l) => !have.has(l)).sort().map((l) => h("option", { value: l })));
    add.hidden = true;
    input.hidden = false;
    input.focus();
  }
  function close() {
    input.value = "";
    input.disabled = false;
    input.hidden = true;
    add.hidden = false;
  }
  async function change(method, path, body) {
    const id = conv.id;
    const answer = await api(`/api/conversations/${id}/labels${path}`, { method, body });
    onChange(id, answer.labels);
  }
  async function submit() {
    const label = input.value.trim().toLowerCase();
    if (!label || input.disabled) return;
    if (conv.labels.includes(label)) {
      input.value = "";
      return;
    }
    input.disabled = true;
    try {
      await change("POST", "", { label });
      input.value = "";
      toast(`Labelled “${label}”`);
    } catch (err) {
      toast(err.message, "error");
    } finally {
      input.disabled = false;
      if (!input.hidden) input.focus(); // ready for another; Escape closes
    }
  }
  async function remove(label, button) {
    button.disabled = true;
    button.parentElement.classList.add("busy");
    try {
      await change("DELETE", `/${encodeURIComponent(label)}`);
      if (!document.activeElement || document.activeElement === document.body) (chips.querySelector("button.remove") || add).focus();
    } catch (err) {
      toast(err.message, "error");
      button.disabled = false;
      button.parentElement.classList.remove("busy");
    }
  }
  function chip(label) {
    const x = editable ? h("button.remove", { type: "button", title: `Remove “${label}”`, "aria-label": `Remove label ${label}` },
      icon(CROSS, { size: 11, width: 2.6 })) : null;
    x?.addEventListener("click", () => remove(label, x));
    return h("span.label-chip", { dataset: { label } }, h("span", label), x);
  }

  add.addEventListener("click", open);
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.isComposing) {
      e.preventDefault();
      submit();
    } else if (e.key === "Escape") {
      e.preventDefault();
      close();
      add.focus();
    }
  });
  input.addEventListener("blur", () => {
    if (!input.value.trim() && !input.disabled) close();
  });

  return {
    open,
    /** Show `c`'s labels; another conversation closes a half-typed label. */
    show(c) {
      if (c.id !== conv?.id) close();
      conv = c;
      const key = c.labels.join("\n");
      if (key !== drawn) {
        drawn = key;
        fill(chips, c.labels.map(chip), !editable && !c.labels.length ? h("span.faint", "No labels") : null);
      }
      box.hidden = !editable && !c.labels.length;
    },
    hide() {
      box.hidden = true;
      conv = null;
    },
  };
}
