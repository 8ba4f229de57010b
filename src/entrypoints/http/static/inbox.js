// The inbox: conversation list (filters, unread, window countdown), the open thread,
// its labels, composer (with AI suggestions) and side panel, all kept current by /api/ws events.
import { api, avatar, can, connectEvents, debounce, fmtPhone, h, icon, initShell, me, timeLeft, toast } from "./api.js";
import { forgetTemplates, offerSuggestion, renderComposer } from "./inbox_composer.js";
import { labelBar, listFilters, rememberLabels, renderList, windowBadge } from "./inbox_list.js";
import { renderMessages } from "./inbox_messages.js";
import { loadPeople, personName, renderContact, renderNotes, renderSummary } from "./inbox_side.js";

initShell();

const $ = (id) => document.getElementById(id);
const listBox = $("conv-list");
const headBox = $("thread-head");
const msgBox = $("messages");
const composerBox = $("composer");
const sideBox = $("side");
const sideBody = $("side-body");
const live = $("live");

const state = {
  filter: localStorage.getItem("wa.inbox.filter") || "all",
  status: localStorage.getItem("wa.inbox.status") ?? "open",
  search: "",
  label: "",
  unread: false,
  windowOpen: false,
  convs: [],
  currentId: new URLSearchParams(location.search).get("c"),
  current: null,
  messages: [],
  nextBefore: null,
  side: "contact",
  sideOpen: localStorage.getItem("wa.inbox.side") !== "0",
  sideAsked: false,
};

// ------------------------------------------------------------------ list

const drawList = () => renderList(listBox, state, { onSelect: select, onExpire: () => refreshList(), onClearFilters: () => filters.clear() });

let listSeq = 0; // answers can arrive out of order: only the latest request may draw

async function loadList() {
  const seq = ++listSeq;
  const params = new URLSearchParams({ limit: "200" });
  if (state.status) params.set("status", state.status);
  if (state.label) params.set("label", state.label);
  if (state.unread) params.set("unread", "true");
  if (state.windowOpen) params.set("window_open", "true");
  let convs;
  try {
    convs = await api(`/api/conversations?${params}`);
  } catch (err) {
    if (seq === listSeq) listBox.replaceChildren(h("div.empty", h("strong", "Couldn't load conversations"), h("span.small", err.message)));
    return;
  }
  if (seq !== listSeq) return;
  state.convs = convs;
  for (const c of convs) rememberLabels(c.labels);
  filters.labelsKnown();
  drawList();
}
const refreshList = debounce(loadList, 200);

// ------------------------------------------------------------------ thread

function threadHead(c) {
  const k = c.contact;
  const mine = c.assignee_id === me.id;
  const actions = [];
  if (can("conversation.assign_self") && !mine) {
    actions.push(h("button.small#assign-me", { type: "button", onclick: () => act("assign", { assignee_id: me.id }) }, "Assign to me"));
  }
  if (c.assignee_id && can("conversation.assign_others")) {
    actions.push(h("button.small.ghost#unassign", { type: "button", onclick: () => act("assign", { assignee_id: null }) }, "Unassign"));
  }
  if (can("conversation.resolve")) {
    actions.push(c.status === "resolved"
      ? h("button.small#reopen", { type: "button", onclick: () => act("reopen") }, "Reopen")
      : h("button.small.primary#resolve", { type: "button", onclick: () => act("resolve") },
        icon("M4 12.5l4.5 4.5L19 6.5", { size: 14, width: 2.4 }), "Resolve"));
  }
  actions.push(h(`button.icon${state.sideOpen ? ".on" : ""}#toggle-side`, {
    type: "button", title: "Contact and notes", "aria-label": "Contact and notes",
    onclick: () => { state.sideOpen = !state.sideOpen; state.sideAsked = true; localStorage.setItem("wa.inbox.side", state.sideOpen ? "1" : "0"); renderHead(); renderSide(); },
  }, icon(["M4 4h16v16H4z", "M15 4v16"], { size: 18, width: 1.8 })));
  return [
    avatar(k.display_name),
    h("div.who",
      h("div.name.ellipsis#thread-name", k.display_name),
      h("div.meta", k.wa_id ? h("span", fmtPhone(k.wa_id)) : null, windowBadge(c, false, () => refreshList()),
        h("span#assignee", c.assignee_id ? `Assigned to ${personName(c.assignee_id).replace(/^You$/, "you")}` : "Unassigned"),
        c.status !== "open" ? h("span.pill.amber#conv-status", c.status) : null)),
    h("div.actions", ...actions),
  ];
}

function renderHead() {
  headBox.replaceChildren(...threadHead(state.current));
  labels.show(state.current);
}

// Agents label what they work on (the server checks conversation.reply, not label.manage:
// that one is for a label catalogue).
const labels = labelBar($("thread-labels"), { editable: can("label.manage"), onChange: labelsChanged });

function labelsChanged(id, now) {
  rememberLabels(now);
  filters.labelsKnown();
  if (state.current?.id === id) {
    state.current.labels = now;
    labels.show(state.current);
  }
  const c = state.convs.find((x) => x.id === id);
  if (c) c.labels = now;
  drawList();
  if (state.label) refreshList(); // it may have left (or joined) the filtered list
}

function nearBottom() {
  return msgBox.scrollHeight - msgBox.scrollTop - msgBox.clientHeight < 80;
}

function drawMessages({ stick = false, keepFromBottom = null } = {}) {
  const follow = stick || nearBottom();
  renderMessages(msgBox, state.messages);
  if (state.nextBefore) {
    msgBox.prepend(h("button.small.load-older", { type: "button", onclick: loadOlder }, "Load earlier messages"));
  }
  if (!state.messages.length) {
    msgBox.append(h("div.sys", "No messages yet."));
  }
  if (keepFromBottom !== null) msgBox.scrollTop = msgBox.scrollHeight - keepFromBottom;
  else if (follow) msgBox.scrollTop = msgBox.scrollHeight;
}

// The composer grows and shrinks (a suggestion shows, a draft wraps): a thread read at its
// end stays at its end instead of hiding the newest message under the composer.
let pinned = true;
msgBox.addEventListener("scroll", () => { pinned = nearBottom(); }, { passive: true });
new ResizeObserver(() => {
  if (pinned) msgBox.scrollTop = msgBox.scrollHeight;
}).observe(msgBox);

let threadSeq = 0;

async function loadThread({ stick = false } = {}) {
  const id = state.currentId;
  if (!id) return;
  const seq = ++threadSeq;
  let thread;
  try {
    thread = await api(`/api/conversations/${id}?limit=50`);
  } catch (err) {
    if (id !== state.currentId || seq !== threadSeq) return;
    if (err.status === 404) {
      state.currentId = null;
      history.replaceState(null, "", "/inbox");
      showEmptyThread();
    }
    toast(err.message, "error");
    return;
  }
  if (id !== state.currentId || seq !== threadSeq) return; // a newer load or another conversation
  const windowChanged = state.current?.id === id && state.current.window_open !== thread.conversation.window_open;
  const switched = state.current?.id !== id;
  state.current = thread.conversation;
  const fetched = thread.messages.slice().reverse();
  if (!switched) keepNewerStatuses(fetched, state.messages);
  state.messages = fetched;
  state.nextBefore = thread.next_before;
  $("thread-empty").hidden = true;
  headBox.hidden = false;
  msgBox.hidden = false;
  renderHead();
  drawMessages({ stick: stick || switched });
  if (switched || windowChanged) renderComposer(composerBox, state.current, afterSend);
  else {
    composerBox.conv = state.current;
    composerBox.refreshCountdown?.();
  }
  if (switched) renderSide();
  if (thread.conversation.unread_count > 0 && can("conversation.reply") && document.visibilityState === "visible") {
    markRead(id);
  }
}
const refreshThread = debounce(() => loadThread(), 150);

async function loadOlder() {
  if (!state.nextBefore) return;
  const id = state.currentId;
  const older = await api(`/api/conversations/${id}?limit=50&before=${encodeURIComponent(state.nextBefore)}`);
  if (id !== state.currentId) return;
  const fromBottom = msgBox.scrollHeight - msgBox.scrollTop;
  const known = new Set(state.messages.map((m) => m.id));
  state.messages = older.messages.slice().reverse().filter((m) => !known.has(m.id)).concat(state.messages);
  state.nextBefore = older.next_before;
  drawMessages({ keepFromBottom: fromBottom });
}

async function markRead(id) {
  try {
    await api(`/api/conversations/${id}/read`, { method: "POST" });
  } catch {
    return; // unread counts are advisory
  }
  const c = state.convs.find((x) => x.id === id);
  if (c) {
    c.unread_count = 0;
    drawList();
  }
}

function afterSend(message) {
  if (message && !state.messages.some((m) => m.id === message.id)) {
    state.messages.push(message);
    drawMessages({ stick: true });
  }
  refreshThread();
  refreshList();
}

msgBox.addEventListener("click", async (e) => {
  const button = e.target.closest("button[data-retry]");
  if (!button) return;
  button.disabled = true;
  try {
    await api(`/api/conversations/${state.currentId}/messages/${button.dataset.retry}/retry`, { method: "POST" });
    toast("Sending again");
  } catch (err) {
    toast(err.message, "error");
  }
  await loadThread({ stick: true });
});

async function act(action, body) {
  const id = state.currentId;
  try {
    await api(`/api/conversations/${id}/${action}`, { method: "POST", body });
  } catch (err) {
    toast(err.message, "error");
    return;
  }
  const done = { assign: body?.assignee_id ? "Assigned to you" : "Unassigned", resolve: "Resolved", reopen: "Reopened" };
  toast(done[action]);
  await Promise.all([loadThread(), loadList()]);
}

function showEmptyThread() {
  state.current = null;
  $("thread-empty").hidden = false;
  headBox.hidden = true;
  labels.hide();
  msgBox.hidden = true;
  composerBox.hidden = true;
  sideBox.hidden = true;
}

function select(id) {
  if (id === state.currentId && state.current) return;
  state.currentId = id;
  history.replaceState(null, "", `/inbox?c=${encodeURIComponent(id)}`);
  for (const row of listBox.querySelectorAll(".conv")) row.classList.toggle("on", row.dataset.id === id);
  loadThread({ stick: true });
}

// ------------------------------------------------------------------ side panel

function renderSide() {
  sideBox.hidden = !state.sideOpen || !state.current;
  // On a narrow screen the panel covers the thread, so it opens only when asked for.
  sideBox.classList.toggle("force", state.sideOpen && state.sideAsked);
  if (sideBox.hidden) return;
  for (const b of sideBox.querySelectorAll("[data-side]")) b.classList.toggle("on", b.dataset.side === state.side);
  sideBody.dataset.view = state.side;
  sideBody.dataset.conv = state.current.id;
  if (state.side === "notes") {
    renderNotes(sideBody, state.current, $("notes-count"));
    return;
  }
  if (state.side === "summary") renderSummary(sideBody, state.current);
  else renderContact(sideBody, state.current);
  renderNotesCount();
}

async function renderNotesCount() {
  try {
    const notes = await api(`/api/conversations/${state.current.id}/notes`);
    $("notes-count").textContent = notes.length ? `(${notes.length})` : "";
  } catch {
    $("notes-count").textContent = "";
  }
}

for (const b of sideBox.querySelectorAll("[data-side]")) {
  b.addEventListener("click", () => {
    state.side = b.dataset.side;
    renderSide();
  });
}

// ------------------------------------------------------------------ live

// Events may arrive out of order (a worker's snapshot can trail a webhook): a status only
// moves forward, and failed is final — the same rule the server keeps.
const STATUS_RANK = { accepted: 0, held_for_quality_assessment: 1, sent: 2, delivered: 3, read: 4 };
// A status event may arrive while a thread load is in flight: the load's (older) answer
// must not move a tick back.
function keepNewerStatuses(fetched, shown) {
  const byId = new Map(shown.map((m) => [m.id, m]));
  for (const m of fetched) {
    const old = byId.get(m.id);
    if (old && movesForward(m.status, old.status)) {
      Object.assign(m, { status: old.status, error_code: old.error_code, error_text: old.error_text });
    }
  }
}

function movesForward(from, to) {
  if (from === "failed" || !to) return false;
  if (to === "failed") return true;
  return (STATUS_RANK[to] ?? -1) > (STATUS_RANK[from] ?? -1);
}

function onEvent(event) {
  const p = event.payload || {};
  const here = state.current && p.conversation_id === state.current.id;
  switch (event.kind) {
    case "message.created":
      refreshList();
      if (here) refreshThread();
      break;
    case "message.status": {
      const m = here && state.messages.find((x) => x.id === p.message_id);
      if (m) {
        if (movesForward(m.status, p.status)) {
          Object.assign(m, { status: p.status, error_code: p.error_code ?? m.error_code, error_text: p.error_text ?? m.error_text });
          drawMessages();
        }
      } else if (here) {
        refreshThread();
      }
      break;
    }
    case "note.created":
      if (here) renderSide();
      break;
    case "ai.classified": // the intent chip of an inbound message
    case "message.media": // a file fetched (or given up on): its picture or reason replaces the placeholder
      if (here) refreshThread();
      break;
    case "ai.suggested": // auto-suggest: shown in the composer of that conversation
      if (p.text) offerSuggestion(composerBox, p.conversation_id, { text: p.text, provider: p.provider, grounded: (p.grounded_on || []).length > 0, auto: true });
      break;
    case "template.status":
      forgetTemplates();
      if (state.current && !state.current.window_open) renderComposer(composerBox, state.current, afterSend);
      break;
    default:
      if (event.kind.startsWith("conversation.")) {
        refreshList();
        if (here) refreshThread();
      }
  }
}

connectEvents(onEvent, (s) => {
  if (s === "resync") {
    refreshList();
    refreshThread();
    return;
  }
  live.className = `live ${s}`;
  live.textContent = s === "on" ? "Live" : "Reconnecting…";
});

// Countdowns move every 30 s; a window that closes while open swaps the composer.
setInterval(() => {
  for (const el of document.querySelectorAll("[data-closes]")) el.dispatchEvent(new Event("tick"));
  const c = state.current;
  if (c?.window_open && c.window_closes_at && !timeLeft(c.window_closes_at)) loadThread();
}, 30000);

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && state.current?.unread_count) markRead(state.current.id);
});

// ------------------------------------------------------------------ controls

for (const b of document.querySelectorAll("[data-filter]")) {
  b.addEventListener("click", () => {
    state.filter = b.dataset.filter;
    localStorage.setItem("wa.inbox.filter", state.filter);
    drawList();
  });
}
const statusSelect = $("status-filter");
statusSelect.value = state.status;
statusSelect.addEventListener("change", () => {
  state.status = statusSelect.value;
  localStorage.setItem("wa.inbox.status", state.status);
  loadList();
});

const filters = listFilters(state, loadList);

$("conv-search").addEventListener("input", debounce((e) => {
  state.search = e.target.value;
  drawList();
}, 120));
document.addEventListener("keydown", (e) => {
  const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement?.tagName);
  if (e.key === "/" && !typing) {
    e.preventDefault();
    $("conv-search").focus();
  } else if ((e.key === "l" || e.key === "L") && !typing && !e.ctrlKey && !e.metaKey && !e.altKey && state.current) {
    e.preventDefault();
    labels.open();
  } else if (e.key === "Escape" && document.activeElement?.id === "conv-search") {
    e.target.value = "";
    state.search = "";
    drawList();
  }
});

await loadPeople();
await loadList();
if (state.currentId) loadThread({ stick: true });
