// A thread's messages as WhatsApp-like bubbles: every message type, reactions, status ticks.
import { can, dayKey, fmtDay, fmtFull, fmtTime, h, icon } from "./api.js";

const CHECK = "M4 12.5l4.5 4.5L19 6.5";
const DOUBLE = ["M1.5 12.5l4.5 4.5L16.5 6.5", "M10.5 16l1 1L22 6.5"];
const CLOCK = ["M12 3a9 9 0 1 0 0.01 0", "M12 7.5V12l3 2"];
const ALERT = ["M12 3a9 9 0 1 0 0.01 0", "M12 7.5v5.5", "M12 16.5v.5"];

const STATUS_LABEL = {
  accepted: "Queued: waiting to be sent",
  held_for_quality_assessment: "Held by WhatsApp for a quality check",
  sent: "Sent",
  delivered: "Delivered",
  read: "Read",
  failed: "Not delivered",
};

/** The tick mark of an outbound message, from its status. */
export function ticks(status, errorText) {
  const s = status || "accepted";
  const paths = { sent: CHECK, delivered: DOUBLE, read: DOUBLE, failed: ALERT }[s] || CLOCK;
  const title = s === "failed" && errorText ? `Not delivered: ${errorText}` : STATUS_LABEL[s] || s;
  return h(`span.ticks.${s}`, { title, dataset: { status: s }, "aria-label": title },
    icon(paths, { size: s === "sent" || s === "delivered" || s === "read" ? 17 : 14, width: 2 }));
}

const MEDIA = {
  image: ["Photo", ["M4 5h16v14H4z", "M4 16l5-5 4 4 3-3 4 4", "M15.5 9.5h.01"]],
  video: ["Video", ["M3 6h13v12H3z", "M16 10l5-3v10l-5-3"]],
  audio: ["Audio", ["M9 18V6l11-2v12", "M9 18a3 3 0 1 1-3-3 3 3 0 0 1 3 3Z", "M20 16a3 3 0 1 1-3-3 3 3 0 0 1 3 3Z"]],
  sticker: ["Sticker", ["M4 4h16v9l-7 7H4z", "M13 20v-7h7"]],
  document: ["Document", ["M6 2h9l5 5v15H6z", "M14 2v6h6"]],
};
const PIN = ["M12 22s7-7.2 7-12.5A7 7 0 0 0 5 9.5C5 14.8 12 22 12 22Z", "M12 7a2.5 2.5 0 1 0 .01 0"];
const PERSON = ["M12 12a4 4 0 1 0-.01 0", "M4 21a8 8 0 0 1 16 0"];
const CART = ["M3 4h2l2.5 11h11L21 7H6.2", "M9 20h.01", "M18 20h.01"];
const REPLY = ["M10 8 5 12l5 4", "M5 12h9a6 6 0 0 1 6 6"];

function fmtSize(n) {
  if (n >= 1048576) return `${(n / 1048576).toFixed(1)} MB`;
  return n >= 1024 ? `${Math.round(n / 1024)} KB` : `${n} bytes`;
}

/** A media message's file: a link to the stored copy (a picture shows inline), or why there is none yet. */
function mediaBlock(m) {
  const type = m.type;
  const media = m.content?.[type] || {};
  const stored = m.content?.media || {};
  const [kind, paths] = MEDIA[type];
  const voice = type === "audio" && media.voice;
  const name = type === "document" ? media.filename || stored.filename || "Document" : voice ? "Voice message" : kind;
  const big = type === "image" || type === "video" || type === "sticker";
  const ready = stored.state === "available";
  const url = `/api/messages/${m.id}/media`;
  const note = ready ? [media.mime_type || stored.mime_type, stored.size ? fmtSize(stored.size) : null]
    : stored.state === "unavailable" ? [`not available: ${stored.reason || "unknown reason"}`]
      : [media.mime_type, "preview not available yet"];
  const visual = ready && (type === "image" || type === "sticker")
    ? h("img.thumb", { src: url, alt: name, loading: "lazy" })
    : h("span.icon", icon(paths, { size: big ? 34 : 24, width: 1.6 }));
  return h(`${ready ? "a" : "div"}.media${big ? ".photo" : ""}`, {
    dataset: { mediaId: media.id || "" },
    href: ready ? url : null, target: ready ? "_blank" : null, rel: ready ? "noopener" : null,
  }, visual, h("div", h("div.kind", name), h("div.small.faint", note.filter(Boolean).join(" · "))));
}

function label(paths, text) {
  return h("div.label", icon(paths, { size: 13 }), text);
}

/** Reply buttons or a list the business sent: its text and the options it offered. */
function offered(part) {
  const options = part.type === "button" ? (part.buttons || []).map((b) => b.title)
    : (part.sections || []).flatMap((s) => (s.rows || []).map((r) => r.title));
  const kind = part.type === "button" ? "Reply buttons" : `List · ${part.button || "Options"}`;
  return [label(REPLY, kind), part.header ? h("div.hdr", part.header) : null,
    h("div.text", part.body || ""), part.footer ? h("div.small.faint", part.footer) : null,
    h("div.options", options.map((title) => h("span.option", title)))];
}

/** The inside of a bubble for one message type. */
function content(m) {
  const c = m.content || {};
  const part = c[m.type] || {};
  const caption = m.text ? h("div.text", m.text) : null;
  switch (m.type) {
    case "text":
      return [h("div.text", m.text || "")];
    case "image": case "video": case "audio": case "sticker": case "document":
      return [mediaBlock(m), caption];
    case "location": {
      const where = [part.name, part.address].filter(Boolean).join(" · ") || "Shared location";
      const href = `https://www.google.com/maps/search/?api=1&query=${part.latitude},${part.longitude}`;
      return [label(PIN, "Location"), h("div.text", where),
        h("a", { href, target: "_blank", rel: "noopener noreferrer" }, "Open in maps ↗")];
    }
    case "contacts": {
      const cards = Array.isArray(c.contacts) ? c.contacts : [];
      return [label(PERSON, cards.length > 1 ? `${cards.length} contacts` : "Contact card"),
        ...cards.map((card) => h("div.card-contact",
          h("div", h("strong", card.name?.formatted_name || "Unnamed"),
            ...(card.phones || []).map((p) => h("div.small.muted", p.phone || p.wa_id || "")))))];
    }
    case "interactive": {
      if (part.type === "button" || part.type === "list") return offered(part);
      const kind = part.type === "list_reply" ? "Chose from a list"
        : part.type === "nfm_reply" ? "Submitted a form" : "Tapped a button";
      const reply = part.button_reply || part.list_reply;
      return [label(REPLY, kind), h("div.choice.text", reply?.title || m.text || part.type || ""),
        part.list_reply?.description ? h("div.small.muted", part.list_reply.description) : null];
    }
    case "button":
      return [label(REPLY, "Tapped a button"), h("div.choice.text", part.text || m.text || "")];
    case "template":
      return [label(["M4 4h16v16H4z", "M8 9h8M8 13h6"], `Template · ${m.template_name || ""}`),
        h("div.text", m.text || "")];
    case "order": {
      const items = Array.isArray(part.product_items) ? part.product_items.length : 0;
      return [label(CART, "Order"), h("div.text", `${items} item${items === 1 ? "" : "s"}`), caption];
    }
    case "unsupported":
      return [h("div.unsupported",
        `This message type (${c.original_type || "unknown"}) can't be shown here yet. Ask the customer to resend it, or check the phone.`)];
    default:
      return m.text ? [h("div.text", m.text)]
        : [h("div.unsupported", `A ${m.type} message, which can't be shown here yet.`)];
  }
}

function bubble(m, first, reactions) {
  const out = m.direction === "outbound";
  const foot = h("span.foot", h("time", { datetime: m.created_at, title: fmtFull(m.created_at) },
    fmtTime(m.created_at)), out ? ticks(m.status, m.error_text) : null);
  const wrap = h(`div.msg.${out ? "out" : "in"}${first ? ".first" : ""}`,
    { dataset: { messageId: m.id, type: m.type } },
    h("div.bubble", ...content(m), foot));
  if (reactions) wrap.append(h("div.reactions", { title: "Reaction" }, reactions));
  if (out && m.status === "failed") {
    const code = m.error_code ? ` (${m.error_code})` : "";
    const retry = m.content?.retried_by ? h("span.small.muted", " · Sent again")
      : can(m.type === "template" ? "template.send" : "conversation.reply")
        ? h("button.link.retry", { type: "button", dataset: { retry: m.id }, title: "Send this message again" }, "Retry")
        : null;
    wrap.append(h("div.failure", `Not delivered${code}: ${m.error_text || "WhatsApp refused this message."} `, retry));
  }
  if (!out && m.intent) wrap.append(h("span.chip-intent", { title: "Intent (AI)" }, m.intent.replaceAll("_", " ")));
  if (out && m.content?.sent_by === "ai") {
    wrap.append(h("span.chip-intent.chip-ai", { title: "Sent automatically by the AI (auto-reply)" }, "Sent by AI"));
  }
  return wrap;
}

/** Render `messages` (oldest first) into `box`; reactions attach to the bubble they answer. */
export function renderMessages(box, messages) {
  const reactions = new Map();
  const wamids = new Set(messages.map((m) => m.wamid).filter(Boolean));
  const visible = [];
  for (const m of messages) {
    const r = m.type === "reaction" ? m.content?.reaction : null;
    if (r && wamids.has(r.message_id)) {
      if (r.emoji) reactions.set(r.message_id, r.emoji);
      else reactions.delete(r.message_id);
    } else {
      visible.push(m);
    }
  }
  const nodes = [];
  let lastDay = null;
  let lastDir = null;
  for (const m of visible) {
    const day = dayKey(m.created_at);
    if (day !== lastDay) {
      nodes.push(h("div.day", fmtDay(m.created_at)));
      lastDay = day;
      lastDir = null;
    }
    if (m.type === "system") {
      nodes.push(h("div.sys", m.text || "The customer's details changed."));
      lastDir = null;
      continue;
    }
    if (m.type === "reaction") {
      const emoji = m.content?.reaction?.emoji;
      nodes.push(h("div.sys", emoji ? `Reacted ${emoji} to an earlier message` : "Removed a reaction"));
      lastDir = null;
      continue;
    }
    nodes.push(bubble(m, m.direction !== lastDir, reactions.get(m.wamid)));
    lastDir = m.direction;
  }
  box.replaceChildren(...nodes);
}
