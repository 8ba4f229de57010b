// The conversation list: Mine / Unassigned / All tabs, search, unread badges and the
// 24 h window countdown of each conversation.
import { avatar, fmtPhone, fmtWhen, h, icon, me, timeLeft } from "./api.js";
import { personName } from "./inbox_side.js";

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

function emptyList(state) {
  const total = state.convs.length;
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
  listBox.replaceChildren(...(shown.length ? shown.map((c) => convRow(state, c, handlers)) : [emptyList(state)]));
  if (state.convs.length >= 200) listBox.append(h("div.list-note", "Showing the 200 most recent conversations."));
  const unread = state.convs.reduce((n, c) => n + (c.unread_count || 0), 0);
  document.title = `${unread ? `(${unread}) ` : ""}Inbox · WhatsApp Inbox`;
}
